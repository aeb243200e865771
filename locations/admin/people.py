"""People: memberships (how head office invites someone), API tokens, user accounts and
their preferences."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .. import services
from ..models import ApiToken, Membership, UserPreference
from .tenancy import (
    AskPermissionFirst,
    ReadOnlyAdmin,
    ScopedFilter,
    TenantAdmin,
    TenantForm,
    adopt,
    ask_permission_first,
)

User = get_user_model()


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
class UserWithMembershipsAdmin(AskPermissionFirst, UserAdmin):
    inlines = [*UserAdmin.inlines, MembershipInline]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []


@admin.register(UserPreference)
class UserPreferenceAdmin(AskPermissionFirst, admin.ModelAdmin):
    """What people chose for themselves (the language switcher); like accounts, superusers'."""

    list_display = ["user", "language"]
    list_filter = ["language"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


# Registered before ours (INSTALLED_APPS lists them first): auth's groups, axes' records.
ask_permission_first(admin.site)
