from django.conf import settings
from django.http import JsonResponse
from django.utils import translation

from locations.selectors import saved_language


class BodySizeLimitMiddleware:
    """Answer 413 from the declared length, before a large body is read at all.

    CXHUB_MAX_BODY_BYTES maps path prefixes to limits; the longest matching prefix wins.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limits = sorted(settings.CXHUB_MAX_BODY_BYTES.items(), key=lambda kv: -len(kv[0]))

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        for prefix, limit in self.limits:
            if request.path.startswith(prefix):
                if length > limit:
                    return JsonResponse(
                        {"detail": f"The request body is too large (at most {limit} bytes)."},
                        status=413,
                    )
                break
        return self.get_response(request)


class UserLanguageMiddleware:
    """Speak a signed-in person's saved language, whatever the browser or cookie says.

    LocaleMiddleware (earlier) has already chosen from the cookie and Accept-Language; this
    overrides that choice for people who saved one. A blank preference follows the browser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = saved_language(request.user) if request.user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
