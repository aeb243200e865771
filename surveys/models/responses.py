import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from locations.models import AuditedByOrganization


class QuestionKind(models.TextChoices):
    NPS = "nps", "NPS (0–10)"
    CSAT = "csat", "CSAT (1–5)"
    CES = "ces", "CES (1–7)"
    CHOICE = "choice", "Choice"
    TEXT = "text", "Text"
    CONTACT = "contact", "Contact request"


# The scale of each scored kind, inclusive. Everything that checks or bins a score reads this.
SCALES = {QuestionKind.NPS: (0, 10), QuestionKind.CSAT: (1, 5), QuestionKind.CES: (1, 7)}

# A CHECK passes when it evaluates to NULL, so a scored kind must say its score is not null.
SCORE_ON_SCALE = Q(kind__in=list(SCALES), score__isnull=False) & (
    Q(kind=QuestionKind.NPS, score__gte=0, score__lte=10)
    | Q(kind=QuestionKind.CSAT, score__gte=1, score__lte=5)
    | Q(kind=QuestionKind.CES, score__gte=1, score__lte=7)
) | (~Q(kind__in=list(SCALES)) & Q(score__isnull=True))


class Survey(AuditedByOrganization, models.Model):
    """A survey an organization edits as a draft and publishes as immutable versions."""

    organization = models.ForeignKey(
        "locations.Organization", models.CASCADE, related_name="surveys"
    )
    name = models.CharField(max_length=200)
    languages = models.JSONField(
        default=list, help_text='Language codes offered, e.g. ["vi", "th", "en"].'
    )
    questions = models.JSONField(
        default=list, help_text="The draft: publishing copies it into a new immutable version."
    )
    current_version = models.ForeignKey(
        "SurveyVersion", models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SurveyVersion(models.Model):
    """A published survey, frozen: responses point here, so history never changes."""

    survey = models.ForeignKey(Survey, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    languages = models.JSONField()
    questions = models.JSONField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["survey", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "number"], name="surveys_surveyversion_unique_number"
            )
        ]

    def __str__(self):
        return f"{self.survey.name} v{self.number}"

    def question_map(self) -> dict[str, dict]:
        return {q["key"]: q for q in self.questions}

    def get_additional_data(self) -> dict:
        return {"organization_id": self.survey.organization_id}


class SurveyResponse(models.Model):
    """One customer's answers, keyed by the UUID the device made (a resend is a no-op)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("locations.Organization", models.CASCADE, related_name="+")
    location = models.ForeignKey("locations.Location", models.PROTECT, related_name="responses")
    touchpoint = models.ForeignKey("locations.Touchpoint", models.PROTECT, related_name="+")
    kiosk = models.ForeignKey("locations.Kiosk", models.PROTECT, related_name="responses")
    survey_version = models.ForeignKey(SurveyVersion, models.PROTECT, related_name="responses")
    staff = models.ForeignKey(
        "locations.StaffMember", models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    submitted_at = models.DateTimeField(
        help_text="When the customer answered, by the device's clock."
    )
    received_at = models.DateTimeField(help_text="When the server stored it.")
    local_day = models.DateField(help_text="The day it counts in, in the location's time zone.")
    local_hour = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=8)
    clock_untrusted = models.BooleanField(
        default=False,
        help_text="The device clock was clearly wrong, so the receive time was counted instead.",
    )
    is_complete = models.BooleanField(
        default=True, help_text="False for a partial response sent when the customer walked away."
    )
    body_digest = models.CharField(
        max_length=64, help_text="Digest of the canonical body: tells a retry from a reused id."
    )

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(
                name="surveys_surveyresponse_hour_of_day", condition=Q(local_hour__lte=23)
            ),
        ]
        indexes = [
            # metrics.services.refresh_bucket: the raw rows of one location's local hour.
            models.Index(
                fields=["location", "local_day", "local_hour"], name="surveys_resp_bucket_idx"
            ),
        ]

    def __str__(self):
        return f"{self.id} @ {self.location_id} {self.local_day}"

    @property
    def counted_at(self):
        return self.received_at if self.clock_untrusted else self.submitted_at


class Answer(models.Model):
    response = models.ForeignKey(SurveyResponse, models.CASCADE, related_name="answers")
    question = models.SlugField(max_length=60, help_text="The question's stable key.")
    kind = models.CharField(max_length=8, choices=QuestionKind.choices)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    choices = models.JSONField(null=True, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], name="surveys_answer_once_per_question"
            ),
            models.CheckConstraint(name="surveys_answer_score_on_scale", condition=SCORE_ON_SCALE),
        ]

    def __str__(self):
        return f"{self.question}={self.value}"

    @property
    def value(self):
        if self.kind in SCALES:
            return self.score
        if self.kind == QuestionKind.CHOICE:
            return self.choices
        if self.kind == QuestionKind.CONTACT:
            return {"consent": True}
        return self.text


class ContactDetails(models.Model):
    """What a customer who asked to be contacted left us, only with explicit consent."""

    response = models.OneToOneField(SurveyResponse, models.CASCADE, related_name="contact")
    question = models.SlugField(max_length=60)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    consented_at = models.DateTimeField()
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "contact details"
        constraints = [
            models.CheckConstraint(
                name="surveys_contactdetails_reachable_or_erased",
                condition=~Q(email="", phone="") | Q(erased_at__isnull=False),
            )
        ]

    def __str__(self):
        return f"contact for {self.response_id}"
