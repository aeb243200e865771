"""How the API answers errors: never a 500 for anything a client can send or a database
that is briefly away."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# No body we accept nests deeper than a batch of responses with contact details (5 levels).
MAX_JSON_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with nesting bounded: deeper JSON than Python can parse would be a
    RecursionError (a 500), and JSON just under that would be one later, when a retry's body
    is serialised again to be compared."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if _depth_at_most(data, MAX_JSON_DEPTH):
                return data
        raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")


def _depth_at_most(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError:
        # The database is unreachable or restarting: the kiosk keeps the response and retries.
        response = Response(
            {"detail": "The server cannot store this right now; keep it and retry."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        # One warning naming the error, instead of Django's ERROR line per kiosk retry: an
        # outage is for /readyz and the metrics to report, not a page of identical errors.
        log.warning("database unavailable (%s): answered 503", type(exc).__name__)
        response._has_been_logged = True
        return response
    return drf_exception_handler(exc, context)
