"""The surveys app's models: what customers answered (responses) and what the chain did
about it (recovery)."""

from .recovery import (
    DEFAULT_SLA,
    RESPONSE_RULES,
    Alert,
    AlertRule,
    Case,
    CaseNote,
    CaseOutcome,
    CaseStatus,
    RuleKind,
    WebhookDelivery,
    WebhookEndpoint,
)
from .responses import (
    SCALES,
    SCORE_ON_SCALE,
    Answer,
    ContactDetails,
    QuestionKind,
    Survey,
    SurveyResponse,
    SurveyVersion,
)

__all__ = [
    "DEFAULT_SLA",
    "RESPONSE_RULES",
    "SCALES",
    "SCORE_ON_SCALE",
    "Alert",
    "AlertRule",
    "Answer",
    "Case",
    "CaseNote",
    "CaseOutcome",
    "CaseStatus",
    "ContactDetails",
    "QuestionKind",
    "RuleKind",
    "Survey",
    "SurveyResponse",
    "SurveyVersion",
    "WebhookDelivery",
    "WebhookEndpoint",
]
