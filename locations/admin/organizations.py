"""The organization and its places: regions, touchpoints, locations and their staff."""

from django.contrib import admin, messages

from .. import imports, services
from ..models import Location, Organization, Region, StaffMember, Touchpoint
from .import_views import ImportAdmin
from .kiosks import valid_for
from .tenancy import ScopedFilter, TenantAdmin, adopt


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
            messages.success(request, f"{location.code}: pairing code {code} {valid_for()}")


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
