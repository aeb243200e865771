from django.core.management.base import BaseCommand

from locations import services, tokens
from locations.models import PairingCode

from .create_kiosk import location_from


class Command(BaseCommand):
    help = (
        "Print a one-time code to pair a tablet with a location: type it in the kiosk app, "
        "which exchanges it for a token. The code works once and expires soon. The last line "
        "printed is the code."
    )

    def add_arguments(self, parser):
        parser.add_argument("--location", required=True, metavar="CODE")
        parser.add_argument(
            "--touchpoint", metavar="NAME", help="entrance, checkout, fitting-room… (default: main)"
        )
        parser.add_argument(
            "--organization", metavar="SLUG", help="Needed only when several chains use CODE."
        )

    def handle(self, *args, location, touchpoint, organization, **options):
        place = location_from(location, organization)
        code = services.create_pairing_code(location=place, touchpoint=touchpoint)
        pairing = PairingCode.objects.select_related("touchpoint").get(
            code_digest=tokens.digest(code)
        )
        expires = pairing.expires_at.astimezone(place.zone)
        self.stdout.write(
            f"Pairing code for {place.code} ({place.organization.slug}) · "
            f"{pairing.touchpoint.name}, usable once, until {expires:%Y-%m-%d %H:%M} "
            f"{place.timezone} ({pairing.expires_at.isoformat(timespec='seconds')}):"
        )
        self.stdout.write(code)
