from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from locations import services
from locations.models import LANGUAGES, Organization


class Command(BaseCommand):
    help = (
        "Create a tenant (one chain) with the default survey in Vietnamese, Thai and English. "
        "The last line printed is the slug."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The chain's name as people know it.")
        parser.add_argument("--slug", required=True, help="Short id used in URLs and commands.")
        parser.add_argument(
            "--language",
            choices=[code for code, _ in LANGUAGES],
            default="en",
            help="Default language of kiosks and dashboards (default: en).",
        )

    def handle(self, *args, name, slug, language, **options):
        name, slug = name.strip(), slug.strip()
        if not name:
            raise CommandError("The name is empty.")
        if len(name) > Organization._meta.get_field("name").max_length:
            raise CommandError("The name is longer than 200 characters.")
        try:
            validate_slug(slug)
        except ValidationError as error:
            raise CommandError(f"--slug {slug!r}: {' '.join(error.messages)}") from error
        if len(slug) > Organization._meta.get_field("slug").max_length:
            raise CommandError("--slug is longer than 60 characters.")
        try:
            organization = services.create_organization(
                name=name, slug=slug, default_language=language
            )
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Created {organization.name} with the default survey (vi, th, en). Its slug:"
        )
        self.stdout.write(organization.slug)
