import time

from django.core.management.base import BaseCommand, CommandError

from locations.services import ServiceError
from surveys import demo


class Command(BaseCommand):
    help = (
        "Create the demo café chain (Hà Nội, TP. Hồ Chí Minh, Bangkok) with weeks of kiosk "
        "feedback, and print its logins. Run again: prints the logins; --reset rebuilds it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=demo.DEFAULT_DAYS,
            help=f"Days of responses, ending today (default {demo.DEFAULT_DAYS}).",
        )
        parser.add_argument(
            "--per-day",
            type=int,
            default=demo.DEFAULT_PER_DAY,
            help=f"Average responses per store per day (default {demo.DEFAULT_PER_DAY}).",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo organization, its data and its logins first.",
        )

    def handle(self, *args, days, per_day, reset, **options):
        started = time.monotonic()
        try:
            seeded = demo.seed_demo(
                days=days, per_day=per_day, reset=reset, progress=self._progress
            )
        except (demo.DemoError, ServiceError) as error:
            raise CommandError(str(error)) from error
        if seeded.created:
            self.stdout.write(
                f"Seeded {seeded.organization.name} ({seeded.organization.slug}): "
                f"{seeded.stores} stores, {seeded.staff} staff, {seeded.kiosks} kiosks, "
                f"{seeded.responses} responses over {days} days "
                f"in {time.monotonic() - started:.1f} s."
            )
        else:
            self.stdout.write(
                f"The demo organization {seeded.organization.name} ({seeded.organization.slug}) "
                "already exists; left as it is (--reset rebuilds it)."
            )
        self.stdout.write("Sign in at /admin/ (e.g. http://127.0.0.1:8000/admin/ with runserver):")
        for login in demo.LOGINS:
            self.stdout.write(f"{login.label}: {login.email} / {login.password}")

    def _progress(self, location, responses: int) -> None:
        self.stdout.write(f"  {location.code} {location.name}: {responses} responses")
