from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import EmailValidator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from locations import services
from locations.models import Organization, Role


class Command(BaseCommand):
    help = (
        "Give a person a role in an organization, creating their account if needed: head "
        "office sees the whole chain, a regional manager one --region, a store manager one "
        "--location. Re-running keeps the membership, never duplicates it. The last line "
        "printed is a one-time link for them to set their password."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", metavar="EMAIL")
        parser.add_argument("--organization", required=True, metavar="SLUG")
        parser.add_argument("--role", required=True, choices=Role.values)
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--region", metavar="NAME", help="For a regional manager.")
        scope.add_argument("--location", metavar="CODE", help="For a store manager.")

    def handle(self, *args, email, organization, role, region, location, **options):
        email = email.strip()
        try:
            EmailValidator()(email)
        except ValidationError as error:
            raise CommandError(f"{email!r} is not an e-mail address.") from error
        if len(email) > get_user_model()._meta.get_field("username").max_length:
            raise CommandError("The e-mail address is too long to be a login.")
        tenant = Organization.objects.filter(slug=organization).first()
        if tenant is None:
            raise CommandError(f"No organization has the slug {organization!r}.")
        try:
            invitation = services.invite_user(
                email=email, organization=tenant, role=role, region=region, location=location
            )
        except services.ServiceError as error:
            raise CommandError(str(error)) from error

        user, membership = invitation.user, invitation.membership
        account = "New account" if invitation.created else "Existing account"
        self.stdout.write(f"{account} {user.get_username()}: {membership}.")
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        days = round(settings.PASSWORD_RESET_TIMEOUT / 86400)
        self.stdout.write(f"Send them this link to set their password (once, within {days} days):")
        self.stdout.write(f"{settings.SITE_URL.rstrip('/')}/accounts/reset/{uid}/{token}/")
