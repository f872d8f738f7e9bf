"""End to end: a scheduled check with the auto-approve policy sees a new file on lab
storage and a real worker publishes the new version into the Kaggle sandbox."""

import os
import time

import pytest

from datasets import kaggle, tasks
from datasets.models import CheckResult, JobState, PublishJob
from datasets.services import schedules
from tests.continuous import StorageTeam, install_scan_verdict
from tests.datasets.test_publishing import finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def age(path, seconds=3600):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_new_file_on_storage_is_published_by_policy_without_anyone_clicking(
    tmp_path, kaggle_sandbox, celery_worker, monkeypatch
):
    kaggle_sandbox.clear_faults()
    install_scan_verdict(monkeypatch, {"value": True})
    team = StorageTeam(tmp_path / "storage")
    folder = team.storage / "stations"
    folder.mkdir()
    (folder / "osl.csv").write_text("day,temp\n1,-4.2\n")
    age(folder / "osl.csv")
    dataset = team.storage_dataset(slug="continuous-stations", title="Continuous stations")
    team.add_storage(dataset, "stations")
    first = finished(team.approve(team.submit(dataset)))
    assert first.state == JobState.PUBLISHED, first.error_message
    schedules.schedule_save(
        dataset, actor=team.grace, interval_minutes=1, policy="auto_approve",
        quiet_period_seconds=5,
    )  # fmt: skip

    (folder / "bgo.csv").write_text("day,temp\n1,3.1\n")
    assert tasks.dataset_check_changes(dataset.pk) == CheckResult.WAITING
    age(folder / "bgo.csv", 60)
    assert tasks.dataset_check_changes(dataset.pk) == CheckResult.AUTO_APPROVED

    job = finished(PublishJob.objects.get(submission__number=2))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.kaggle_version == 2 and job.submission.approved_by_policy == "auto"
    assert "stations/bgo.csv" in job.submission.version_notes
    credentials = kaggle.credentials_for(team.account)
    names = {f["name"] for f in kaggle.dataset_files(credentials, dataset.ref)}
    assert {"stations/osl.csv", "stations/bgo.csv"} <= names
    assert tasks.dataset_check_changes(dataset.pk) == CheckResult.UNCHANGED
