from django.core.management.base import BaseCommand, CommandError

from surveys.privacy import erase_person


class Command(BaseCommand):
    help = (
        "Erase a customer's contact details on their request (by e-mail and/or phone). "
        "Their answers and comments stay; only name, e-mail and phone go."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", default="")
        parser.add_argument("--phone", default="")

    def handle(self, *args, email, phone, **options):
        if not email and not phone:
            raise CommandError("Give --email and/or --phone.")
        erased = erase_person(email=email, phone=phone)
        self.stdout.write(f"erased the contact details of {erased} response(s)")
