"""Pages on the people side of the organization."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views import i18n
from django.views.decorators.http import require_POST

from . import services
from .models import UserPreference


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


class DigestForm(forms.Form):
    digest = forms.ChoiceField(
        choices=UserPreference._meta.get_field("digest").choices, label=_("E-mail summary")
    )


@login_required
def preferences(request):
    """A person's own settings: how often their e-mail summary comes."""
    current = services.digest_of(request.user)
    form = DigestForm(request.POST or None, initial={"digest": current})
    if request.method == "POST":
        if form.is_valid():
            services.save_digest(user=request.user, digest=form.cleaned_data["digest"])
            return redirect("preferences")
        return render(request, "account/preferences.html", {"form": form}, status=400)
    return render(request, "account/preferences.html", {"form": form})
