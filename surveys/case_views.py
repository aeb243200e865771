"""Case pages: a store's list (open first, overdue marked) and a case to act on. Only cases
of stores the person may see exist for them; any other is a 404."""

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views import View

from . import cases
from .models import Case, CaseOutcome, CaseStatus


class CaseForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "—"), *CaseStatus.choices], required=False, label=_("Status")
    )
    owner = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Owner"))
    outcome = forms.ChoiceField(
        choices=[("", "—"), *CaseOutcome.choices], required=False, label=_("Outcome")
    )
    reason = forms.CharField(max_length=300, required=False, label=_("Why dismissed"))
    note = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Note")
    )

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.owners = list(cases.possible_owners(case))
        self.fields["owner"].choices = [("", "—")] + [
            (u.pk, u.get_full_name() or u.get_username()) for u in self.owners
        ]
        self.fields["owner"].initial = case.owner_id

    def owner_user(self):
        pk = self.cleaned_data.get("owner")
        return next((u for u in self.owners if u.pk == pk), None)


class CaseListPage(LoginRequiredMixin, View):
    def get(self, request):
        show_closed = request.GET.get("show") == "all"
        code = request.GET.get("location") or None
        listed = list(
            cases.case_list(request.user, location_code=code, show_closed=show_closed)[:200]
        )
        context = {
            "cases": listed,
            "now": timezone.now(),
            "show_closed": show_closed,
            "location": code,
        }
        return render(request, "cases/list.html", context)


class CaseDetailPage(LoginRequiredMixin, View):
    def _case(self, request, pk):
        try:
            return cases.case_detail(request.user, pk)
        except Case.DoesNotExist:
            raise Http404 from None

    def get(self, request, pk):
        case = self._case(request, pk)
        return self._render(request, case, CaseForm(case=case))

    def post(self, request, pk):
        case = self._case(request, pk)
        form = CaseForm(request.POST, case=case)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cases.act(
                    case,
                    request.user,
                    status=data["status"],
                    owner=form.owner_user(),
                    outcome=data["outcome"],
                    reason=data["reason"],
                    note=data["note"],
                )
            except cases.CaseError as error:
                form.add_error(error.field, str(error))
            else:
                return redirect("cases:detail", pk=case.pk)
        return self._render(request, case, form, status=400)

    def _render(self, request, case, form, status=200):
        context = {
            "case": case,
            "form": form,
            "contact": cases.contact_for(case),
            "answers": [a for a in case.response.answers.all() if a.kind != "contact"],
            "now": timezone.now(),
        }
        return render(request, "cases/detail.html", context, status=status)
