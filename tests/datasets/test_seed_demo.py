"""`seed_demo` (make run): the demo lab starts with the whole journey, and its published
dataset is published for real, into a sandbox on the instance's own port and folder."""

import pytest
from django.core.management import call_command

from datasets.models import Dataset, DatasetStatus, JobState, PublishJob, SubmissionState
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_the_demo_starts_with_one_published_one_waiting_and_one_returned(
    transactional_db, tmp_path, settings, monkeypatch
):
    # `make run` seeds before its broker and workers start. Here a worker of an earlier
    # test may be listening on the session's broker: keep the message from it, or it
    # would claim the job and (rightly) fence off the publish seed_demo runs itself.
    monkeypatch.setattr("datasets.services.jobs.enqueue", lambda *args, **kwargs: None)
    port = free_port()
    settings.DATA_DIR = tmp_path
    settings.STAGING_ROOT = tmp_path / "staging"
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path / "lab-storage")]
    settings.KAGGLE_SANDBOX_PORT = port
    settings.KAGGLE_SANDBOX_URL = f"http://127.0.0.1:{port}"

    call_command("seed_demo")

    status = dict(Dataset.objects.values_list("slug", "status"))
    assert status == {
        "north-sea-weather-stations": DatasetStatus.PUBLISHED,
        "buoy-sea-temperatures": DatasetStatus.IN_REVIEW,
        "seabird-colony-counts": DatasetStatus.RETURNED,
    }
    job = PublishJob.objects.get()
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.kaggle_version == 1
    assert job.kaggle_url.startswith(f"http://127.0.0.1:{port}/")
    # What the sandbox stored stays in this instance's folder, for `make run` to serve.
    assert any((tmp_path / "kaggle-sandbox").rglob("*"))
    returned = Dataset.objects.get(slug="seabird-colony-counts").submissions.get()
    assert returned.state == SubmissionState.RETURNED and "columns" in returned.review_note

    call_command("seed_demo")  # again: nothing new
    assert Dataset.objects.count() == 3 and PublishJob.objects.count() == 1
