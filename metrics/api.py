"""The reading side of the API: scores for people and their BI tools."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors

MAX_RANGE_DAYS = 3 * 366 + 1

# A text filter as ScoresQueryIn reads it: trimmed, so not blank or spaces only, and no NUL
# (which PostgreSQL text cannot hold). The schema says so, so that a client (and the fuzzer)
# knows a value we would refuse before sending it.
FILTER_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"


def _text_filter(max_length: int) -> dict:
    return {"type": "string", "maxLength": max_length, "pattern": FILTER_PATTERN}


class ScoresQueryIn(serializers.Serializer):
    """Query parameters; `from` is a Python keyword, so the view renames it."""

    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    group_by = serializers.ChoiceField(choices=selectors.GROUP_BY, default="location")
    location = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    region = serializers.CharField(required=False, max_length=120)
    touchpoint = serializers.CharField(required=False, max_length=60)
    staff = serializers.CharField(required=False, max_length=40)
    question = serializers.ListField(child=serializers.SlugField(max_length=60), required=False)

    def validate(self, data):
        today = timezone.now().date()
        data.setdefault("date_to", today)
        data.setdefault("date_from", data["date_to"] - timedelta(days=29))
        if data["date_from"] > data["date_to"]:
            raise serializers.ValidationError({"date_from": ["`from` must not be after `to`."]})
        if (data["date_to"] - data["date_from"]).days > MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"date_from": ["Ask for at most three years at a time."]}
            )
        return data


class QuestionFiguresOut(serializers.Serializer):
    """One question's figures in one group, as METRICS.md defines them (not rounded)."""

    n = serializers.IntegerField(min_value=0)
    score = serializers.FloatField(allow_null=True)
    ci95 = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text="null where undefined (CES with n < 2).",
    )
    low_sample = serializers.BooleanField()
    histogram = serializers.ListField(child=serializers.IntegerField(min_value=0), allow_null=True)
    promoters = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    passives = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    detractors = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    mean = serializers.FloatField(allow_null=True, required=False, help_text="CSAT only.")
    easy_share = serializers.FloatField(allow_null=True, required=False, help_text="CES only.")


class ScoreGroupOut(serializers.Serializer):
    group = serializers.DictField(
        help_text='The one key named by group_by, e.g. {"location": "HCM-01"}, '
        '{"staff": null}, {"hour": 18}.'
    )
    questions = serializers.DictField(
        child=QuestionFiguresOut(),
        help_text="Per question key. About one staff member below the privacy threshold, "
        "only n and low_sample are given and every other figure is null.",
    )


class ScoresOut(serializers.Serializer):
    results = ScoreGroupOut(many=True)


_RENAMED = {"from": "date_from", "to": "date_to"}


def _query_from(params) -> tuple[selectors.ScoreQuery | None, dict]:
    data = {
        _RENAMED.get(key, key): params.get(key)
        for key in params
        if key not in ("location", "question")
    }
    for repeatable in ("location", "question"):
        if repeatable in params:
            data[repeatable] = params.getlist(repeatable)
    parsed = ScoresQueryIn(data=data)
    if not parsed.is_valid():
        back = {v: k for k, v in _RENAMED.items()}
        return None, {back.get(k, k): v for k, v in parsed.errors.items()}
    d = parsed.validated_data
    return (
        selectors.ScoreQuery(
            date_from=d["date_from"],
            date_to=d["date_to"],
            group_by=d["group_by"],
            locations=tuple(d.get("location", ())),
            region=d.get("region"),
            touchpoint=d.get("touchpoint"),
            staff=d.get("staff"),
            questions=tuple(d.get("question", ())),
        ),
        {},
    )


EXAMPLE = OpenApiExample(
    "Scores by location",
    value={
        "results": [
            {
                "group": {"location": "HCM-01"},
                "questions": {
                    "nps": {
                        "n": 412,
                        "score": 38.35,
                        "ci95": [30.9, 45.7],
                        "low_sample": False,
                        "promoters": 221,
                        "passives": 127,
                        "detractors": 64,
                        "histogram": [3, 1, 0, 2, 4, 20, 34, 55, 72, 101, 120],
                    },
                    "csat": {
                        "n": 400,
                        "score": 81.5,
                        "ci95": [77.4, 85.0],
                        "low_sample": False,
                        "mean": 4.12,
                        "histogram": [10, 14, 50, 150, 176],
                    },
                    "ces": {
                        "n": 390,
                        "score": 5.62,
                        "ci95": [5.48, 5.76],
                        "low_sample": False,
                        "easy_share": 78.2,
                        "histogram": [5, 8, 12, 20, 60, 130, 155],
                    },
                },
            }
        ]
    },
    response_only=True,
)


class ScoresApi(APIView):
    @extend_schema(
        operation_id="metrics_scores",
        tags=["metrics"],
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="First local day (default: 29 days before `to`).",
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Last local day, inclusive (default: today)."
            ),
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                enum=list(selectors.GROUP_BY),
                description="Default: location.",
            ),
            OpenApiParameter(
                "location",
                {"type": "array", "items": _text_filter(40)},
                description="Location code; repeatable.",
            ),
            OpenApiParameter("region", _text_filter(120), description="Region name."),
            OpenApiParameter("touchpoint", _text_filter(60), description="Touchpoint name."),
            OpenApiParameter("staff", _text_filter(40), description="Staff code."),
            OpenApiParameter(
                "question",
                {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 60, "pattern": SLUG_PATTERN},
                },
                description="Question key; repeatable (default: every scored question).",
            ),
        ],
        responses={
            200: OpenApiResponse(
                ScoresOut,
                description="Figures per group, exactly as METRICS.md defines them.",
                examples=[EXAMPLE],
            ),
            400: OpenApiResponse(description="A message per bad parameter."),
            401: OpenApiResponse(description="Not signed in, or an unknown or revoked token."),
        },
    )
    def get(self, request):
        query, errors = _query_from(request.query_params)
        if errors:
            return Response(errors, status=400)
        return Response(
            {"results": selectors.public_results(selectors.scores_by_group(request.user, query))}
        )
