from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from locations import services
from locations.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create a personal API token for the reading side (BI tools, spreadsheets). It acts as "
        "the user: it sees what their role allows. The last line printed is the token."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", metavar="EMAIL")
        parser.add_argument("--name", default="", help="What the token is for, e.g. 'Power BI'.")

    def handle(self, *args, email, name, **options):
        email, name = email.strip(), name.strip()
        if len(name) > ApiToken._meta.get_field("name").max_length:
            raise CommandError("--name is longer than 120 characters.")
        users = get_user_model().objects
        user = users.filter(username__iexact=email).first()
        if user is None:
            matches = list(users.filter(email__iexact=email)[:2])
            if len(matches) > 1:
                raise CommandError(f"Several users have the e-mail {email!r}: use their login.")
            user = matches[0] if matches else None
        if user is None:
            raise CommandError(f"No user {email!r}: invite them first with invite_user.")
        if not user.is_active:
            raise CommandError(f"{user.get_username()} is deactivated; a token would not work.")
        token = services.create_api_token(user=user, name=name)
        self.stdout.write(f"API token for {user.get_username()}, shown only now:")
        self.stdout.write(token)
