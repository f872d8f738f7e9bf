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

from datasets import notifications
from datasets.models import Dataset, DatasetStatus, JobPlan, JobState, PublishJob, Submission
from datasets.models import SubmissionState as SState
from portal.celery import enqueue

from .errors import Conflict
from .events import event_record
from .roles import require_engineer

log = logging.getLogger(__name__)

RUNNING = JobState.running()
ACTIVE = JobState.active()


class JobLost(Conflict):
    """A worker-side write from an attempt that is no longer the job's current one."""


def job_enqueue(job_id: int) -> bool:
    """Sends the job's task; called after the transaction that queued the job commits.
    If the broker is down the job stays queued and the sweep sends it again."""
    task_id = enqueue("datasets.tasks.job_publish", job_id)
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
    attempt: int | None = None,
    **fields,
) -> PublishJob:
    """Moves the job to `to` if it is still in one of `from_states` (and, for a worker's
    transition, still in the worker's `attempt`), with its event."""
    now = timezone.now()
    with transaction.atomic():
        current = PublishJob.objects.select_for_update().get(pk=job.pk)
        if current.state not in from_states:
            raise Conflict(
                f"Job {job.pk} is {current.get_state_display().lower()}, not "
                f"{' or '.join(from_states)}; nothing was changed.",
                code="job_state",
            )
        if attempt is not None and current.attempts != attempt:
            raise JobLost(
                f"Job {job.pk} is in attempt {current.attempts}, not {attempt}; this worker "
                "lost it and changes nothing.",
                code="job_lost",
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
    """Takes a queued job for this worker and starts a new attempt; `job.attempts` is the
    attempt's fencing token, which every later worker-side write names. A second delivery
    of the same message, or a message for a job another worker holds, gets None."""
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
        PublishJob.objects.filter(pk=job.pk, attempts=job.attempts).update(**fields)
        event_record(
            "job.staging.started",
            job=job,
            status=DatasetStatus.PUBLISHING,
            data={"worker": worker, "attempt": job.attempts},
        )
    job.refresh_from_db()
    return job


def _ours(job: PublishJob):
    """The job as long as it is still this attempt's: the fencing filter."""
    return PublishJob.objects.filter(pk=job.pk, attempts=job.attempts, state__in=RUNNING)


def job_heartbeat(job_id: int, *, attempt: int, bytes_done: int | None = None) -> bool:
    """Marks the attempt alive (and its progress). False when the job is no longer this
    attempt's: finished, cancelled, or handed to another worker by the sweep."""
    fields = {"heartbeat_at": timezone.now()}
    if bytes_done is not None:
        fields["bytes_done"] = bytes_done
    return bool(
        PublishJob.objects.filter(pk=job_id, attempts=attempt, state__in=RUNNING).update(**fields)
    )


def job_watch(job_id: int, *, attempt: int) -> tuple[bool, bool]:
    """(still ours, cancel requested), one cheap read the worker makes every second."""
    row = (
        PublishJob.objects.filter(pk=job_id)
        .values_list("attempts", "state", "cancel_requested")
        .first()
    )
    if row is None:
        return False, False
    attempts, state, cancel = row
    return attempts == attempt and state in RUNNING, cancel


def job_cancel_requested(job_id: int) -> bool:
    return PublishJob.objects.filter(pk=job_id, cancel_requested=True).exists()


def job_staged(
    job: PublishJob, *, manifest: list[dict], bytes_total: int, plan: str = JobPlan.VERSION
) -> PublishJob:
    return _transition(
        job, JobState.UPLOADING, from_states=[JobState.STAGING], action="job.uploading.started",
        data={"files": len(manifest), "bytes": bytes_total, "plan": plan},
        manifest=manifest, bytes_total=bytes_total, bytes_done=0, plan=plan,
        attempt=job.attempts,
    )  # fmt: skip


def _mark(job: PublishJob, field_names: list[str], *, refuse_cancelled: bool, **fields) -> None:
    """A fenced write of step markers: only this attempt, only while running, and (for the
    point of no return) only if no cancel was asked for first."""
    rows = _ours(job)
    if refuse_cancelled:
        rows = rows.filter(cancel_requested=False)
    with transaction.atomic():
        if not rows.update(**fields):
            current = PublishJob.objects.filter(pk=job.pk).first()
            if (
                current is not None
                and current.attempts == job.attempts
                and (current.state in RUNNING and current.cancel_requested)
            ):
                raise Conflict("Cancelled before Kaggle was asked.", code="job_cancelled")
            raise JobLost(f"Job {job.pk} is no longer this attempt's.", code="job_lost")
    job.refresh_from_db(fields=field_names)


def job_publish_requested(
    job: PublishJob, *, version_before: int | None, status_before: str = ""
) -> None:
    """Recorded (committed) before the create/version call: the point of no return. It
    and job_cancel exclude each other: a cancel that came first wins (Conflict
    "job_cancelled" here), after this a cancel is refused with the reason."""
    _mark(
        job, ["publish_requested_at", "kaggle_version_before", "kaggle_status_before"],
        refuse_cancelled=True, publish_requested_at=timezone.now(),
        kaggle_version_before=version_before, kaggle_status_before=status_before,
    )  # fmt: skip


def job_metadata_requested(job: PublishJob) -> None:
    """Recorded before UpdateDatasetMetadata (a metadata-only job's point of no return)."""
    fields = ["metadata_requested_at"]
    if job.metadata_requested_at:
        return
    _mark(job, fields, refuse_cancelled=True, metadata_requested_at=timezone.now())


def job_metadata_updated(job: PublishJob) -> None:
    with transaction.atomic():
        _mark(job, ["metadata_updated_at"], refuse_cancelled=False,
              metadata_updated_at=timezone.now())  # fmt: skip
        event_record("job.metadata.updated", job=job, data={"ref": job.kaggle_ref})


def job_uploaded(
    job: PublishJob, *, ref: str, url: str, invalid_tags: list[str] | None = None
) -> PublishJob:
    data = {"ref": ref, "url": url}
    if invalid_tags:
        data["invalid_tags"] = invalid_tags
    job = _transition(
        job, JobState.PROCESSING, from_states=[JobState.UPLOADING],
        action="job.processing.started", data=data, attempt=job.attempts,
        kaggle_ref=ref, kaggle_url=url, bytes_done=F("bytes_total"),
        **({"invalid_tags": invalid_tags} if invalid_tags else {}),
    )  # fmt: skip
    if invalid_tags:
        with transaction.atomic():
            event_record("job.invalid_tags", job=job, data={"invalid_tags": invalid_tags})
    return job


def job_published(
    job: PublishJob, *, version: int | None, url: str, differences: list[str] | None = None
) -> PublishJob:
    differences = list(differences or [])
    data = {"version": version, "url": url}
    if differences:
        data["differences"] = differences
    with transaction.atomic():
        job = _transition(
            job, JobState.PUBLISHED, from_states=[JobState.PROCESSING],
            action="job.published", status=DatasetStatus.PUBLISHED, data=data,
            kaggle_version=version, kaggle_url=url, differences=differences,
            attempt=job.attempts,
        )  # fmt: skip
        Dataset.objects.filter(pk=job.dataset_id).update(
            latest_version=job.submission.number, kaggle_url=url, kaggle_version=version
        )
        transaction.on_commit(lambda: notifications.job_finished(job.pk))
    return job


def job_skipped(job: PublishJob) -> PublishJob:
    dataset = job.dataset
    return _transition(
        job, JobState.SKIPPED, from_states=[JobState.STAGING], action="job.skipped",
        status=DatasetStatus.PUBLISHED if dataset.latest_version else DatasetStatus.FAILED,
        data={"reason": "The files and metadata equal the last published version."},
        attempt=job.attempts,
    )  # fmt: skip


def _lock_job_first(job: PublishJob) -> None:
    """Takes the job's row lock before an event touches the dataset's row: the order
    every transition takes them in. A job's upload threads record events while its
    main thread moves it; in any other order PostgreSQL finds a deadlock."""
    PublishJob.objects.select_for_update().filter(pk=job.pk).values_list("pk").first()


def job_retrying(job: PublishJob, *, code: str, message: str, delay: float, attempt: int):
    """Records a transient failure that will be retried (no state change)."""
    with transaction.atomic():
        _lock_job_first(job)
        event_record(
            "job.retrying",
            job=job,
            data={"code": code, "message": message, "delay": round(delay, 1), "try": attempt},
        )


def job_upload_sessions_save(job: PublishJob, sessions: dict) -> bool:
    """Keeps the attempt's Kaggle upload sessions (see PublishJob.upload_sessions) with the
    job. Fenced: False when the job is no longer this attempt's."""
    return bool(_ours(job).update(upload_sessions=sessions))


def job_upload_restarted(job: PublishJob, *, name: str, size: int, reason: str) -> None:
    """Records that a file's upload could not resume and starts from its first byte."""
    with transaction.atomic():
        _lock_job_first(job)
        event_record("job.upload.restarted", job=job,
                     data={"path": name, "size": size, "reason": reason})  # fmt: skip


def job_fail(job: PublishJob, *, code: str, message: str, attempt: int | None = None) -> PublishJob:
    """Fails a running job: from its worker (`attempt` given, fenced) or from the sweep."""
    job = _transition(
        job, JobState.FAILED, from_states=RUNNING, action="job.failed",
        status=DatasetStatus.FAILED, data={"code": code, "message": message},
        error_code=code, error_message=message, attempt=attempt,
    )  # fmt: skip
    transaction.on_commit(lambda: notifications.job_finished(job.pk))
    return job


def job_cancelled(job: PublishJob, *, attempt: int | None = None, by: str = "") -> PublishJob:
    """The worker stopped after a cancel request, before Kaggle was asked (or the sweep
    found the cancel-requested job's worker dead)."""
    data = {"while": job.state}
    if by:
        data["by"] = by
    return _transition(
        job, JobState.CANCELLED, from_states=RUNNING, action="job.cancelled",
        status=DatasetStatus.FAILED, data=data, attempt=attempt,
        error_code="cancelled", error_message="Cancelled by an engineer.",
    )  # fmt: skip


def job_cancel(job: PublishJob, *, actor) -> PublishJob:
    """Cancels a queued job at once. A running one is cancelled while nothing has been
    asked of Kaggle yet: its worker kills the client within a second or two and nothing
    is created. Once the create/version/metadata request may have reached Kaggle the
    cancel is refused with the reason (Kaggle would act anyway)."""
    require_engineer(actor, job.dataset.lab, "cancel or retry publishing")
    job.refresh_from_db()
    # A requeued job whose earlier attempt already asked Kaggle is not cancellable: the
    # check below refuses it with the reason. (No attempt runs while it is queued, and
    # a fenced-off one cannot set the markers, so they cannot change meanwhile.)
    if job.state == JobState.QUEUED and not job.kaggle_acting:
        try:
            return _transition(
                job, JobState.CANCELLED, from_states=[JobState.QUEUED], action="job.cancelled",
                actor=actor, status=DatasetStatus.FAILED, data={"while": "queued"},
                error_code="cancelled", error_message="Cancelled by an engineer.",
            )  # fmt: skip
        except Conflict:
            job.refresh_from_db()
    with transaction.atomic():
        current = PublishJob.objects.select_for_update().get(pk=job.pk)
        refusal = current.cancel_refusal
        if refusal:
            code = "job_state" if current.state not in RUNNING else "kaggle_acting"
            raise Conflict(refusal, code=code)
        # The row lock orders this against job_publish_requested (which also refuses a
        # cancel-requested job): exactly one of the two wins.
        PublishJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        event_record("job.cancel_requested", job=current, actor=actor,
                     data={"while": current.state})  # fmt: skip
    job.refresh_from_db()
    return job


def job_retry(job: PublishJob, *, actor, force: bool = False) -> PublishJob:
    """A new job for the same approved submission (engineers), e.g. after a failure or,
    with `force`, to publish what was skipped as unchanged."""
    require_engineer(actor, job.dataset.lab, "cancel or retry publishing")
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


def _recover(job_id: int, stale) -> str | None:
    """Decides a silent job's fate under its row lock, so a heartbeat that landed after
    the sweep's first look wins: nothing happens to a job that is alive again."""
    with transaction.atomic():
        job = PublishJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in RUNNING:
            return None
        if job.heartbeat_at is not None and job.heartbeat_at >= stale:
            return None
        if job.cancel_requested and not job.kaggle_acting:
            job_cancelled(job, by="sweep")
            return "cancelled"
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job_fail(
                job,
                code="worker_lost",
                message=f"The worker stopped answering {job.attempts} times; an engineer "
                "can retry the job.",
            )
            return "failed"
        job_requeue(job, reason=f"no heartbeat from {job.worker or 'its worker'}")
        return "requeued"


def jobs_sweep() -> dict:
    """Recovers jobs a worker lost: running jobs whose heartbeat stopped are requeued
    (or failed after JOB_MAX_ATTEMPTS; cancelled if a cancel was asked for and Kaggle was
    not yet), and queued jobs nobody took are sent again."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_AFTER)
    counts = {"requeued": 0, "failed": 0, "cancelled": 0, "resent": 0}
    silent = PublishJob.objects.filter(state__in=RUNNING, heartbeat_at__lt=stale)
    for job_id in silent.values_list("pk", flat=True):
        try:
            outcome = _recover(job_id, stale)
        except Conflict:
            continue  # it moved on by itself meanwhile
        if outcome:
            counts[outcome] += 1
    forgotten = now - timedelta(seconds=settings.JOB_QUEUED_STALE_AFTER)
    for job in PublishJob.objects.filter(state=JobState.QUEUED, created_at__lt=forgotten):
        if job.heartbeat_at is None or job.heartbeat_at < forgotten:
            PublishJob.objects.filter(pk=job.pk, state=JobState.QUEUED).update(heartbeat_at=now)
            job_enqueue(job.pk)
            counts["resent"] += 1
    return counts
