"""The audit log in the admin: who changed what, each organization's administrators seeing
the entries of their own organization only (settings.AUDITLOG_INCLUDE_TRACKING_MODELS; the
organization is stamped on each entry by the models' get_additional_data)."""

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin

from .tenancy import ReadOnlyAdmin

admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditLogAdmin(LogEntryAdmin, ReadOnlyAdmin):
    # Free text over the changes would let a search match what the scoped list hides.
    search_fields = ["object_repr", "actor__username"]

    def scope(self, queryset, organization_ids):
        return queryset.filter(additional_data__organization_id__in=list(organization_ids))

    def get_queryset(self, request):
        self.request = request  # LogEntryAdmin's columns read it
        return ReadOnlyAdmin.get_queryset(self, request)

    def has_delete_permission(self, request, obj=None):
        # Nobody edits history, superusers included; entries go with their organization.
        return False
