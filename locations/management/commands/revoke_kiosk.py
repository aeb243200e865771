import uuid

from django.core.management.base import BaseCommand, CommandError

from locations import services, tokens
from locations.models import Kiosk


class Command(BaseCommand):
    help = (
        "Revoke a kiosk's token: its next request is refused (401) and it must be paired "
        "again. Name the kiosk by its public id (a UUID, shown by create_kiosk and the admin), "
        "the last characters of its token as the admin shows them (after -- when they start "
        "with a dash: revoke_kiosk -- -x3F), or the token itself. The last line printed is "
        "'revoked'."
    )

    def add_arguments(self, parser):
        parser.add_argument("kiosk", metavar="TOKEN_HINT_OR_PUBLIC_ID")

    def handle(self, *args, kiosk, **options):
        found = self.find(kiosk.strip())
        if found.revoked_at is not None:
            self.stdout.write(f"Kiosk {found.public_id} ({found}) was already revoked.")
        else:
            services.revoke_kiosk(kiosk=found)
            self.stdout.write(f"Revoked kiosk {found.public_id} ({found}).")
        self.stdout.write("revoked")

    def find(self, value: str) -> Kiosk:
        kiosks = Kiosk.objects.select_related("location", "touchpoint")
        try:
            public_id = uuid.UUID(value)
        except ValueError:
            public_id = None
        if public_id is not None:
            matches = list(kiosks.filter(public_id=public_id))
        elif value.startswith(tokens.KIOSK_PREFIX):
            matches = list(kiosks.filter(token_digest=tokens.digest(value)))
        else:
            # A hint is four characters: only an unambiguous match among live kiosks counts.
            matches = list(kiosks.filter(token_hint=value, token_digest__isnull=False)[:10])
        if not matches:
            raise CommandError(f"No kiosk matches {value!r}.")
        if len(matches) > 1:
            listed = ", ".join(str(k.public_id) for k in matches)
            raise CommandError(
                f"Several kiosks have a token ending {value!r}: give the public id ({listed})."
            )
        return matches[0]
