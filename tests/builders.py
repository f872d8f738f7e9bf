"""Building a publishable dataset through the services, as a user would."""

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from datasets.models import Role
from datasets.services import accounts, datasets, files, review
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
