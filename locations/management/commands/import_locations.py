from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from locations import imports
from locations.models import Organization


class Command(BaseCommand):
    help = (
        "Create or update an organization's locations from a .csv (UTF-8) or .xlsx file with "
        "the columns code, name, region, timezone (an IANA zone such as Asia/Ho_Chi_Minh; "
        "region may be empty). Rows are matched by code, so re-running updates and never "
        "duplicates; regions are created as needed. Every row is checked first: one bad row "
        "imports nothing. Locations absent from the file are left as they are, never "
        "deactivated. The last line printed is 'created N, updated N, unchanged N'."
    )
    import_rows = staticmethod(imports.import_locations)

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, metavar="SLUG")
        parser.add_argument("file", metavar="FILE", help=".csv or .xlsx")

    def handle(self, *args, organization, file, **options):
        tenant = Organization.objects.filter(slug=organization).first()
        if tenant is None:
            raise CommandError(f"No organization has the slug {organization!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            rows = imports.read_table(path, path.name)
        except imports.ImportFailed as failure:
            raise CommandError(" ".join(failure.errors)) from failure
        try:
            summary = self.import_rows(organization=tenant, rows=rows)
        except imports.ImportFailed as failure:
            for error in failure.errors:
                self.stderr.write(error)
            raise CommandError(
                f"{len(failure.errors)} problem(s) in {path.name}; nothing was imported."
            ) from failure
        self.stdout.write(f"Imported {len(rows)} row(s) of {path.name} into {tenant.slug}.")
        self.stdout.write(str(summary))
