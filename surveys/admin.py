"""Surveys in the admin: head office edits a draft and publishes it as an immutable version;
versions, responses and contact details are shown and never changed."""

import json

from django import forms
from django.contrib import admin, messages
from django.forms.fields import InvalidJSONInput
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from locations.admin.tenancy import ReadOnlyAdmin, ScopedFilter, TenantAdmin, TenantForm

from . import default_survey
from .definition import DefinitionError, check_definition
from .models import (
    Alert,
    AlertRule,
    Answer,
    Case,
    CaseNote,
    ContactDetails,
    Survey,
    SurveyResponse,
    SurveyVersion,
    WebhookDelivery,
    WebhookEndpoint,
)
from .services import publish_survey


def admin_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


class PrettyJSONField(forms.JSONField):
    """Indented, so a survey of a dozen translated questions can be edited by hand."""

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return pretty_json(value)


class SurveyForm(TenantForm):
    languages = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text='Language codes offered, e.g. ["vi", "th", "en"].',
    )
    questions = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "class": "vLargeTextField"}),
        help_text="The draft. Publishing copies it into a new version; published versions "
        "never change.",
    )

    class Meta:
        model = Survey
        fields = ["organization", "name", "languages", "questions"]

    def clean(self):
        cleaned = super().clean()
        if "languages" in cleaned and "questions" in cleaned:
            try:
                check_definition(cleaned["languages"], cleaned["questions"])
            except DefinitionError as error:
                field = "languages" if str(error).startswith("languages") else "questions"
                self.add_error(field, str(error))
        return cleaned


@admin.register(Survey)
class SurveyAdmin(TenantAdmin):
    form = SurveyForm
    list_display = ["name", "organization", "current_version_number", "languages", "created_at"]
    list_filter = [("organization", ScopedFilter)]
    list_select_related = ["organization", "current_version"]
    search_fields = ["name"]
    actions = ["publish"]
    change_form_template = "admin/surveys/survey/change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "languages", "questions"]
        return [
            "organization",
            "name",
            "languages",
            "questions",
            "current_version_number",
            "published_versions",
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else [*fields, "current_version_number", "published_versions"]

    def get_changeform_initial_data(self, request):
        # A new survey starts from the vi/th/en template rather than an empty page.
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("languages", list(default_survey.LANGUAGES))
        initial.setdefault("questions", default_survey.QUESTIONS)
        return initial

    @admin.display(description="current version", ordering="current_version__number")
    def current_version_number(self, survey):
        return f"v{survey.current_version.number}" if survey.current_version else "not published"

    @admin.display(description="published versions")
    def published_versions(self, survey):
        versions = survey.versions.select_related("published_by").order_by("-number")
        rows = [
            (admin_url(v), v.number, f"{v.published_at:%Y-%m-%d %H:%M}", v.published_by or "—")
            for v in versions
        ]
        line = '<a href="{}">v{}</a> · {} UTC · {}'
        return format_html_join(mark_safe("<br>"), line, rows) if rows else "none yet"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_publish": True}
        return super().change_view(request, object_id, form_url, extra_context)

    def response_change(self, request, obj):
        # "Save and publish": the draft was saved (and checked) just before this.
        if "_publish" in request.POST:
            self._publish(request, obj)
            return redirect(admin_url(obj))
        return super().response_change(request, obj)

    @admin.action(description="Publish the draft as a new version", permissions=["change"])
    def publish(self, request, queryset):
        for survey in queryset:
            self._publish(request, survey)

    def _publish(self, request, survey):
        try:
            version = publish_survey(survey=survey, user=request.user)
        except DefinitionError as error:
            messages.error(request, f"{survey} was not published: {error}")
        else:
            messages.success(request, f"Published {survey} version {version.number}.")


@admin.register(SurveyVersion)
class SurveyVersionAdmin(ReadOnlyAdmin):
    tenant_field = "survey__organization"
    list_display = ["survey", "number", "published_at", "published_by"]
    list_filter = [("survey", ScopedFilter), "published_at"]
    list_select_related = ["survey", "published_by"]
    search_fields = ["survey__name"]
    fields = ["survey", "number", "published_at", "published_by", "languages", "definition"]
    readonly_fields = ["definition"]

    @admin.display(description="questions")
    def definition(self, version):
        return format_html("<pre>{}</pre>", pretty_json(version.questions))


class ReadOnlyInline(admin.TabularInline):
    extra = 0

    def has_view_permission(self, request, obj=None):
        return True  # the response's own admin already decided who may see it

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AnswerInline(ReadOnlyInline):
    model = Answer
    fields = ["question", "kind", "score", "choices", "text"]


class ContactDetailsInline(ReadOnlyInline):
    model = ContactDetails
    fields = ["question", "name", "email", "phone", "consented_at", "erased_at"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "submitted_at",
        "location",
        "touchpoint",
        "staff",
        "survey_version",
        "language",
        "is_complete",
        "clock_untrusted",
    ]
    list_filter = ["is_complete", "clock_untrusted", "language", ("location", ScopedFilter)]
    list_select_related = ["location", "touchpoint", "staff", "survey_version__survey"]
    search_fields = ["location__code", "staff__code"]
    date_hierarchy = "local_day"
    show_full_result_count = False  # no second COUNT(*) over millions of responses
    exclude = ["body_digest"]
    inlines = [AnswerInline, ContactDetailsInline]


@admin.register(ContactDetails)
class ContactDetailsAdmin(ReadOnlyAdmin):
    tenant_field = "response__organization"
    list_display = ["name", "email", "phone", "location", "consented_at", "erased_at"]
    list_filter = ["erased_at", "consented_at"]
    list_select_related = ["response__location"]
    search_fields = ["name", "email", "phone"]
    fields = ["response", "question", "name", "email", "phone", "consented_at", "erased_at"]

    @admin.display(description="location", ordering="response__location__code")
    def location(self, contact):
        return contact.response.location


# --- closing the loop -------------------------------------------------------------------------


@admin.register(AlertRule)
class AlertRuleAdmin(TenantAdmin):
    list_display = ["kind", "location", "enabled", "threshold", "window_minutes", "escalate"]
    list_filter = ["kind", "enabled", ("location", ScopedFilter)]
    list_select_related = ["location"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["fired_at", "location", "rule", "summary"]
    list_filter = ["rule__kind", ("location", ScopedFilter)]
    list_select_related = ["location", "rule"]
    date_hierarchy = "fired_at"


class CaseNoteInline(admin.TabularInline):
    model = CaseNote
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ["pk", "location", "status", "owner", "opened_at", "due_at", "outcome"]
    list_filter = ["status", "outcome", ("location", ScopedFilter)]
    list_select_related = ["location", "owner"]
    inlines = [CaseNoteInline]


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdmin):
    tenant_field = "case__organization"
    list_display = ["case", "author", "created_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantAdmin):
    list_display = ["url", "is_active", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    readonly_fields = ["secret", "consecutive_failures", "disabled_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    tenant_field = "endpoint__organization"
    list_display = ["alert", "endpoint", "attempts", "last_status", "delivered_at", "gave_up_at"]
    list_select_related = ["alert", "endpoint"]
