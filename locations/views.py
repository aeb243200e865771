"""Pages on the people side of the organization."""

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.views import i18n
from django.views.decorators.http import require_POST

from . import services


@require_POST
def set_language(request):
    """Django's set_language (the cookie, then back to `next`), and for a signed-in person
    their saved preference too, so the language follows them to every device."""
    language = request.POST.get(i18n.LANGUAGE_QUERY_PARAMETER, "")
    # Django's view would set a cookie for any language Django has a translation for.
    if language not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest("CXHub does not speak that language.")
    if request.user.is_authenticated:
        services.save_language(user=request.user, language=language)
    return i18n.set_language(request)
