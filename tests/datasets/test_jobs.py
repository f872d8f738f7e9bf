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
    assert jobs.job_watch(job.pk, attempt=1) == (True, True)


def test_a_cancel_after_the_create_was_asked_for_is_refused_with_the_reason(job, team):
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_staged(job, manifest=[], bytes_total=0)
    jobs.job_publish_requested(job, version_before=3, status_before="ready")
    with pytest.raises(Conflict) as refused:
        jobs.job_cancel(job, actor=team.grace)
    assert "Kaggle is already creating version 4" in refused.value.message
    job.refresh_from_db()
    assert not job.cancel_requested and not job.can_cancel
    assert not Event.objects.filter(job=job, action="job.cancel_requested").exists()


def test_a_cancel_that_came_first_stops_the_create_request(job, team):
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_cancel(job, actor=team.grace)
    with pytest.raises(Conflict) as refused:
        jobs.job_publish_requested(job, version_before=None)
    assert refused.value.code == "job_cancelled"
    job.refresh_from_db()
    assert job.publish_requested_at is None


def test_f17_a_requeued_attempt_fences_off_the_old_worker(job, django_capture_on_commit_callbacks):
    """Race 1: after the sweep hands the job to worker B, worker A's heartbeat and its
    transitions change nothing, and A learns it lost the job."""
    a = jobs.job_claim(job.pk, worker="A", task_id="t1")
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert jobs.jobs_sweep()["requeued"] == 1
    b = jobs.job_claim(job.pk, worker="B", task_id="t2")
    assert b.attempts == 2
    stale_a = PublishJob.objects.get(pk=job.pk)
    stale_a.attempts = a.attempts  # what A holds in memory
    assert not jobs.job_heartbeat(job.pk, attempt=1, bytes_done=99)
    assert jobs.job_watch(job.pk, attempt=1) == (False, False)
    with pytest.raises(jobs.JobLost):
        jobs.job_staged(stale_a, manifest=[], bytes_total=0)
    with pytest.raises(jobs.JobLost):
        jobs.job_publish_requested(stale_a, version_before=1)
    with pytest.raises(jobs.JobLost):
        jobs.job_fail(stale_a, code="x", message="y", attempt=1)
    job.refresh_from_db()
    assert job.state == JobState.STAGING and job.worker == "B" and job.bytes_done == 0
    assert job.publish_requested_at is None
    assert jobs.job_heartbeat(job.pk, attempt=2, bytes_done=5)


def test_f19_a_cancel_requested_job_whose_worker_died_is_cancelled_by_the_sweep(job, team):
    """Race 3: the sweep no longer re-sends it forever; the dataset is free again."""
    jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_cancel(job, actor=team.grace)
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs.jobs_sweep()["cancelled"] == 1
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and job.error_code == "cancelled"
    assert Event.objects.get(job=job, action="job.cancelled").data["by"] == "sweep"


def test_f20_the_sweep_rechecks_the_heartbeat_under_the_row_lock(job):
    """Race 4: a heartbeat that lands after the sweep picked the job keeps it running."""
    jobs.job_claim(job.pk, worker="w", task_id="t")
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    stale = timezone.now() - timedelta(minutes=5)
    assert jobs.job_heartbeat(job.pk, attempt=1)  # lands between the pick and the lock
    assert jobs._recover(job.pk, stale) is None
    job.refresh_from_db()
    assert job.state == JobState.STAGING and job.attempts == 1


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
    assert jobs.job_heartbeat(job.pk, attempt=1, bytes_done=10)
    jobs.job_fail(job, code="x", message="y")
    assert not jobs.job_heartbeat(job.pk, attempt=1, bytes_done=20)


def test_a_requeued_job_whose_create_was_sent_cannot_be_cancelled(
    job, team, django_capture_on_commit_callbacks
):
    job = jobs.job_claim(job.pk, worker="w", task_id="t")
    jobs.job_staged(job, manifest=[], bytes_total=0)
    jobs.job_publish_requested(job, version_before=None)
    PublishJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert jobs.jobs_sweep()["requeued"] == 1
    with pytest.raises(Conflict) as refused:
        jobs.job_cancel(job, actor=team.grace)
    assert "Kaggle is already creating the dataset" in refused.value.message
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
