"""Kiosks and the pairing codes that put a tablet to work."""

from django.conf import settings
from django.contrib import admin, messages

from .. import services
from ..models import Kiosk, PairingCode
from .tenancy import ReadOnlyAdmin, ScopedFilter, TenantAdmin, TenantForm, adopt


def valid_for() -> str:
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
            messages.success(request, f"{kiosk}: pairing code {code} {valid_for()}")


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
