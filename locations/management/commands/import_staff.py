from locations import imports

from .import_locations import Command as ImportLocationsCommand


class Command(ImportLocationsCommand):
    help = (
        "Create or update an organization's staff from a .csv (UTF-8) or .xlsx file with the "
        "columns location, code, name (location: an existing location code). Rows are matched "
        "by staff code, so re-running updates and never duplicates, and a member listed at "
        "another location moves there. Every row is checked first: one bad row imports "
        "nothing. Staff absent from the file are left as they are, never deactivated. The "
        "last line printed is 'created N, updated N, unchanged N'."
    )
    import_rows = staticmethod(imports.import_staff)
