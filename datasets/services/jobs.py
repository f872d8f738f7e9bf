"""Publish jobs: every state change of a PublishJob goes through here.

Each transition is a conditional update from the states it may start from, written with
its event in one transaction; a worker that lost a race finds nothing to update. The
work itself (staging, talking to Kaggle) is in datasets.publishing."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from datasets.models import Dataset, DatasetStatus, JobState, PublishJob, Submission
from datasets.models import SubmissionState as SState
from datasets.selectors import is_engineer
from portal.celery import enqueue

from .errors import Conflict, Forbidden
from .events import event_record

log = logging.getLogger(__name__)

RUNNING = JobState.running()
ACTIVE = JobState.active()


def job_enqueue(job_id: int) -> bool:
    """Sends the job's task; called after the transaction that queued the job commits.
    If the broker is down the job stays queued and the sweep sends it again."""
    from datasets.tasks import job_publish

    task_id = enqueue(job_publish, job_id)
    if task_id:
        PublishJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(task_id=task_id)
    return bool(task_id)


def job_create(submission: Submission, *, actor, force: bool = False) -> PublishJob:
    """Queues a job for an approved submission (one active job per dataset)."""
    try:
        with transaction.atomic():
            job = PublishJob.objects.create(
                dataset=submission.dataset, submission=submission, created_by=actor, force=force
            )
            event_record(
                "job.queued",
                job=job,
                submission=submission,
                actor=actor,
                status=DatasetStatus.APPROVED,
                data={"number": submission.number, "force": force},
            )
    except IntegrityError:
        raise Conflict(
            "A publish job for this dataset is already queued or running.", code="job_active"
        ) from None
    transaction.on_commit(lambda: job_enqueue(job.pk))
    return job


def _phases(job: PublishJob, new_state: str, now) -> dict:
    phases = dict(job.phases or {})
    if job.state in phases and "ended" not in phases[job.state]:
        phases[job.state] = {**phases[job.state], "ended": now.isoformat()}
    if new_state in RUNNING:
        phases[new_state] = {"started": now.isoformat()}
    return phases


def _transition(
    job: PublishJob,
    to: str,
    *,
    from_states,
    action: str,
    actor=None,
    data: dict | None = None,
    status: str | None = None,
    **fields,
) -> PublishJob:
    """Moves the job to `to` if it is still in one of `from_states`, with its event."""
    now = timezone.now()
    with transaction.atomic():
        current = PublishJob.objects.select_for_update().get(pk=job.pk)
        if current.state not in from_states:
            raise Conflict(
                f"Job {job.pk} is {current.get_state_display().lower()}, not "
                f"{' or '.join(from_states)}; nothing was changed.",
                code="job_state",
            )
        fields.setdefault("phases", _phases(current, to, now))
        if to in JobState.final():
            fields.setdefault("finished_at", now)
        PublishJob.objects.filter(pk=job.pk).update(state=to, **fields)
        current.refresh_from_db()
        event_record(action, job=current, actor=actor, data=data or {}, status=status)
    job.__dict__.update(current.__dict__)
    return job


def job_claim(job_id: int, *, worker: str, task_id: str) -> PublishJob | None:
    """Takes a queued job for this worker. A second delivery of the same message, or a
    message for a job another worker holds, finds nothing to claim and gets None."""
    now = timezone.now()
    claimed = PublishJob.objects.filter(
        pk=job_id, state=JobState.QUEUED, cancel_requested=False
    ).update(
        state=JobState.STAGING,
        worker=worker,
        task_id=task_id,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
    )
    if not claimed:
        return None
    job = PublishJob.objects.select_related("dataset", "submission").get(pk=job_id)
    with transaction.atomic():
        fields = {"phases": {**job.phases, JobState.STAGING: {"started": now.isoformat()}}}
        if job.started_at is None:
            fields["started_at"] = now
        PublishJob.objects.filter(pk=job.pk).update(**fields)
        event_record(
            "job.staging.started",
            job=job,
            status=DatasetStatus.PUBLISHING,
            data={"worker": worker, "attempt": job.attempts},
        )
    job.refresh_from_db()
    return job


def job_heartbeat(job_id: int, *, bytes_done: int | None = None) -> bool:
    """Marks the job alive (and its progress). False when the job is no longer running
    here, e.g. the sweep gave it to another worker."""
    fields = {"heartbeat_at": timezone.now()}
    if bytes_done is not None:
        fields["bytes_done"] = bytes_done
    return bool(PublishJob.objects.filter(pk=job_id, state__in=RUNNING).update(**fields))


def job_cancel_requested(job_id: int) -> bool:
    return PublishJob.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_staged(job: PublishJob, *, manifest: list[dict], bytes_total: int) -> PublishJob:
    return _transition(
        job, JobState.UPLOADING, from_states=[JobState.STAGING], action="job.uploading.started",
        data={"files": len(manifest), "bytes": bytes_total},
        manifest=manifest, bytes_total=bytes_total, bytes_done=0,
    )  # fmt: skip


def job_publish_requested(job: PublishJob, *, version_before: int | None) -> None:
    """Recorded (committed) before the create/version call: see PublishJob fields."""
    PublishJob.objects.filter(pk=job.pk).update(
        publish_requested_at=timezone.now(), kaggle_version_before=version_before
    )
    job.refresh_from_db(fields=["publish_requested_at", "kaggle_version_before"])


def job_uploaded(job: PublishJob, *, ref: str, url: str) -> PublishJob:
    return _transition(
        job, JobState.PROCESSING, from_states=[JobState.UPLOADING],
        action="job.processing.started", data={"ref": ref, "url": url},
        kaggle_ref=ref, kaggle_url=url, bytes_done=F("bytes_total"),
    )  # fmt: skip


def job_published(job: PublishJob, *, version: int | None, url: str) -> PublishJob:
    with transaction.atomic():
        job = _transition(
            job, JobState.PUBLISHED, from_states=[JobState.PROCESSING],
            action="job.published", status=DatasetStatus.PUBLISHED,
            data={"version": version, "url": url}, kaggle_version=version, kaggle_url=url,
        )  # fmt: skip
        Dataset.objects.filter(pk=job.dataset_id).update(
            latest_version=job.submission.number, kaggle_url=url
        )
    return job


def job_skipped(job: PublishJob) -> PublishJob:
    dataset = job.dataset
    return _transition(
        job, JobState.SKIPPED, from_states=[JobState.STAGING], action="job.skipped",
        status=DatasetStatus.PUBLISHED if dataset.latest_version else DatasetStatus.FAILED,
        data={"reason": "The files and metadata equal the last published version."},
    )  # fmt: skip


def job_retrying(job: PublishJob, *, code: str, message: str, delay: float, attempt: int):
    """Records a transient failure that will be retried (no state change)."""
    with transaction.atomic():
        event_record(
            "job.retrying",
            job=job,
            data={"code": code, "message": message, "delay": round(delay, 1), "try": attempt},
        )


def job_fail(job: PublishJob, *, code: str, message: str) -> PublishJob:
    return _transition(
        job, JobState.FAILED, from_states=RUNNING, action="job.failed",
        status=DatasetStatus.FAILED, data={"code": code, "message": message},
        error_code=code, error_message=message,
    )  # fmt: skip


def job_cancelled(job: PublishJob) -> PublishJob:
    """The worker stopped at a safe point after a cancel request."""
    return _transition(
        job, JobState.CANCELLED, from_states=RUNNING, action="job.cancelled",
        status=DatasetStatus.FAILED, data={"while": job.state},
        error_code="cancelled", error_message="Cancelled by an engineer.",
    )  # fmt: skip


def _require_engineer(actor, dataset: Dataset) -> None:
    if not is_engineer(actor, dataset.lab):
        raise Forbidden("Only the lab's data engineers may cancel or retry publishing.")


def job_cancel(job: PublishJob, *, actor) -> PublishJob:
    """Cancels a queued job at once; a running one stops at its next safe point (never
    half-way through creating the Kaggle version)."""
    _require_engineer(actor, job.dataset)
    if job.state == JobState.QUEUED:
        try:
            return _transition(
                job, JobState.CANCELLED, from_states=[JobState.QUEUED], action="job.cancelled",
                actor=actor, status=DatasetStatus.FAILED, data={"while": "queued"},
                error_code="cancelled", error_message="Cancelled by an engineer.",
            )  # fmt: skip
        except Conflict:
            job.refresh_from_db()
    if job.state not in RUNNING:
        raise Conflict(
            f"This job is {job.get_state_display().lower()}; there is nothing to cancel.",
            code="job_state",
        )
    with transaction.atomic():
        if not PublishJob.objects.filter(pk=job.pk, state__in=RUNNING).update(
            cancel_requested=True
        ):
            raise Conflict("The job finished meanwhile; nothing to cancel.", code="job_state")
        event_record("job.cancel_requested", job=job, actor=actor, data={"while": job.state})
    job.cancel_requested = True
    return job


def job_retry(job: PublishJob, *, actor, force: bool = False) -> PublishJob:
    """A new job for the same approved submission (engineers), e.g. after a failure or,
    with `force`, to publish what was skipped as unchanged."""
    _require_engineer(actor, job.dataset)
    if job.state not in (JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED):
        raise Conflict(
            f"This job is {job.get_state_display().lower()}; only a failed, cancelled or "
            "skipped job can be run again.",
            code="job_state",
        )
    submission = job.submission
    newer = job.dataset.submissions.filter(number__gte=submission.number, pk__gt=submission.pk)
    if submission.state != SState.APPROVED or newer.exists():
        raise Conflict(
            "A newer version of this dataset exists; retry that one instead.", code="stale"
        )
    if job.dataset.latest_version and job.dataset.latest_version >= submission.number:
        raise Conflict(f"Version {submission.number} is already published.", code="published")
    return job_create(submission, actor=actor, force=force or job.state == JobState.SKIPPED)


def job_requeue(job: PublishJob, *, reason: str) -> PublishJob:
    """The sweep hands a silent job back to the queue (same job, next attempt)."""
    job = _transition(
        job, JobState.QUEUED, from_states=RUNNING, action="job.requeued",
        data={"reason": reason, "attempts": job.attempts}, worker="",
        heartbeat_at=timezone.now(),  # while queued: when it was last sent
    )  # fmt: skip
    transaction.on_commit(lambda: job_enqueue(job.pk))
    return job


def jobs_sweep() -> dict:
    """Recovers jobs a worker lost: running jobs whose heartbeat stopped are requeued
    (or failed after JOB_MAX_ATTEMPTS), and queued jobs nobody took are sent again."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_AFTER)
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    for job in PublishJob.objects.filter(state__in=RUNNING, heartbeat_at__lt=stale):
        try:
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                job_fail(
                    job,
                    code="worker_lost",
                    message=f"The worker stopped answering {job.attempts} times; an engineer "
                    "can retry the job.",
                )
                counts["failed"] += 1
            else:
                job_requeue(job, reason=f"no heartbeat from {job.worker or 'its worker'}")
                counts["requeued"] += 1
        except Conflict:
            continue  # it moved on by itself meanwhile
    forgotten = now - timedelta(seconds=settings.JOB_QUEUED_STALE_AFTER)
    for job in PublishJob.objects.filter(state=JobState.QUEUED, created_at__lt=forgotten):
        if job.heartbeat_at is None or job.heartbeat_at < forgotten:
            PublishJob.objects.filter(pk=job.pk, state=JobState.QUEUED).update(heartbeat_at=now)
            job_enqueue(job.pk)
            counts["resent"] += 1
    return counts
