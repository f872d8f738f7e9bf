"""Demo data for `make run`: Demo Lab with ada (researcher), grace (engineer), admin."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from datasets.models import KaggleAccount, Lab, Membership, Role, StorageRoot
from datasets.services.accounts import kaggle_account_create, storage_root_create

# The sandbox's built-in account (kaggle_sandbox/README.md): user wharf-demo, a member of
# the organisation demo-lab.
SANDBOX_OWNER, SANDBOX_USER, SANDBOX_KEY = "demo-lab", "wharf-demo", "wharf-demo-key"

SAMPLE_FILES = {
    "weather/stations.csv": "station,lat,lon,elevation_m\nOSL,59.94,10.72,94\nBGO,60.38,5.33,12\n",
    "weather/readings/2026-01.csv": "station,day,temp_c\nOSL,1,-4.2\nBGO,1,3.1\n",
    "weather/readings/2026-02.csv": "station,day,temp_c\nOSL,1,-6.0\nBGO,1,2.4\n",
    "weather/README.md": "# Weather stations\n\nDaily readings from two stations.\n",
}

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
            grace = users.get(username="grace")
            if settings.KAGGLE_SANDBOX_URL and not KaggleAccount.objects.filter(lab=lab).exists():
                kaggle_account_create(
                    lab, actor=grace, owner_slug=SANDBOX_OWNER, username=SANDBOX_USER,
                    credential_kind="key", secret=SANDBOX_KEY,
                )  # fmt: skip
            storage = self._sample_storage()
            if storage and not StorageRoot.objects.filter(lab=lab).exists():
                storage_root_create(lab, actor=grace, name="Lab storage (demo)", path=str(storage))
        self.stdout.write(self.style.SUCCESS("Demo data ready: Demo Lab, ada, grace, admin."))

    def _sample_storage(self):
        """A small folder of sample data under the first allowed storage location."""
        if not settings.STORAGE_ROOTS_ALLOWED_UNDER:
            return None
        root = Path(settings.STORAGE_ROOTS_ALLOWED_UNDER[0])
        for relpath, text in SAMPLE_FILES.items():
            path = root / relpath
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        return root
