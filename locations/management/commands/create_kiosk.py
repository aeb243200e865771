from django.core.management.base import BaseCommand, CommandError

from locations import services
from locations.models import Kiosk, Organization


def location_from(code: str, slug: str | None):
    """The location named on the command line, or a CommandError saying what is wrong."""
    organization = None
    if slug is not None:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"No organization has the slug {slug!r}.")
    try:
        return services.find_location(code, organization)
    except services.ServiceError as error:
        raise CommandError(str(error)) from error


class Command(BaseCommand):
    help = (
        "Create a kiosk at a location and print its token (shown once) on the last line. "
        "Without --touchpoint the kiosk stands at the location's 'main'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--location", required=True, metavar="CODE")
        parser.add_argument(
            "--touchpoint", metavar="NAME", help="entrance, checkout, fitting-room… (default: main)"
        )
        parser.add_argument("--name", default="", help="A label for people, e.g. 'by the door'.")
        parser.add_argument(
            "--organization", metavar="SLUG", help="Needed only when several chains use CODE."
        )

    def handle(self, *args, location, touchpoint, name, organization, **options):
        if len(name) > Kiosk._meta.get_field("name").max_length:
            raise CommandError("--name is longer than 120 characters.")
        place = location_from(location, organization)
        issued = services.create_kiosk(location=place, touchpoint=touchpoint, name=name.strip())
        kiosk = issued.kiosk
        self.stdout.write(
            f"Kiosk {kiosk.public_id} at {place.code} ({place.organization.slug}) · "
            f"{kiosk.touchpoint.name}. Its token, shown only now:"
        )
        self.stdout.write(issued.token)
