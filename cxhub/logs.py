"""Log lines an operator can search: JSON (or text in development), each stamped with the
request id, and never a customer's e-mail address or phone number."""

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps the current request's (or task's) id on every record that has none."""

    def filter(self, record):
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        return True


# Contact details customers leave for a call back: e-mail addresses and phone numbers. A
# database error quotes the offending value, a traceback may quote a body; the formatter
# removes both kinds from the finished line, whatever produced it.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_LIKE = re.compile(r"(?<![\w.:,/-])\+?\d[\d\s().-]{6,}\d(?![\w:/-])")
_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def redact(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    return _PHONE_LIKE.sub(_phone_or_not, text)


def _phone_or_not(match: re.Match) -> str:
    # 9 to 15 digits (E.164 allows 15; Vietnamese and Thai numbers have 9 to 11 without the
    # country code) is a phone number; a date with its hour is not.
    value = match.group()
    digits = sum(c.isdigit() for c in value)
    if 9 <= digits <= 15 and not _DATE_START.match(value):
        return "[phone]"
    return value


class RedactingJsonFormatter(JsonFormatter):
    def format(self, record):
        return redact(super().format(record))


class RedactingTextFormatter(logging.Formatter):
    def format(self, record):
        return redact(super().format(record))


def logging_config(fmt: str, level: str) -> dict:
    """LOGGING for settings.py: JSON lines (production) or readable text (development)."""
    formatter = (
        {
            "()": RedactingJsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if fmt == "json"
        else {
            "()": RedactingTextFormatter,
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Our access line replaces Django's own per-request warnings for 4xx answers.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "ERROR"},
            # django-axes reports every sign-in at INFO; lockouts come at WARNING.
            "axes": {"level": "WARNING"},
        },
    }
