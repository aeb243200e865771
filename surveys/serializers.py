"""Shapes of the kiosk API, for the OpenAPI schema and for output.

Input is checked by surveys.ingest (the rules depend on the survey version), so the input
serializers here document the contract rather than validate it.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from .models import SurveyResponse


class ResponseIn(serializers.Serializer):
    id = serializers.UUIDField(help_text="A UUID made on the device; a resend with it is a no-op.")
    submitted_at = serializers.DateTimeField(
        help_text="When the customer answered, with an offset."
    )
    language = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="One of the survey's languages (absent or null: the location's default).",
    )
    staff = serializers.CharField(required=False, allow_null=True, help_text="A staff code.")
    survey_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="An older version the kiosk still shows (absent or null: the current one).",
    )
    complete = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false for a partial response sent when the customer walked away: "
        "required questions may then be missing.",
    )
    answers = serializers.DictField(
        help_text="Keyed by question key: integers for nps/csat/ces, a list of choice keys "
        "for choice questions, a string for text, and for contact "
        '{"consent": true, "name", "email", "phone"}.'
    )


class BatchIn(serializers.Serializer):
    # Items are not constrained here: each is checked on its own, and one that is not a valid
    # response is answered `invalid` in the results while the batch as a whole is still a 200.
    responses = serializers.ListField(
        child=serializers.JSONField(),
        max_length=settings.CXHUB_MAX_BATCH_SIZE,
        help_text="Up to 500 responses, in the order they were given, each as for "
        "POST /api/v1/kiosk/responses/ (ResponseInRequest). An item that is not a valid "
        "response is answered `invalid` in its result; it never rejects the others.",
    )


class ResponseOut(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code")
    touchpoint = serializers.CharField(source="touchpoint.name")
    staff = serializers.CharField(source="staff.code", allow_null=True, default=None)
    survey_version = serializers.IntegerField(source="survey_version_id")
    answers = serializers.SerializerMethodField()

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "submitted_at",
            "received_at",
            "local_day",
            "local_hour",
            "language",
            "location",
            "touchpoint",
            "staff",
            "survey_version",
            "clock_untrusted",
            "is_complete",
            "answers",
        ]

    def get_answers(self, obj) -> dict:
        answers = getattr(obj, "recorded_answers", None)
        if answers is None:
            answers = obj.answers.all()
        return {answer.question: answer.value for answer in answers}


class BatchResultOut(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "conflict", "invalid"])
    errors = serializers.DictField(required=False)


class BatchOut(serializers.Serializer):
    results = BatchResultOut(many=True)


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField(required=False)


class ConfigTouchpointOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField(allow_blank=True)


class ConfigKioskOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(allow_blank=True)
    touchpoint = ConfigTouchpointOut()


class ConfigOrganizationOut(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()


class ConfigLocationOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField(help_text="An IANA time zone, e.g. Asia/Ho_Chi_Minh.")
    default_language = serializers.CharField()


class ConfigSurveyOut(serializers.Serializer):
    version = serializers.IntegerField(help_text="Send it back as `survey_version`.")
    number = serializers.IntegerField()
    name = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())
    questions = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each with key, kind, required, text per language, and where relevant "
        "labels, choices, multiple, max_length and show_if (docs/kiosk-api.md).",
    )


class ConfigStaffOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    photo = serializers.CharField(allow_null=True, help_text="The photo's URL, if any.")


class ConfigSettingsOut(serializers.Serializer):
    idle_timeout_seconds = serializers.IntegerField()
    thank_you_seconds = serializers.IntegerField()
    heartbeat_seconds = serializers.IntegerField()


class KioskConfigOut(serializers.Serializer):
    kiosk = ConfigKioskOut()
    organization = ConfigOrganizationOut()
    location = ConfigLocationOut()
    survey = ConfigSurveyOut(allow_null=True, help_text="null while the location has no survey.")
    staff = ConfigStaffOut(many=True, help_text="The active members of the kiosk's location.")
    settings = ConfigSettingsOut()


EXAMPLE_RESPONSE = OpenApiExample(
    "A happy customer, in Vietnamese",
    value={
        "id": "0b6f2f7e-3d55-4a57-9a43-2e0c5d0e7a11",
        "submitted_at": "2026-11-22T18:04:05+07:00",
        "language": "vi",
        "staff": "NV-014",
        "answers": {"nps": 9, "csat": 4, "ces": 6, "comment": "Nhân viên rất nhiệt tình"},
    },
    request_only=True,
)
EXAMPLE_UNHAPPY = OpenApiExample(
    "An unhappy customer with reasons",
    value={
        "id": "5d1c8a2e-77f0-4d6b-9a7e-1f3c2b4a5e60",
        "submitted_at": "2026-11-22T11:15:00Z",
        "language": "en",
        "answers": {"nps": 4, "csat": 2, "reason": ["wait_time", "price"]},
    },
    request_only=True,
)
EXAMPLE_INVALID = OpenApiExample(
    "Per-field messages",
    value={
        "submitted_at": [
            "Give a date and time in ISO 8601 with a UTC offset, e.g. 2026-11-22T18:04:05+07:00."
        ],
        "answers": {"nps": ["Give a whole number from 0 to 10."]},
    },
    response_only=True,
    status_codes=["400"],
)
EXAMPLE_BATCH_RESULT = OpenApiExample(
    "Mixed results",
    value={
        "results": [
            {"id": "0b6f2f7e-3d55-4a57-9a43-2e0c5d0e7a11", "status": "created", "errors": {}},
            {"id": "5d1c8a2e-77f0-4d6b-9a7e-1f3c2b4a5e60", "status": "duplicate", "errors": {}},
            {
                "id": "9a7e1f3c-2b4a-4e60-8d1c-5d1c8a2e77f0",
                "status": "invalid",
                "errors": {"answers": {"csat": ["Give a whole number from 1 to 5."]}},
            },
        ]
    },
    response_only=True,
)


EXAMPLE_CONFIG = OpenApiExample(
    "A kiosk at the checkout of HCM-01",
    value={
        "kiosk": {
            "id": "6f1c2a9e-4b7d-4c1e-9f3a-2d8e5b7c1a04",
            "name": "Quầy thu ngân",
            "touchpoint": {"name": "checkout", "label": "Checkout"},
        },
        "organization": {"name": "Cà Phê Sen", "slug": "sen"},
        "location": {
            "code": "HCM-01",
            "name": "Sen Nguyễn Huệ",
            "timezone": "Asia/Ho_Chi_Minh",
            "default_language": "vi",
        },
        "survey": {
            "version": 17,
            "number": 3,
            "name": "Customer feedback",
            "languages": ["vi", "th", "en"],
            "questions": [
                {
                    "key": "nps",
                    "kind": "nps",
                    "required": False,
                    "text": {
                        "vi": "Bạn có sẵn lòng giới thiệu chúng tôi…",
                        "th": "คุณมีแนวโน้ม…",
                        "en": "How likely are you…",
                    },
                    "labels": {
                        "low": {"en": "Not at all likely"},
                        "high": {"en": "Extremely likely"},
                    },
                },
                {
                    "key": "reason",
                    "kind": "choice",
                    "multiple": True,
                    "show_if": {"question": "nps", "lte": 6},
                    "text": {"en": "What should we do better?"},
                    "choices": [{"key": "wait_time", "text": {"en": "Waiting time"}}],
                },
            ],
        },
        "staff": [{"code": "NV-014", "name": "Trần Thị Mai", "photo": None}],
        "settings": {"idle_timeout_seconds": 30, "thank_you_seconds": 5, "heartbeat_seconds": 60},
    },
    response_only=True,
)
