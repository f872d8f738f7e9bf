"""Demo data for `make run`: Demo Lab with ada (researcher), grace (engineer), admin, and
the whole journey to look at in the first minute: one dataset published (version 1 on
the Kaggle sandbox), one version waiting for review, one returned with a reason.

The published one is published for real, not recorded: seed_demo starts the bundled
sandbox on this instance's sandbox port and data folder (the ones `make run` serves
later) and runs the publish job in this process, through the same code a worker runs.
So its Kaggle link works, its timeline is the real one, and the next version of it
is a real version 2."""

import contextlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from datasets.models import Dataset, JobState, KaggleAccount, Lab, Membership, Role, StorageRoot
from datasets.services.accounts import kaggle_account_create, storage_root_create
from datasets.services.datasets import dataset_create
from datasets.services.files import file_add_storage
from datasets.services.review import submission_approve, submission_return, submission_submit
from portal.embedded_redis import port_is_open

# The sandbox's built-in account (kaggle_sandbox/README.md): user wharf-demo, a member of
# the organisation demo-lab.
SANDBOX_OWNER, SANDBOX_USER, SANDBOX_KEY = "demo-lab", "wharf-demo", "wharf-demo-key"

SAMPLE_FILES = {
    "weather/stations.csv": "station,lat,lon,elevation_m\nOSL,59.94,10.72,94\nBGO,60.38,5.33,12\n",
    "weather/readings/2026-01.csv": "station,day,temp_c\nOSL,1,-4.2\nBGO,1,3.1\n",
    "weather/readings/2026-02.csv": "station,day,temp_c\nOSL,1,-6.0\nBGO,1,2.4\n",
    "weather/README.md": "# Weather stations\n\nDaily readings from two stations.\n",
    "buoys/temperatures.csv": "buoy,day,sea_temp_c\nB1,1,7.9\nB2,1,8.4\nB1,2,7.7\n",
    "seabirds/counts.csv": "colony,year,species,count\nRunde,2025,puffin,1200\n",
}

# The journey the demo starts with: (slug, title, subtitle, files, what happens).
JOURNEY = (
    ("north-sea-weather-stations", "North Sea weather stations",
     "Daily readings from two coastal weather stations", ["weather/stations.csv",
     "weather/readings"], "publish"),
    ("buoy-sea-temperatures", "Buoy sea temperatures",
     "Sea surface temperature from moored buoys, daily", ["buoys/temperatures.csv"], "review"),
    ("seabird-colony-counts", "Seabird colony counts",
     "Yearly counts of breeding pairs at coastal colonies", ["seabirds/counts.csv"], "return"),
)  # fmt: skip
RETURN_REASON = (
    "Please describe the columns (what does count measure: pairs or birds?) and say "
    "which colonies are included."
)

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
        if not Dataset.objects.filter(lab=lab).exists():
            self._journey(lab, users.get(username="ada"), grace)
        self.stdout.write(self.style.SUCCESS("Demo data ready: Demo Lab, ada, grace, admin."))

    # --- the journey ------------------------------------------------------------------
    def _journey(self, lab, ada, grace):
        account = KaggleAccount.objects.filter(lab=lab, owner_slug=SANDBOX_OWNER).first()
        root = StorageRoot.objects.filter(lab=lab).first()
        if not settings.KAGGLE_SANDBOX_URL or account is None or root is None:
            # The journey publishes: only ever into the sandbox, never to kaggle.com.
            self.stdout.write("No Kaggle sandbox or no lab storage: no demo datasets.")
            return
        to_publish = []
        for slug, title, subtitle, paths, outcome in JOURNEY:
            dataset = dataset_create(
                actor=ada, lab=lab, kaggle_account=account, slug=slug, title=title,
                subtitle=subtitle, license="CC-BY-4.0", keywords=["earth and nature"],
                description=f"{subtitle}. Demo data that ships with Wharf.",
                is_private=True, folder_packaging="zip",
            )  # fmt: skip
            for relpath in paths:
                file_add_storage(dataset, actor=ada, storage_root=root, relpath=relpath)
            dataset.refresh_from_db()
            submission = submission_submit(dataset, actor=ada, version_notes="First version.")
            if outcome == "return":
                submission_return(submission, actor=grace, reason=RETURN_REASON)
            elif outcome == "publish":
                to_publish.append(submission_approve(submission, actor=grace, note="Looks good."))
        for job in to_publish:
            self._publish(job)

    def _publish(self, job):
        """Runs the job here, against the sandbox `make run` will serve, as a worker would."""
        from datasets.publishing import job_run

        port = getattr(settings, "KAGGLE_SANDBOX_PORT", None)
        if port and port_is_open(port):
            # Something already listens there, maybe another instance's sandbox: never
            # publish into it. The job stays queued; once `make run` is up, the sweep
            # sends it to this instance's publish worker.
            self.stdout.write(
                f"Port {port} (the Kaggle sandbox) is taken: the demo's first publish waits "
                "in the queue for `make run` (set WHARF_PORT to move this instance)."
            )
            return
        with self._sandbox(port):
            job_run(job.pk, task_id=f"seed-demo-{job.pk}", worker="seed_demo")
        job.refresh_from_db()
        if job.state == JobState.PUBLISHED:
            self.stdout.write(f"Published {job.dataset.ref} version 1 on the Kaggle sandbox.")
        else:
            # The job and its history stay as they are: the demo shows a failed job, and
            # the engineer can retry it once `make run` is up.
            self.stderr.write(f"The demo publish ended {job.state}: {job.error_message}")

    @contextlib.contextmanager
    def _sandbox(self, port):
        from kaggle_sandbox.testing import run_sandbox

        if not port:  # real Kaggle credentials: no sandbox
            yield
            return
        data_dir = Path(settings.DATA_DIR) / "kaggle-sandbox"
        with run_sandbox(data_dir, port=port, processing_delay=0.5):
            yield

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
