"""Tenancy: the one place that narrows querysets, choices and permissions to the
organizations the requesting user administers."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models

from surveys.models import SurveyVersion

from .. import selectors
from ..models import Membership, Organization

User = get_user_model()


def administered_ids(request) -> frozenset[int]:
    """The organizations the requesting user may set up, looked up once per request."""
    if not hasattr(request, "_administered_ids"):
        request._administered_ids = frozenset(
            selectors.administered_organizations(request.user).values_list("pk", flat=True)
        )
    return request._administered_ids


def scoped_choices(model, request):
    """Rows of `model` the user may pick in a form; unknown models offer nothing."""
    ids = administered_ids(request)
    if model is Organization:
        return Organization.objects.filter(pk__in=ids)
    if model is User:
        return User.objects.filter(
            pk__in=Membership.objects.filter(organization_id__in=ids).values("user")
        )
    if any(f.name == "organization" for f in model._meta.fields):
        return model._default_manager.filter(organization_id__in=ids)
    if model is SurveyVersion:
        return SurveyVersion.objects.filter(survey__organization_id__in=ids)
    return model._default_manager.none()


def adopt(obj, saved) -> None:
    """Make the admin's unsaved form object stand for the row a service created."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


class ScopedFilter(admin.RelatedFieldListFilter):
    """A sidebar filter offering only the user's own organizations' rows (never another
    tenant's names), without scanning the filtered table as RelatedOnlyFieldListFilter does."""

    def field_choices(self, field, request, model_admin):
        if request.user.is_superuser:
            return super().field_choices(field, request, model_admin)
        choices = scoped_choices(field.related_model, request)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            choices = choices.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in choices]


class TenantForm(forms.ModelForm):
    """Refuses a row that points into another organization than its own."""

    def clean(self):
        cleaned = super().clean()
        own = self._organization(cleaned)
        if own is None:
            return cleaned
        for name, value in list(cleaned.items()):
            if (
                isinstance(value, models.Model)
                and not isinstance(value, Organization)
                and getattr(value, "organization_id", own.pk) != own.pk
            ):
                self.add_error(name, f"{value} belongs to another organization than {own}.")
        return cleaned

    def _organization(self, cleaned) -> Organization | None:
        if isinstance(self.instance, Organization):
            return self.instance if self.instance.pk else None
        if cleaned.get("organization"):
            return cleaned["organization"]
        if getattr(self.instance, "organization_id", None):
            return self.instance.organization
        location = cleaned.get("location")
        return location.organization if location else None


class AskPermissionFirst:
    """Django's history page looks a row up before it asks whether the person may see the
    model at all: someone without the permission was refused (403) an id that exists and
    told "does not exist" for one that does not, and could walk the ids of other tenants'
    people, groups and sign-in records to learn which exist. Asking first answers both alike."""

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)


def ask_permission_first(site) -> None:
    """Give the ModelAdmins other apps registered (auth's groups, axes' sign-in records…)
    the same answer as ours."""
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, AskPermissionFirst):
            base = type(model_admin)
            site.unregister(model)
            site.register(model, type(base.__name__, (AskPermissionFirst, base), {}))


class TenantAdmin(AskPermissionFirst, admin.ModelAdmin):
    form = TenantForm
    # The path from this model to its Organization, for scoping querysets.
    tenant_field = "organization"

    def scope(self, queryset, organization_ids):
        return queryset.filter(**{f"{self.tenant_field}__in": organization_ids})

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return self.scope(queryset, administered_ids(request))

    def administers(self, request) -> bool:
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and (user.is_superuser or bool(administered_ids(request)))
        )

    # Another organization's row never reaches these: get_object() reads the scoped queryset.
    def has_module_permission(self, request):
        return self.administers(request)

    def has_view_permission(self, request, obj=None):
        return self.administers(request)

    def has_add_permission(self, request):
        return self.administers(request)

    def has_change_permission(self, request, obj=None):
        return self.administers(request)

    def has_delete_permission(self, request, obj=None):
        return self.administers(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            kwargs["queryset"] = scoped_choices(db_field.related_model, request)
            if db_field.related_model is Organization and len(administered_ids(request)) == 1:
                kwargs["empty_label"] = None
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        only = selectors.administered_organizations(request.user).values_list("pk", flat=True)[:2]
        if len(only) == 1:
            initial.setdefault("organization", only[0])
        return initial

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # A row never moves between tenants: its children would be left behind.
        has_organization = any(f.name == "organization" for f in self.opts.fields)
        if obj is not None and has_organization and "organization" not in fields:
            fields.append("organization")
        return fields


class ReadOnlyAdmin(TenantAdmin):
    """Evidence and history: shown to whoever may see it, changed by nobody."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
