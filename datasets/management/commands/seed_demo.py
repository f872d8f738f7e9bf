"""Demo data for `make run`: Demo Lab with ada (researcher), grace (engineer), admin."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from datasets.models import Lab, Membership, Role

DEMO_PASSWORD = "wharf-demo"  # noqa: S105 - documented demo credential, demo settings only


class Command(BaseCommand):
    help = "Creates the demo lab and users (only on the demo settings). Safe to run again."

    def handle(self, *args, **options):
        if not settings.WHARF_DEMO:
            raise CommandError("seed_demo runs only on the demo settings, never in production.")
        with transaction.atomic():
            lab, _ = Lab.objects.get_or_create(
                slug="demo-lab",
                defaults={
                    "name": "Demo Lab",
                    "description": "A lab to try Wharf: publish a dataset to the Kaggle sandbox.",
                },
            )
            users = get_user_model().objects
            for username, role, first, last in (
                ("ada", Role.RESEARCHER, "Ada", "Lovelace"),
                ("grace", Role.ENGINEER, "Grace", "Hopper"),
            ):
                user, created = users.get_or_create(
                    username=username,
                    defaults={"first_name": first, "last_name": last,
                              "email": f"{username}@demo-lab.example"},
                )  # fmt: skip
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                Membership.objects.update_or_create(user=user, lab=lab, defaults={"role": role})
            if not users.filter(username="admin").exists():
                users.create_superuser("admin", "admin@demo-lab.example", DEMO_PASSWORD)
        self.stdout.write(self.style.SUCCESS("Demo data ready: Demo Lab, ada, grace, admin."))
