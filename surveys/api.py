"""The kiosk's calls for responses and configuration: parse, call one service, answer."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.utils.serializer_helpers import ReturnDict

from cxhub.observability import count_ingested
from locations.api import KIOSK_ERRORS, KioskApi

from . import serializers as s
from .models import SurveyResponse
from .selectors import kiosk_configuration
from .services import Status, record_batch, record_response

# One ResponseOut for the process: a ModelSerializer builds its fields from the model on
# first use, which was most of the cost of answering; representing a response reads only
# the instance (no context, no state), so the same fields serve every request and thread.
_RESPONSE_OUT = s.ResponseOut()


def response_out(response: SurveyResponse) -> ReturnDict:
    """What ResponseOut(response).data gives."""
    return ReturnDict(_RESPONSE_OUT.to_representation(response), serializer=_RESPONSE_OUT)


class ResponseCreateApi(KioskApi):
    @extend_schema(
        operation_id="kiosk_response_create",
        tags=["kiosk"],
        request=s.ResponseIn,
        responses={
            201: OpenApiResponse(s.ResponseOut, description="Stored."),
            200: OpenApiResponse(
                s.ResponseOut, description="This exact response was stored before."
            ),
            400: OpenApiResponse(description="Invalid: a message per field."),
            409: OpenApiResponse(s.ErrorOut, description="The id was used for another response."),
            **KIOSK_ERRORS,
        },
        examples=[s.EXAMPLE_RESPONSE, s.EXAMPLE_UNHAPPY, s.EXAMPLE_INVALID],
    )
    def post(self, request):
        outcome = record_response(kiosk=request.auth, body=request.data)
        count_ingested([outcome])
        if outcome.status == Status.CREATED:
            return Response(response_out(outcome.response), status=status.HTTP_201_CREATED)
        if outcome.status == Status.DUPLICATE:
            stored = (
                SurveyResponse.objects.select_related("location", "touchpoint", "staff")
                .prefetch_related("answers")
                .get(pk=outcome.response.pk)
            )
            return Response(response_out(stored), status=status.HTTP_200_OK)
        if outcome.status == Status.CONFLICT:
            return Response(
                {"detail": "This id was already used for a different response.", **outcome.errors},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(outcome.errors, status=status.HTTP_400_BAD_REQUEST)


class ResponseBatchApi(KioskApi):
    @extend_schema(
        operation_id="kiosk_response_batch",
        tags=["kiosk"],
        request=s.BatchIn,
        responses={
            200: OpenApiResponse(s.BatchOut, description="One result per item, in order."),
            400: OpenApiResponse(description="The envelope itself is wrong."),
            **KIOSK_ERRORS,
        },
        examples=[s.EXAMPLE_BATCH_RESULT],
    )
    def post(self, request):
        items = request.data.get("responses") if isinstance(request.data, dict) else None
        limit = settings.CXHUB_MAX_BATCH_SIZE
        if not isinstance(items, list):
            return Response(
                {"responses": ['Give a list of responses: {"responses": [...]}.']},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if len(items) > limit:
            return Response(
                {
                    "responses": [
                        f"Send at most {limit} responses per batch (this has {len(items)})."
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        outcomes = record_batch(kiosk=request.auth, items=items)
        count_ingested(outcomes)
        return Response(
            {
                "results": [
                    {"id": o.id, "status": str(o.status), "errors": o.errors or {}}
                    for o in outcomes
                ]
            }
        )


class KioskConfigApi(KioskApi):
    @extend_schema(
        operation_id="kiosk_config",
        tags=["kiosk"],
        responses={
            200: OpenApiResponse(
                s.KioskConfigOut,
                description="Survey version with all translations, staff, location settings.",
                examples=[s.EXAMPLE_CONFIG],
            ),
            **KIOSK_ERRORS,
        },
    )
    def get(self, request):
        return Response(kiosk_configuration(request.auth, build_url=request.build_absolute_uri))
