"""Bearer tokens: kiosk tokens for the kiosk calls, personal tokens for the reading side.

Each endpoint accepts exactly one kind, so a kiosk token can never read scores and a
personal token can never submit responses.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from . import selectors, services, tokens
from .models import Kiosk


def _bearer(request, prefix: str) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(prefix):
        return None
    return token


class KioskPrincipal:
    """Stands in for request.user on kiosk calls: authenticated, but nobody's account."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, kiosk: Kiosk):
        self.kiosk = kiosk

    def __str__(self):
        return f"kiosk {self.kiosk.pk}"


class KioskTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        token = _bearer(request, tokens.KIOSK_PREFIX)
        kiosk = selectors.kiosk_for_token(token) if token else None
        if kiosk is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked kiosk token.")
        services.touch_kiosk(kiosk)
        return KioskPrincipal(kiosk), kiosk

    def authenticate_header(self, request):
        return 'Bearer realm="kiosk"'


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header or not header.lower().startswith(b"bearer "):
            return None
        token = _bearer(request, tokens.PERSONAL_PREFIX)
        api_token = services.authenticate_api_token(token) if token else None
        if api_token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        return api_token.user, api_token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class IsKiosk(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, Kiosk)


class KioskTokenScheme(OpenApiAuthenticationExtension):
    target_class = KioskTokenAuthentication
    name = "kioskToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A kiosk token from `create_kiosk` or from pairing (starts `cxk_`).",
        }


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = PersonalTokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from `create_api_token` (starts `cxp_`).",
        }
