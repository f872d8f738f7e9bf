"""Continuous data: a scheduled check compares a dataset's files on lab storage with its
last published version and, once changed files have settled, submits a new version
(through submission_submit, as the system) that the schedule's policy leaves for review
or approves.

"Checked, no change" is kept compact: it updates the schedule's counters and times, and
the history gets a `dataset.checked` event only when the result changes or once a day."""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from datasets import changes, notifications, storage
from datasets.models import (
    CheckResult,
    DatasetSchedule,
    JobState,
    Submission,
    SubmissionState,
)
from datasets.selectors import last_published_submission
from portal.celery import enqueue

from . import review
from .errors import Conflict, ServiceError
from .events import event_record

log = logging.getLogger(__name__)

R = CheckResult
# Results worth a `dataset.checked` event whenever a scan produced them.
ALWAYS_RECORDED = {R.SUBMITTED, R.AUTO_APPROVED, R.AWAITING_SCAN, R.BLOCKED}
# Results that never make an event (the schedule's counters are enough).
NEVER_RECORDED = {R.BUSY}
EVENT_EVERY = timedelta(days=1)
CHECK_STALE = timedelta(hours=2)  # a check still "running" after this died with its worker
POLICY = "auto"


@dataclass
class Outcome:
    result: str
    message: str
    scan: changes.Scan | None = None
    submission: Submission | None = None
    data: dict = field(default_factory=dict)


def dataset_check_changes(dataset_id: int, *, manual: bool = False, now: float | None = None):
    """One run of a dataset's schedule; returns the result code. Safe to run twice:
    a second submission for the same change is refused by the one-open-review rule."""
    schedule = (
        DatasetSchedule.objects.select_related("dataset__lab", "awaiting_submission")
        .filter(dataset_id=dataset_id)
        .first()
    )
    if schedule is None:
        from .schedules import periodic_task_forget

        periodic_task_forget(dataset_id)  # its dataset was deleted
        return "no-schedule"
    if not (schedule.enabled or manual):
        return "no-schedule"
    # One check per dataset at a time: a scan of a big tree may outlast the interval.
    started = timezone.now()
    if not DatasetSchedule.objects.filter(
        Q(running_since__isnull=True) | Q(running_since__lt=started - CHECK_STALE),
        pk=schedule.pk,
    ).update(running_since=started):
        return "already-running"
    try:
        outcome = _check(schedule, time.time() if now is None else now)
    except changes.ScanError as exc:
        outcome = Outcome(R.ERROR, str(exc))
    except ServiceError as exc:
        outcome = Outcome(R.ERROR, exc.message)
    finally:
        DatasetSchedule.objects.filter(pk=schedule.pk, running_since=started).update(
            running_since=None
        )
    _record(schedule, outcome, counted=True)
    log.info(
        "dataset %s checked: %s",
        dataset_id,
        outcome.result,
        extra={"dataset_id": dataset_id, "result": outcome.result},
    )
    return outcome.result


def _check(schedule: DatasetSchedule, now: float) -> Outcome:
    dataset = schedule.dataset
    awaiting = schedule.awaiting_submission
    if awaiting is not None:
        if awaiting.state == SubmissionState.PENDING_REVIEW and schedule.is_auto_approve:
            # This run is the re-check: no new chain of countdown re-checks.
            return _auto_approve(schedule, awaiting, settings.WHARF_AUTO_APPROVE_RECHECKS)
        _await(schedule, None)
    latest = dataset.submissions.order_by("-submitted_at", "-id").first()
    if latest is not None and latest.state == SubmissionState.PENDING_REVIEW:
        return Outcome(R.BUSY, f"Version {latest.number} is waiting for review.")
    if not dataset.is_editable:
        return Outcome(R.BUSY, f"The dataset is {dataset.get_status_display().lower()}.")
    published = last_published_submission(dataset)
    if published is None:
        return Outcome(
            R.NOT_PUBLISHED,
            "Publish a first version by hand; the schedule then follows changes to it.",
        )
    sources = _sources(dataset)
    scan = changes.compare(sources, published.files, verified=schedule.verified_touched)
    age = scan.unsettled(now, schedule.quiet_period)
    if age is not None:
        return Outcome(
            R.WAITING,
            f"Waiting for files to settle: {scan.newest_path} changed {int(age)} s ago "
            f"(quiet period {schedule.quiet_period} s).",
            scan,
        )
    scan.confirm(_manifest_of(published))
    if not scan.has_changes:
        return Outcome(R.UNCHANGED, f"No change since version {published.number}.", scan)
    if latest is not None and latest.pk != published.pk:
        again = changes.compare(sources, latest.files)
        if not (again.has_changes or again.suspects):
            return _same_as_unpublished(latest, scan)
    notes = changes.version_notes(scan, against=published.number)
    try:
        submission = review.submission_submit(
            dataset, actor=None, version_notes=notes, system="schedule"
        )
    except Conflict as exc:
        return Outcome(R.BUSY, exc.message, scan)
    if schedule.is_auto_approve:
        outcome = _auto_approve(schedule, submission)
        outcome.scan = scan
        return outcome
    return Outcome(
        R.SUBMITTED, f"Version {submission.number} is waiting for review.", scan, submission
    )


def _sources(dataset) -> list[changes.Source]:
    sources = []
    for item in dataset.files.select_related("storage_root"):
        if item.storage_root_id is None:
            sources.append(
                changes.Source(item.path, item.kind, upload=item.upload.name, size=item.size)
            )
            continue
        try:
            real = storage.resolve_under_root(
                item.storage_root.path, item.storage_relpath, lab_id=dataset.lab_id
            )
        except storage.UnsafePath as exc:
            raise changes.ScanError(
                f"{item.path}: {exc} Put it back or remove it from the dataset."
            ) from None
        sources.append(changes.Source(item.path, item.kind, real=real))
    if not sources:
        raise changes.ScanError("The dataset has no files to watch.")
    return sources


def _manifest_of(submission: Submission) -> dict[str, str]:
    job = submission.jobs.filter(state=JobState.PUBLISHED).order_by("-finished_at", "-id").first()
    return {entry["path"]: entry["sha256"] for entry in (job.manifest if job else [])}


def _same_as_unpublished(latest: Submission, scan) -> Outcome:
    """The files equal a later version that did not get published: proposing them again
    would only repeat that (a returned version, a failing job) every run."""
    if latest.state == SubmissionState.APPROVED:
        job = latest.jobs.order_by("-created_at", "-id").first()
        if job is not None and job.state == JobState.SKIPPED:
            return Outcome(R.UNCHANGED, f"No change since version {latest.number}.", scan)
        state = job.get_state_display().lower() if job else "not published"
        why = f"its publish job is {state}; an engineer can retry it"
    elif latest.state == SubmissionState.RETURNED:
        why = f"it was returned ({latest.review_note[:200]})"
    else:
        why = "it was withdrawn"
    return Outcome(
        R.DECLINED,
        f"The files are still those of version {latest.number}, and {why}. The schedule "
        "submits again when they change.",
        scan,
    )


# --- the auto-approve policy --------------------------------------------------------


def _auto_approve(schedule: DatasetSchedule, submission: Submission, attempt: int = 0) -> Outcome:
    try:
        job = review.submission_approve_by_policy(submission, policy=POLICY)
    except Conflict as exc:
        if exc.code in ("scan_pending", "data_checks_pending"):
            _await(schedule, submission, attempt)
            return Outcome(
                R.AWAITING_SCAN,
                f"Version {submission.number} waits for its content scan and data checks "
                "before the policy approves it.",
                submission=submission,
            )
        _await(schedule, None)
        if exc.code == "not_pending":
            return Outcome(R.BUSY, exc.message, submission=submission)
        with transaction.atomic():
            event_record(
                "submission.auto_approval_refused",
                submission=submission,
                data={"number": submission.number, "policy": POLICY, "reason": exc.message},
            )
            # Only now does it wait for a person (the submit did not say so).
            transaction.on_commit(lambda: notifications.submission_submitted(submission.pk))
        return Outcome(
            R.BLOCKED,
            f"Version {submission.number} was not approved automatically: {exc.message}",
            submission=submission,
        )
    _await(schedule, None)
    return Outcome(
        R.AUTO_APPROVED,
        f"Version {submission.number} was approved by policy; publish job {job.pk} is queued.",
        submission=submission,
        data={"job": job.pk},
    )


def _await(schedule: DatasetSchedule, submission: Submission | None, attempt: int = 0) -> None:
    """Remembers the version waiting for the scan, and asks again in a few seconds (the
    next scheduled run asks too, should these re-checks run out)."""
    DatasetSchedule.objects.filter(pk=schedule.pk).update(awaiting_submission=submission)
    schedule.awaiting_submission = submission
    if submission is None or attempt >= settings.WHARF_AUTO_APPROVE_RECHECKS:
        return

    def send():
        enqueue(
            "datasets.tasks.submission_auto_approve",
            submission.pk,
            attempt + 1,
            countdown=settings.WHARF_AUTO_APPROVE_RECHECK_SECONDS,
        )

    transaction.on_commit(send)


def auto_approve_recheck(submission_id: int, attempt: int) -> str:
    """The countdown task's work: approve the waiting version if the scan cleared it."""
    schedule = (
        DatasetSchedule.objects.select_related("dataset__lab", "awaiting_submission")
        .filter(awaiting_submission_id=submission_id)
        .first()
    )
    if schedule is None or not schedule.is_auto_approve:
        return "not-awaiting"
    outcome = _auto_approve(schedule, schedule.awaiting_submission, attempt)
    _record(schedule, outcome, counted=False)
    return outcome.result


# --- recording a check --------------------------------------------------------------


def _record(schedule: DatasetSchedule, outcome: Outcome, *, counted: bool) -> None:
    """Updates the schedule; appends a `dataset.checked` event only when it says
    something new (see the module docstring)."""
    now = timezone.now()
    scan = outcome.scan
    with transaction.atomic():
        current = DatasetSchedule.objects.select_for_update().get(pk=schedule.pk)
        fields = {
            "last_checked_at": now,
            "last_result": outcome.result,
            "last_message": outcome.message[:500],
        }
        if counted:
            fields["checks_total"] = F("checks_total") + 1
            fields["checks_since_event"] = F("checks_since_event") + 1
        if scan is not None:
            fields["last_scan_seconds"] = scan.seconds
            if outcome.result in (R.UNCHANGED, R.SUBMITTED, R.AUTO_APPROVED, R.AWAITING_SCAN):
                fields["verified_touched"] = scan.verified
        if outcome.submission is not None and outcome.result in ALWAYS_RECORDED:
            fields["last_change_at"] = now
        changed = outcome.result != current.last_result
        due = current.last_event_at is None or now - current.last_event_at >= EVENT_EVERY
        record = outcome.result not in NEVER_RECORDED and (
            changed or due or (scan is not None and outcome.result in ALWAYS_RECORDED)
        )
        if record:
            data = {
                "result": outcome.result,
                "message": outcome.message,
                "checks": current.checks_since_event + (1 if counted else 0),
                **outcome.data,
            }
            if scan is not None:
                data.update(scan.summary())
            if outcome.submission is not None:
                data["number"] = outcome.submission.number
            event_record(
                "dataset.checked",
                dataset=schedule.dataset,
                submission=outcome.submission,
                data=data,
            )
            fields.update(last_event_at=now, checks_since_event=0)
        DatasetSchedule.objects.filter(pk=schedule.pk).update(**fields)
