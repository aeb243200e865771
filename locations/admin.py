"""The admin a head office sets its chain up with: every row scoped to the organizations it runs.

Head office (a staff user with a head_office membership) gets the admin for its own
organizations without any Django permission to grant: the membership is the permission.
Superusers run the installation and see everything. TenantAdmin is the one place that
narrows querysets, choices and permissions; every ModelAdmin of locations/ and surveys/
builds on it.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from surveys.models import SurveyVersion

from . import imports, selectors, services
from .models import (
    ApiToken,
    Kiosk,
    Location,
    Membership,
    Organization,
    PairingCode,
    Region,
    StaffMember,
    Touchpoint,
)

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


class TenantAdmin(admin.ModelAdmin):
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


# --- spreadsheet imports ---------------------------------------------------------------


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    file = forms.FileField(
        help_text="A .csv (UTF-8) or .xlsx file; the first line names the columns."
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = organizations
        only = list(organizations.values_list("pk", flat=True)[:2])
        if len(only) == 1:
            field.initial, field.empty_label = only[0], None


class ImportAdmin(TenantAdmin):
    """Adds "Import from CSV/XLSX" to a changelist, for the same files as the commands take."""

    change_list_template = "admin/locations/change_list_import.html"
    import_columns: tuple[str, ...] = ()

    def run_import(self, *, organization, rows):
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name=name), *super().get_urls()]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        organizations = selectors.administered_organizations(request.user)
        form = ImportForm(request.POST or None, request.FILES or None, organizations=organizations)
        if request.method == "POST" and form.is_valid():
            upload, organization = form.cleaned_data["file"], form.cleaned_data["organization"]
            try:
                rows = imports.read_table(upload, upload.name)
                summary = self.run_import(organization=organization, rows=rows)
            except imports.ImportFailed as failure:
                form.add_error("file", failure.errors)
            else:
                messages.success(request, f"Imported into {organization}: {summary}.")
                return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Import {self.opts.verbose_name_plural} from CSV/XLSX",
            "form": form,
            "columns": ", ".join(self.import_columns),
        }
        return TemplateResponse(request, "admin/locations/import.html", context)


# --- the organization and its places ---------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(TenantAdmin):
    tenant_field = "pk"
    list_display = ["name", "slug", "default_language", "default_survey", "created_at"]
    list_select_related = ["default_survey"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request):
        return request.user.is_superuser  # a new tenant is the installation's business

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "slug", "default_language"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["created_at"] if request.user.is_superuser else ["slug", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # The service also gives the tenant its default survey and "main" touchpoint.
        adopt(
            obj,
            services.create_organization(
                name=obj.name, slug=obj.slug, default_language=obj.default_language
            ),
        )


@admin.register(Region)
class RegionAdmin(TenantAdmin):
    list_display = ["name", "organization"]
    list_filter = [("organization", ScopedFilter)]
    list_select_related = ["organization"]
    search_fields = ["name"]


@admin.register(Touchpoint)
class TouchpointAdmin(TenantAdmin):
    list_display = ["name", "label", "organization"]
    list_filter = [("organization", ScopedFilter)]
    list_select_related = ["organization"]
    search_fields = ["name", "label"]


@admin.register(Location)
class LocationAdmin(ImportAdmin):
    list_display = ["code", "name", "region", "organization", "timezone", "is_active"]
    list_filter = ["is_active", ("organization", ScopedFilter), ("region", ScopedFilter)]
    list_select_related = ["organization", "region"]
    search_fields = ["code", "name"]
    actions = ["create_pairing_code_for_new_kiosk"]
    import_columns = imports.LOCATION_COLUMNS

    def run_import(self, *, organization, rows):
        return imports.import_locations(organization=organization, rows=rows)

    @admin.action(description="Create a pairing code for a new kiosk (touchpoint main)")
    def create_pairing_code_for_new_kiosk(self, request, queryset):
        for location in queryset.select_related("organization"):
            code = services.create_pairing_code(location=location, user=request.user)
            messages.success(request, f"{location.code}: pairing code {code} {_valid_for()}")


@admin.register(StaffMember)
class StaffMemberAdmin(ImportAdmin):
    list_display = ["display_name", "code", "location", "organization", "is_active"]
    list_filter = ["is_active", ("organization", ScopedFilter)]
    list_select_related = ["organization", "location"]
    search_fields = ["display_name", "code", "location__code"]
    autocomplete_fields = ["location"]
    import_columns = imports.STAFF_COLUMNS

    def run_import(self, *, organization, rows):
        return imports.import_staff(organization=organization, rows=rows)


# --- kiosks ----------------------------------------------------------------------------


def _valid_for() -> str:
    return f"(type it on the tablet within {settings.CXHUB_PAIRING_CODE_MINUTES} minutes)."


# Everything about a kiosk but its name is set by pairing, tokens and heartbeats.
KIOSK_FACTS = [f.name for f in Kiosk._meta.fields if f.name not in {"id", "name", "token_digest"}]


class KioskAddForm(TenantForm):
    class Meta:
        model = Kiosk
        fields = ["location", "touchpoint", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["touchpoint"].required = False
        self.fields["touchpoint"].help_text = "Empty: the location's main touchpoint."


@admin.register(Kiosk)
class KioskAdmin(TenantAdmin):
    list_display = [
        "__str__",
        "status",
        "token_hint",
        "last_seen_at",
        "app_version",
        "queue_length",
        "battery",
    ]
    list_filter = [
        ("organization", ScopedFilter),
        ("touchpoint", ScopedFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
        "last_seen_at",
    ]
    list_select_related = ["location", "touchpoint"]
    search_fields = ["name", "location__code", "location__name", "token_hint"]
    autocomplete_fields = ["location"]
    actions = ["revoke", "create_pairing_code"]
    readonly_fields = ["status", *KIOSK_FACTS]

    def get_fields(self, request, obj=None):
        return KioskAddForm.Meta.fields if obj is None else ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = KioskAddForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="status")
    def status(self, kiosk):
        if kiosk.revoked_at:
            return "revoked"
        return "active" if kiosk.token_digest else "not paired"

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        touchpoint = obj.touchpoint.name if obj.touchpoint_id else None
        issued = services.create_kiosk(location=obj.location, touchpoint=touchpoint, name=obj.name)
        adopt(obj, issued.kiosk)
        # Only a digest is stored: this message is the one time anyone sees the token.
        messages.success(
            request,
            f"Kiosk token, shown only this once — copy it to the tablet now: {issued.token}",
        )

    @admin.action(description="Revoke the selected kiosks (their token stops working)")
    def revoke(self, request, queryset):
        for kiosk in queryset:
            services.revoke_kiosk(kiosk=kiosk)
        messages.success(request, f"Revoked {len(queryset)} kiosk(s).")

    @admin.action(description="Create a pairing code to re-pair the selected kiosks")
    def create_pairing_code(self, request, queryset):
        for kiosk in queryset.select_related("location__organization"):
            code = services.create_pairing_code(
                location=kiosk.location, kiosk=kiosk, user=request.user
            )
            messages.success(request, f"{kiosk}: pairing code {code} {_valid_for()}")


@admin.register(PairingCode)
class PairingCodeAdmin(ReadOnlyAdmin):
    list_display = [
        "location",
        "touchpoint",
        "kiosk",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
    ]
    list_filter = [("organization", ScopedFilter), "created_at"]
    list_select_related = [
        "location",
        "touchpoint",
        "kiosk__location",
        "kiosk__touchpoint",
        "created_by",
    ]
    search_fields = ["location__code"]
    exclude = ["code_digest"]


# --- people ----------------------------------------------------------------------------


class MembershipInviteForm(TenantForm):
    email = forms.EmailField(help_text="Their sign-in; an account is made if they have none.")

    class Meta:
        model = Membership
        fields = ["organization", "role", "region", "location"]


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    """Adding one invites a person by e-mail (no list of every user to pick from); a
    membership is then fixed: change a role by adding the new one and deleting the old."""

    list_display = ["user", "organization", "role", "region", "location", "created_at"]
    list_filter = ["role", ("organization", ScopedFilter)]
    list_select_related = ["user", "organization", "region", "location"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["region", "location"]

    def has_change_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        fields = ["organization", "role", "region", "location"]
        return ["email", *fields] if obj is None else ["user", *fields, "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipInviteForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        invitation = services.invite_user(
            email=form.cleaned_data["email"],
            organization=obj.organization,
            role=obj.role,
            region=obj.region.name if obj.region_id else None,
            location=obj.location.code if obj.location_id else None,
        )
        adopt(obj, invitation.membership)
        if invitation.created:
            messages.info(request, f"A new account was made for {invitation.user}.")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["user", "name", "token_hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "name", "token_hint"]
    exclude = ["token_digest"]
    actions = ["revoke"]

    def scope(self, queryset, organization_ids):
        # A personal token belongs to a person: head office sees those of its members.
        members = Membership.objects.filter(organization_id__in=organization_ids).values("user")
        return queryset.filter(user__in=members)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = services.revoke_api_tokens(queryset)
        messages.success(request, f"Revoked {count} token(s).")


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["organization", "role", "region", "location"]
    autocomplete_fields = ["organization", "region", "location"]


# Superusers manage accounts; their memberships sit on the same page.
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserWithMembershipsAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, MembershipInline]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []
