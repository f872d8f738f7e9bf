"""Building a publishable dataset through the services, as a user would, and watching
what the worker does with it."""

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from datasets import kaggle
from datasets.models import Event, JobState, PublishJob, Role
from datasets.services import accounts, datasets, files, review
from tests.conftest import wait_until
from tests.factories import LabFactory, member


class Team:
    """A lab with a researcher, an engineer, a Kaggle account and a storage root."""

    def __init__(self, storage: Path, *, owner="demo-lab", username="wharf-demo",
                 key="wharf-demo-key"):  # fmt: skip
        self.lab = LabFactory()
        self.ada = member(self.lab, Role.RESEARCHER)
        self.grace = member(self.lab, Role.ENGINEER)
        self.storage = Path(storage)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.account = accounts.kaggle_account_create(
            self.lab, actor=self.grace, owner_slug=owner, username=username,
            credential_kind="key", secret=key,
        )  # fmt: skip
        with override_settings(STORAGE_ROOTS_ALLOWED_UNDER=[str(self.storage)]):
            self.root = accounts.storage_root_create(
                self.lab, actor=self.grace, name="Project", path=str(self.storage)
            )

    def dataset(self, slug="ocean-temps", **fields):
        defaults = {
            "title": "Ocean temperatures",
            "subtitle": "Daily sea surface readings from buoys",
            "description": "Readings from **twelve** buoys.",
            "license": "CC-BY-4.0",
            "keywords": ["oceans"],
            "is_private": True,
            "folder_packaging": "zip",
        }
        return datasets.dataset_create(
            actor=self.ada, lab=self.lab, kaggle_account=self.account, slug=slug,
            **{**defaults, **fields},
        )  # fmt: skip

    def upload(self, dataset, name, content: bytes, description=""):
        return files.file_add_upload(
            dataset, actor=self.ada, uploaded_file=SimpleUploadedFile(name, content),
            description=description,
        )  # fmt: skip

    def add_storage(self, dataset, relpath, description=""):
        return files.file_add_storage(
            dataset, actor=self.ada, storage_root=self.root, relpath=relpath,
            description=description,
        )  # fmt: skip

    def submit(self, dataset, notes=""):
        dataset.refresh_from_db()
        return review.submission_submit(dataset, actor=self.ada, version_notes=notes)

    def approve(self, submission):
        return review.submission_approve(submission, actor=self.grace)


class PublishingTeam(Team):
    def dataset(self, slug, **fields):
        # One sandbox serves the session, and Kaggle wants titles unique per owner too.
        return super().dataset(slug=slug, title=f"Ocean {slug}"[:50], **fields)


def finished(job, timeout=60) -> PublishJob:
    def done():
        job.refresh_from_db()
        return job.state in JobState.final()

    wait_until(done, timeout=timeout, interval=0.2, message=f"job {job.pk} did not finish")
    return job


def actions(job) -> list[str]:
    return list(Event.objects.filter(job=job).order_by("at", "id").values_list("action", flat=True))


def kaggle_files(team, ref) -> dict:
    credentials = kaggle.credentials_for(team.account)
    return {f["name"]: f["size"] for f in kaggle.dataset_files(credentials, ref)}


def sandbox_refs(sandbox, slug) -> list[str]:
    return [d["ref"] for d in sandbox.state()["datasets"] if d["ref"].endswith(f"/{slug}")]


def make_survey(storage: Path, parts: int = 60) -> None:
    """survey/ under `storage`: answers.csv at the top and parts-1 text files under raw/
    (a folder with more entries than one page lists)."""
    raw = storage / "survey" / "raw"
    raw.mkdir(parents=True)
    (storage / "survey" / "answers.csv").write_text("id,score\n1,4\n2,5\n")
    for i in range(parts - 1):
        (raw / f"part{i:03}.txt").write_text("x" * (i + 1))
