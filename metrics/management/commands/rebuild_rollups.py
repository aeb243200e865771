from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from locations.models import Location
from metrics.services import rebuild_rollups


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from error


class Command(BaseCommand):
    help = "Recompute rollups from raw responses (all of them, or a range of local days)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", help="last local day, YYYY-MM-DD")
        parser.add_argument("--location", help="only this location code")

    def handle(self, *args, date_from=None, date_to=None, location=None, **options):
        first = _date(date_from) if date_from else None
        last = _date(date_to) if date_to else None
        if first and last and first > last:
            raise CommandError("--from must not be after --to.")
        location_ids = None
        if location:
            location_ids = list(Location.objects.filter(code=location).values_list("pk", flat=True))
            if not location_ids:
                raise CommandError(f"No location has the code {location!r}.")
        bar = tqdm(
            total=0,
            unit="step",
            desc="rebuilding",
            file=self.stderr,
            disable=options["verbosity"] == 0,
        )

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        rows = rebuild_rollups(
            date_from=first, date_to=last, location_ids=location_ids, progress=progress
        )
        bar.close()
        self.stdout.write(f"rebuilt rollups: {rows} hourly histograms")
