"""Kiosk device calls: pairing with a one-time code, and the heartbeat."""

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cxhub.api import JSONParser
from cxhub.throttling import KioskAddressRateThrottle, KioskRateThrottle, PairingRateThrottle
from surveys.serializers import ErrorOut
from surveys.services import current_version_for

from . import services
from .authentication import IsKiosk, KioskTokenAuthentication

# What any kiosk call may answer besides its own statuses (API.md, "Errors a kiosk can meet").
KIOSK_ERRORS = {
    401: OpenApiResponse(ErrorOut, description="Unknown or revoked kiosk token."),
    413: OpenApiResponse(ErrorOut, description="Body too large."),
    429: OpenApiResponse(ErrorOut, description="Too many requests; see Retry-After."),
    503: OpenApiResponse(ErrorOut, description="Cannot store now; keep it and retry."),
}


class KioskApi(APIView):
    """Base for every call a kiosk token may make, and nothing else."""

    authentication_classes = [KioskTokenAuthentication]
    permission_classes = [IsKiosk]
    parser_classes = [JSONParser]
    throttle_classes = [KioskRateThrottle, KioskAddressRateThrottle]


class TextField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would also take 1.4 as "1.4", which the
    schema (type: string) does not promise, and a kiosk sending a number has a bug to see.
    NUL (which PostgreSQL text cannot hold) is refused by a pattern, so the schema says so;
    the pattern wants one character or more because a blank value never reaches it, and the
    schema offers blank as a branch of its own (oneOf: a branch that also matched "" would
    make "" match both, which oneOf refuses)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]
        self.validators.append(RegexValidator(r"^[^\u0000]+$", "Null characters are not allowed."))

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PairIn(serializers.Serializer):
    code = serializers.RegexField(r"^\d{8}$", help_text="The 8-digit code shown to the manager.")
    name = TextField(required=False, allow_blank=True, max_length=120)
    app_version = TextField(required=False, allow_blank=True, max_length=40)


class PairOut(serializers.Serializer):
    token = serializers.CharField(help_text="The kiosk token; shown once, keep it on the device.")
    location = serializers.CharField()
    touchpoint = serializers.CharField()


class KioskPairApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    throttle_classes = [PairingRateThrottle]

    @extend_schema(
        operation_id="kiosk_pair",
        tags=["kiosk"],
        request=PairIn,
        responses={
            201: PairOut,
            400: OpenApiResponse(description="Unknown, used or expired code."),
            413: KIOSK_ERRORS[413],
            429: OpenApiResponse(
                ErrorOut, description="Too many attempts from this address; see Retry-After."
            ),
            503: KIOSK_ERRORS[503],
        },
        examples=[
            OpenApiExample(
                "Pair a tablet",
                value={"code": "48213907", "name": "Quầy thu ngân"},
                request_only=True,
            ),
            OpenApiExample(
                "Paired",
                value={"token": "cxk_…", "location": "HCM-01", "touchpoint": "checkout"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        data = PairIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = services.pair_kiosk(**data.validated_data)
        except services.ServiceError as error:
            return Response({"code": [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        out = {
            "token": issued.token,
            "location": issued.kiosk.location.code,
            "touchpoint": issued.kiosk.touchpoint.name,
        }
        return Response(out, status=status.HTTP_201_CREATED)


class HeartbeatIn(serializers.Serializer):
    app_version = TextField(required=False, max_length=40, allow_blank=True)
    queue_length = serializers.IntegerField(required=False, min_value=0, max_value=10**7)
    invalid_count = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10**7,
        help_text="Responses the server refused as invalid, kept aside on the device.",
    )
    battery = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)


class HeartbeatOut(serializers.Serializer):
    server_time = serializers.DateTimeField()
    survey_version = serializers.IntegerField(
        allow_null=True, help_text="The current version: reload the configuration if it differs."
    )


class KioskHeartbeatApi(KioskApi):
    @extend_schema(
        operation_id="kiosk_heartbeat",
        tags=["kiosk"],
        request=HeartbeatIn,
        responses={
            200: HeartbeatOut,
            400: OpenApiResponse(description="A message per bad field."),
            **KIOSK_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Every minute",
                value={
                    "app_version": "1.4.2",
                    "queue_length": 3,
                    "invalid_count": 0,
                    "battery": 87,
                },
                request_only=True,
            ),
            OpenApiExample(
                "Answer",
                value={"server_time": "2026-11-22T11:04:05Z", "survey_version": 17},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = HeartbeatIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.record_heartbeat(
            kiosk=request.auth,
            **{
                k: data.validated_data.get(k)
                for k in ("app_version", "queue_length", "invalid_count", "battery")
            },
        )
        version = current_version_for(request.auth)
        return Response(
            {"server_time": timezone.now(), "survey_version": version.pk if version else None}
        )
