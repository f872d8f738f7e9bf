"""A lab with a researcher (ada), two engineers (grace, hopper), a Kaggle account and a
storage root on tmp_path; a second lab (mallory's) for the 404 tests; API clients that
authenticate with real tokens."""

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIClient

from datasets.api.tokens import token_create
from datasets.models import Role
from datasets.services import accounts, datasets, files, review
from tests.factories import LabFactory, member


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Uploads go to the test's own folder; the token throttle starts afresh."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    cache.clear()
    yield
    cache.clear()


def api_client(user) -> APIClient:
    client = APIClient()
    _token, raw = token_create(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


class Team:
    """One lab and its people, built through the services."""

    def __init__(self, storage: Path, owner: str):
        self.lab = LabFactory()
        self.ada = member(self.lab, Role.RESEARCHER)
        self.grace = member(self.lab, Role.ENGINEER)
        self.account = accounts.kaggle_account_create(
            self.lab,
            actor=self.grace,
            owner_slug=owner,
            username=owner,
            credential_kind="key",
            secret="wharf-test-key-1234",
        )
        self.storage = storage
        storage.mkdir(parents=True, exist_ok=True)
        with override_settings(STORAGE_ROOTS_ALLOWED_UNDER=[str(storage.parent)]):
            self.root = accounts.storage_root_create(
                self.lab, actor=self.grace, name="Project", path=str(storage)
            )

    def dataset(self, slug="ocean-temps", **fields):
        values = {
            "title": "Ocean temperatures",
            "subtitle": "Daily sea surface readings from buoys",
            "description": "Readings from **twelve** buoys.",
            "license": "CC-BY-4.0",
            "keywords": ["oceans"],
        }
        return datasets.dataset_create(
            actor=self.ada,
            lab=self.lab,
            kaggle_account=self.account,
            slug=slug,
            **{**values, **fields},
        )

    def upload(self, dataset, name="readings.csv", content=b"t,temp\n1,12.5\n"):
        return files.file_add_upload(
            dataset, actor=self.ada, uploaded_file=SimpleUploadedFile(name, content)
        )

    def submitted(self, slug="ocean-temps"):
        dataset = self.dataset(slug)
        self.upload(dataset)
        dataset.refresh_from_db()
        return review.submission_submit(dataset, actor=self.ada, version_notes="First.")


@pytest.fixture
def team(tmp_path, settings):
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path)]
    return Team(tmp_path / "storage", owner="ocean-lab")


@pytest.fixture
def rival(tmp_path):
    return Team(tmp_path / "rival-storage", owner="rival-lab")
