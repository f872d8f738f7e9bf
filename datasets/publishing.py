"""Running one publish job: stage the approved files, publish them through the Kaggle
adapter, follow Kaggle's processing. State changes go through datasets.services.jobs;
this module does the work between them.

Safe to run twice: the job is claimed with a conditional update, and before asking
Kaggle to create anything the job records that it is about to, so a later attempt
checks Kaggle first and never makes a second dataset or version."""

import errno
import logging
import os
import random
import shutil
import threading
import time
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection

from datasets import kaggle, staging, storage
from datasets.metadata import kaggle_metadata, published_name
from datasets.models import JobState, PublishJob
from datasets.services import jobs
from datasets.services.errors import Conflict

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


class JobLost(Exception):
    """The job is no longer ours (the sweep gave it to another worker)."""


def job_dir(job_id: int) -> Path:
    return Path(settings.STAGING_ROOT) / f"job-{job_id}"


class Pulse(threading.Thread):
    """Writes the job's heartbeat and progress from a side thread: at most once a second
    for progress, every JOB_HEARTBEAT_SECONDS at least, so the sweep knows it is alive."""

    def __init__(self, job_id: int):
        super().__init__(daemon=True, name=f"job-{job_id}-pulse")
        self.job_id = job_id
        self.bytes_done = 0
        self.lost = False
        self.cancel_requested = False
        self._stop_event = threading.Event()

    def add(self, n: int) -> None:
        self.bytes_done += n

    def restart_count(self) -> None:
        self.bytes_done = 0

    def run(self):
        written, last_beat = -1, 0.0
        try:
            while not self._stop_event.wait(1.0):
                now = time.monotonic()
                if self.bytes_done == written and now - last_beat < settings.JOB_HEARTBEAT_SECONDS:
                    continue
                written, last_beat = self.bytes_done, now
                self.lost = not jobs.job_heartbeat(self.job_id, bytes_done=written)
                self.cancel_requested = jobs.job_cancel_requested(self.job_id)
        finally:
            connection.close()

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)

    def check(self, *, cancellable: bool = True) -> None:
        """A safe point: stop here if the job was cancelled or taken away."""
        if self.lost:
            raise JobLost
        if cancellable and self.cancel_requested:
            raise JobCancelled

    def should_stop(self) -> bool:
        return self.lost or self.cancel_requested


def job_run(job_id: int, *, task_id: str, worker: str) -> str:
    job = jobs.job_claim(job_id, worker=worker, task_id=task_id)
    if job is None:
        log.info("job %s: nothing to claim (already taken, finished or cancelled)", job_id)
        return "not-claimed"
    pulse = Pulse(job.pk)
    pulse.start()
    try:
        _publish(job, pulse)
    except JobCancelled:
        _finish(jobs.job_cancelled, job)
    except JobLost:
        log.warning("job %s: taken over by the sweep; this attempt stops", job.pk)
    except staging.StagingCancelled:
        if not pulse.lost:
            _finish(jobs.job_cancelled, job)
    except (staging.StagingError, kaggle.KaggleError) as exc:
        _finish(jobs.job_fail, job, code=exc.code, message=exc.message)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            shutil.rmtree(job_dir(job.pk), ignore_errors=True)  # no partial staging is kept
            _finish(jobs.job_fail, job, code="disk_full",
                    message="The staging disk is full: free space under WHARF_STAGING_DIR "
                    "(or make it larger), then retry.")  # fmt: skip
        else:
            _fail_unexpectedly(job)
    except SoftTimeLimitExceeded:
        _finish(jobs.job_fail, job, code="time_limit",
                message="Publishing took longer than the worker's time limit.")  # fmt: skip
    except Exception:
        _fail_unexpectedly(job)
    finally:
        pulse.stop()
        close_old_connections()
    job.refresh_from_db()
    if job.state in (JobState.PUBLISHED, JobState.SKIPPED) and not settings.STAGING_RETENTION_HOURS:
        shutil.rmtree(job_dir(job.pk), ignore_errors=True)
    return job.state


def _fail_unexpectedly(job) -> None:
    log.exception("job %s failed unexpectedly", job.pk, extra={"job_id": job.pk})
    _finish(jobs.job_fail, job, code="internal_error",
            message="Wharf failed unexpectedly; the worker log has the details.")  # fmt: skip


def _finish(transition, job, **kwargs) -> None:
    try:
        transition(job, **kwargs)
    except Conflict:
        log.info("job %s moved on before it could be marked %s", job.pk, transition.__name__)


# --- the steps ------------------------------------------------------------------------


def _publish(job: PublishJob, pulse: Pulse) -> None:
    dataset, submission = job.dataset, job.submission
    credentials = kaggle.credentials_for(dataset.kaggle_account)
    snapshot = submission.metadata
    ref = f"{snapshot['owner_slug']}/{snapshot['slug']}"
    folder = job_dir(job.pk) / "files"

    if job.publish_requested_at and _already_on_kaggle(job, credentials, ref):
        # An earlier attempt of this job got as far as asking Kaggle; Kaggle has it.
        log.info("job %s: Kaggle already has this version; following it", job.pk)
        job = jobs.job_staged(job, manifest=job.manifest, bytes_total=job.bytes_total)
        job = jobs.job_uploaded(job, ref=ref, url=job.kaggle_url or _kaggle_url(ref))
        return _follow_processing(job, credentials, ref, pulse)

    manifest = _stage(job, folder, pulse)
    if not job.force and _unchanged_since_last_publish(job, manifest):
        jobs.job_skipped(job)
        return None
    bytes_total = sum(entry["size"] for entry in manifest)
    job = jobs.job_staged(job, manifest=manifest, bytes_total=bytes_total)
    pulse.restart_count()
    pulse.check()

    first = not dataset.latest_version
    earlier = dataset.jobs.filter(publish_requested_at__isnull=False).exclude(pk=job.pk)
    if first and not earlier.exists():
        # Nothing of ours can be on Kaggle yet: the create call itself refuses a slug in
        # use, so a status call first would only cost time.
        state = {"exists": False}
    else:
        state = _with_retries(job, pulse, lambda: kaggle.dataset_state(credentials, ref))
        first = first and not state["exists"]  # an earlier job of ours created it
    pulse.check()
    jobs.job_publish_requested(job, version_before=state.get("current_version_number"))
    tmp_dir = job_dir(job.pk) / "client-tmp"

    def publish():
        if first:
            return kaggle.dataset_create(
                credentials, folder, public=not snapshot["is_private"], tmp_dir=tmp_dir,
                on_progress=pulse.add,
            )  # fmt: skip
        return kaggle.dataset_version(
            credentials, folder, notes=_version_notes(job), tmp_dir=tmp_dir,
            on_progress=pulse.add,
        )  # fmt: skip

    def done_meanwhile():
        # The answer may have been lost after Kaggle acted: look before sending again.
        pulse.restart_count()
        return {"ref": ref, "url": ""} if _already_on_kaggle(job, credentials, ref) else None

    result = _with_retries(job, pulse, publish, before_retry=done_meanwhile, cancellable=False)
    job = jobs.job_uploaded(job, ref=result.get("ref") or ref, url=_kaggle_url(ref, result))
    return _follow_processing(job, credentials, ref, pulse)


def _stage(job: PublishJob, folder: Path, pulse: Pulse) -> list[dict]:
    submission = job.submission
    packaging = submission.metadata.get("folder_packaging", "zip")
    shutil.rmtree(folder, ignore_errors=True)  # a new attempt stages afresh
    folder.mkdir(parents=True)
    manifest: list[dict] = []
    for entry in submission.files:
        source, root = _source_of(entry)
        item = staging.StageItem(
            name=published_name(entry, packaging),
            source=source,
            kind=entry["kind"],
            expected_size=entry["size"],
        )
        staged = staging.stage(
            [item], folder, packaging=packaging, root=root, progress=pulse.add,
            should_stop=pulse.should_stop,
        )  # fmt: skip
        manifest += [{"path": m.name, "size": m.size, "sha256": m.sha256} for m in staged]
        pulse.check()
    staging.write_metadata(folder, kaggle_metadata(submission.metadata, submission.files))
    return manifest


def _source_of(entry: dict) -> tuple[Path, Path | None]:
    """Where an approved file list entry's bytes are, re-checked against its root now."""
    if entry.get("origin") == "storage":
        if not os.path.lexists(Path(entry["root_path"]) / entry["relpath"]):
            raise staging.StagingError(
                "source_missing",
                f"{entry['path']} is no longer on lab storage; restore it or submit again.",
            )
        try:
            real = storage.resolve_under_root(entry["root_path"], entry["relpath"])
        except storage.UnsafePath as exc:
            raise staging.StagingError("unsafe_path", f"{entry['path']}: {exc}") from None
        _check_unchanged(entry, real)
        return Path(real), Path(entry["root_path"])
    return Path(settings.MEDIA_ROOT) / entry["upload"], None


def _check_unchanged(entry: dict, real) -> None:
    """A storage file or folder must be what was approved: same size and times, and for a
    folder the same entries."""
    name = entry["path"]
    try:
        kind, size, _count, mtime = storage.describe(real)
        if kind == "folder":
            now = {(e.relpath, e.size, round(e.mtime, 3)) for e in storage.walk_folder(real)}
            then = {(e["path"], e["size"], round(e["mtime"], 3)) for e in entry["entries"]}
            changed = now != then
        else:
            changed = size != entry["size"] or abs(mtime - entry["mtime"]) > 1e-3
    except (FileNotFoundError, storage.UnsafePath):
        raise staging.StagingError(
            "source_missing", f"{name} is no longer on lab storage; submit the dataset again."
        ) from None
    if changed:
        raise staging.StagingError(
            "source_changed",
            f"{name} changed on lab storage after it was approved; submit the dataset again "
            "so the new content is reviewed.",
        )


def _unchanged_since_last_publish(job: PublishJob, manifest: list[dict]) -> bool:
    last = (
        PublishJob.objects.filter(dataset=job.dataset, state=JobState.PUBLISHED)
        .select_related("submission")
        .order_by("-finished_at", "-id")
        .first()
    )
    if last is None:
        return False
    same_files = staging.manifest_equal(
        [staging.ManifestEntry(e["path"], e["size"], e["sha256"]) for e in manifest],
        [staging.ManifestEntry(e["path"], e["size"], e["sha256"]) for e in last.manifest],
    )
    metadata = kaggle_metadata(job.submission.metadata, job.submission.files)
    return same_files and metadata == kaggle_metadata(
        last.submission.metadata, last.submission.files
    )


def _already_on_kaggle(job, credentials, ref) -> bool:
    state = kaggle.dataset_state(credentials, ref)
    if not state["exists"]:
        return False
    if job.kaggle_version_before is None:  # a create was asked for
        return True
    return (state.get("current_version_number") or 0) > job.kaggle_version_before


def _follow_processing(job, credentials, ref, pulse) -> None:
    deadline = time.monotonic() + settings.KAGGLE_PROCESSING_DEADLINE
    delay = settings.KAGGLE_POLL_INITIAL
    polls_failed = 0
    while True:
        pulse.check(cancellable=False)
        try:
            state = kaggle.dataset_state(credentials, ref)
        except kaggle.KaggleError as exc:
            if not exc.transient:
                raise
            polls_failed += 1
            jobs.job_retrying(job, code=exc.code, message=exc.message, delay=delay,
                              attempt=polls_failed)  # fmt: skip
            state = {"status": "unknown"}
        status = (state.get("status") or "").lower()
        if status == "ready":
            jobs.job_published(job, version=state.get("current_version_number"), url=job.kaggle_url)
            return
        if status in ("error", "failed"):
            raise kaggle.KaggleError(
                "processing_failed", "Kaggle could not process the upload (status: error)."
            )
        if time.monotonic() + delay > deadline:
            raise kaggle.KaggleError(
                "processing_timeout",
                f"Kaggle was still processing {ref} after "
                f"{settings.KAGGLE_PROCESSING_DEADLINE} s; check it on Kaggle, then retry.",
            )
        time.sleep(delay)
        delay = min(settings.KAGGLE_POLL_MAX, delay * 2)


def _with_retries(job, pulse, call, *, before_retry=None, cancellable=True):
    """Runs `call`, retrying transient Kaggle errors with exponential backoff and jitter
    (Retry-After honoured), each retry recorded in the job's history. Before each retry
    `before_retry` (if given) looks whether the failed call took effect after all; a
    result from it ends the retries. A look that fails transiently counts as a try."""
    look_first = False
    for attempt in range(1, settings.KAGGLE_RETRIES + 2):
        try:
            if look_first:
                done = before_retry()
                if done is not None:
                    return done
            return call()
        except kaggle.KaggleError as exc:
            if not exc.transient or attempt > settings.KAGGLE_RETRIES:
                raise
            backoff = min(
                settings.KAGGLE_RETRY_CAP, settings.KAGGLE_RETRY_BASE * 2 ** (attempt - 1)
            )
            delay = exc.retry_after if exc.retry_after is not None else backoff
            delay = min(settings.KAGGLE_RETRY_CAP, delay) * (1 + random.uniform(0, 0.25))
            jobs.job_retrying(job, code=exc.code, message=exc.message, delay=delay, attempt=attempt)
            end = time.monotonic() + delay
            while time.monotonic() < end:
                pulse.check(cancellable=cancellable)
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            look_first = before_retry is not None
    raise AssertionError("unreachable")


def _version_notes(job: PublishJob) -> str:
    from django.urls import reverse

    submission = job.submission
    approver = submission.reviewed_by
    link = settings.WHARF_BASE_URL.rstrip("/") + reverse(
        "datasets:dataset_detail", args=[job.dataset_id]
    )
    notes = submission.version_notes or f"Version {submission.number}"
    if approver:
        who = approver.get_full_name() or approver.username
    else:
        who = f"policy ({submission.approved_by_policy or 'automatic'})"
    return f"{notes}\n\nApproved in Wharf by {who}: {link}"


def _kaggle_url(ref: str, result: dict | None = None) -> str:
    url = (result or {}).get("url") or ""
    return url if url.startswith("http") else f"https://www.kaggle.com/datasets/{ref}"


def staging_cleanup() -> int:
    """Removes staging folders of finished jobs (published ones after the retention)."""
    from datetime import timedelta

    from django.utils import timezone

    root = Path(settings.STAGING_ROOT)
    if not root.is_dir():
        return 0
    keep_after = timezone.now() - timedelta(hours=settings.STAGING_RETENTION_HOURS)
    removed = 0
    for path in root.glob("job-*"):
        try:
            job = PublishJob.objects.get(pk=int(path.name.removeprefix("job-")))
        except (ValueError, PublishJob.DoesNotExist):
            continue
        finished = job.state in JobState.final()
        kept = job.state == JobState.PUBLISHED and job.finished_at and job.finished_at > keep_after
        if finished and not kept:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
