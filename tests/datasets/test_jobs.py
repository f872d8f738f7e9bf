"""Publish job state changes (datasets.services.jobs), without a worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import DatasetStatus, Event, JobState, PublishJob
from datasets.services import jobs
from datasets.services.errors import Conflict, Forbidden
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


@pytest.fixture
def job(team, django_capture_on_commit_callbacks):
    dataset = team.dataset()
    team.upload(dataset, "a.csv", b"x,y\n1,2\n")
    submission = team.submit(dataset)
    with django_capture_on_commit_callbacks(execute=False):
        return team.approve(submission)


def test_approving_queues_one_job_and_the_dataset_says_approved(job):
    assert job.state == JobState.QUEUED
    job.dataset.refresh_from_db()
    assert job.dataset.status == DatasetStatus.APPROVED
    assert Event.objects.filter(job=job, action="job.queued").count() == 1


def test_a_second_active_job_for_the_dataset_is_refused(job, team):
    with pytest.raises(Conflict):
        jobs.job_create(job.submission, actor=team.grace)
    assert PublishJob.objects.filter(dataset=job.dataset).count() == 1


def test_claiming_twice_gives_the_job_to_one_worker(job):
    first = jobs.job_claim(job.pk, worker="w1", task_id="t1")
    second = jobs.job_claim(job.pk, worker="w2", task_id="t1")
    assert first is not None and first.state == JobState.STAGING and first.attempts == 1
    assert second is None
    job.refresh_from_db()
    assert job.worker == "w1"
    job.dataset.refresh_from_db()
    assert job.dataset.status == DatasetStatus.PUBLISHING


def test_a_transition_from_the_wrong_state_is_refused(job):
    with pytest.raises(Conflict):
        jobs.job_uploaded(job, ref="demo-lab/ocean-temps", url="")
    job.refresh_from_db()
    assert job.state == JobState.QUEUED


def test_cancelling_a_queued_job_is_immediate(job, team):
    jobs.job_cancel(job, actor=team.grace)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert jobs.job_claim(job.pk, worker="w", task_id="t") is None


def test_cancelling_a_running_job_asks_the_worker(job, team):
    jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_cancel(job, actor=team.grace)
    job.refresh_from_db()
    assert job.state == JobState.STAGING and job.cancel_requested
    assert jobs.job_cancel_requested(job.pk)


def test_researchers_cannot_cancel_or_retry(job, team):
    with pytest.raises(Forbidden):
        jobs.job_cancel(job, actor=team.ada)
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_fail(job, code="x", message="y")
    with pytest.raises(Forbidden):
        jobs.job_retry(job, actor=team.ada)


def test_retrying_a_failed_job_makes_a_new_job(job, team, django_capture_on_commit_callbacks):
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_fail(job, code="kaggle_unavailable", message="Kaggle answered 503.")
    job.dataset.refresh_from_db()
    assert job.dataset.status == DatasetStatus.FAILED
    with django_capture_on_commit_callbacks(execute=False):
        again = jobs.job_retry(job, actor=team.grace)
    assert again.pk != job.pk and again.state == JobState.QUEUED
    assert again.submission_id == job.submission_id


def test_a_running_job_cannot_be_retried(job, team):
    with pytest.raises(Conflict):
        jobs.job_retry(job, actor=team.grace)


def test_sweep_requeues_a_silent_job_then_fails_it(
    job, settings, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 2
    long_ago = timezone.now() - timedelta(minutes=10)
    jobs.job_claim(job.pk, worker="w1", task_id="t")
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert jobs.jobs_sweep()["requeued"] == 1
    assert len(callbacks) == 1  # the job is sent again once the requeue commits
    job.refresh_from_db()
    assert job.state == JobState.QUEUED

    jobs.job_claim(job.pk, worker="w2", task_id="t2")
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)
    assert jobs.jobs_sweep()["failed"] == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_code == "worker_lost"
    actions = list(Event.objects.filter(job=job).values_list("action", flat=True))
    assert actions.count("job.requeued") == 1 and "job.failed" in actions


def test_heartbeat_of_a_finished_job_reports_it_lost(job):
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    assert jobs.job_heartbeat(job.pk, bytes_done=10)
    jobs.job_fail(job, code="x", message="y")
    assert not jobs.job_heartbeat(job.pk, bytes_done=20)
