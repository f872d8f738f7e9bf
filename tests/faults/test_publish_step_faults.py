"""Kaggle acting while its answer is lost, and a job dying between its two steps
(F27–F29 in docs/RELIABILITY.md): every case ends with exactly one Kaggle dataset and
the right number of versions."""

import os
import signal

import pytest

from datasets import kaggle
from datasets.models import JobPlan, JobState
from datasets.services import datasets as datasets_service
from datasets.services import jobs
from tests.builders import actions, finished, sandbox_refs
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def versions(sandbox, ref) -> int:
    return len((sandbox.dataset(ref) or {}).get("versions") or [])


def test_f27_files_and_metadata_killed_between_the_steps(team, kaggle_sandbox, own_workers):
    """The version is made, the worker dies during the metadata update: the next attempt
    finishes the update and never makes a second version."""
    worker = own_workers()
    dataset = team.dataset(slug="f27-between-steps")
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
    datasets_service.dataset_update(dataset, actor=team.ada, title="Ocean f27 renamed")
    team.upload(dataset, "more.csv", b"c,d\n3,4\n")
    kaggle_sandbox.inject_fault("UpdateDatasetMetadata", "hang", 1, seconds=30)
    job = team.approve(team.submit(dataset, notes="More, renamed"))

    def updating():
        job.refresh_from_db()
        return job.metadata_requested_at is not None

    wait_until(updating, timeout=60, interval=0.05)
    assert job.plan == JobPlan.VERSION_METADATA
    for pid in worker.pool_children():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: jobs.jobs_sweep()["requeued"] or None, timeout=30, interval=0.5)
    job = finished(job, timeout=90)
    kaggle_sandbox.clear_faults()
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert job.attempts == 2 and job.metadata_updated_at
    assert versions(kaggle_sandbox, dataset.ref) == 2
    kaggle_now = kaggle.dataset_read(kaggle.credentials_for(team.account), dataset.ref)
    assert kaggle_now["metadata"]["title"] == "Ocean f27 renamed"
    assert kaggle_now["current_version_number"] == 2 == job.kaggle_version


@pytest.mark.parametrize("resent_uploads", ["refuse", "duplicate"])
def test_f28_a_lost_answer_to_a_version_makes_one_version(team, kaggle_sandbox, resent_uploads):
    """Kaggle made the version, then the connection dropped. Wharf looks before sending
    again, whatever Kaggle would do with a re-send of the same tokens."""
    before = kaggle_sandbox.settings()["resent_uploads"]
    kaggle_sandbox.configure(resent_uploads=resent_uploads)
    try:
        dataset = team.dataset(slug=f"f28-lost-answer-{resent_uploads}")
        team.upload(dataset, "data.csv", b"a,b\n1,2\n")
        assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
        team.upload(dataset, "more.csv", b"c,d\n3,4\n")
        kaggle_sandbox.inject_fault("CreateDatasetVersion", "act_then_drop", 1)
        job = finished(team.approve(team.submit(dataset, notes="Another version")), timeout=90)
    finally:
        kaggle_sandbox.clear_faults()
        kaggle_sandbox.configure(resent_uploads=before)
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert versions(kaggle_sandbox, dataset.ref) == 2
    assert job.kaggle_version == 2
    assert "job.retrying" in actions(job)


@pytest.mark.parametrize("method", ["CreateDataset", "CreateDatasetVersion"])
def test_f29_a_refusal_whose_dataset_exists_is_recognised(team, kaggle_sandbox, method):
    """kaggle-cli #399: Kaggle answers with an error although it acted. Wharf looks
    before failing and follows what Kaggle made."""
    dataset = team.dataset(slug=f"f29-refused-yet-{method.lower()}"[:50])
    team.upload(dataset, "data.csv", b"a,b\n1,2\n")
    expected = 1
    if method == "CreateDatasetVersion":
        assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
        team.upload(dataset, "more.csv", b"c,d\n3,4\n")
        expected = 2
    kaggle_sandbox.inject_fault(method, "act_then_refuse", 1)
    job = finished(team.approve(team.submit(dataset, notes="Another version")), timeout=90)
    kaggle_sandbox.clear_faults()
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == [dataset.ref]
    assert versions(kaggle_sandbox, dataset.ref) == expected == job.kaggle_version
