"""Running one publish job: stage the approved files, upload them one by one, ask Kaggle
for the dataset or version (and/or the metadata update), follow Kaggle's processing,
read the result back. State changes go through datasets.services.jobs; this module does
the work between them.

Exactly once, and fenced: a claim starts a new attempt whose number is the token every
write of this worker names, so a worker the sweep gave up on changes nothing and stops
within a second or two (its client child killed). Before the one request where Kaggle
acts (create, version, metadata update) the job records that it is about to, so a later
attempt looks at Kaggle first and never makes a second dataset or version; from then
on a cancel is refused with the reason instead of a promise that would be broken."""

import contextlib
import errno
import fcntl
import logging
import os
import random
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection

from datasets import kaggle, reconcile, staging, storage
from datasets.metadata import (
    UPDATE_ONLY_KEYS,
    kaggle_metadata,
    published_name,
    update_after_every_version,
)
from datasets.models import JobPlan, JobState, PublishJob
from datasets.services import jobs
from datasets.services.errors import Conflict
from datasets.services.jobs import JobLost
from datasets.staging import SourceIdentity

log = logging.getLogger(__name__)

# kagglesdk DatabundleVersionStatus names (lower case, as the client reports them).
PROCESSING_DONE = "ready"
PROCESSING_FAILED = "failed"
PROCESSING_DELETED = "deleted"
SETTLED = (PROCESSING_DONE, PROCESSING_FAILED, PROCESSING_DELETED)
WATCH_SECONDS = 1.0


class JobCancelled(Exception):
    pass


def job_dir(job_id: int) -> Path:
    return Path(settings.STAGING_ROOT) / f"job-{job_id}"


def attempt_dir(job_id: int, attempt: int) -> Path:
    return job_dir(job_id) / f"attempt-{attempt}"


# --- per-attempt staging folders -------------------------------------------------------
# Each attempt stages into its own folder and holds an flock on its `.lock` file while it
# runs; the kernel drops the lock when the process dies. A folder is removed only when
# its lock can be taken, so a new attempt never deletes files an old one still uploads.

LOCK_NAME = ".lock"


class AttemptFolder:
    def __init__(self, job_id: int, attempt: int):
        self.path = attempt_dir(job_id, attempt)
        self._lock = None

    def __enter__(self) -> "AttemptFolder":
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path / LOCK_NAME, "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def attempt_is_live(path: Path) -> bool:
    try:
        fh = open(path / LOCK_NAME)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def remove_attempt(path: Path) -> None:
    """Removes an attempt's folder, and the job's folder once it holds no attempt."""
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only if empty


def remove_dead_attempts(job_id: int, *, keep: Path | None = None) -> int:
    removed = 0
    for path in job_dir(job_id).glob("attempt-*"):
        if path != keep and not attempt_is_live(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


# --- the heartbeat ---------------------------------------------------------------------


class Pulse(threading.Thread):
    """Watches the job from a side thread: every second it reads whether the attempt is
    still the job's and whether a cancel was asked for; it writes the heartbeat (and
    progress) at most once a second and at least every JOB_HEARTBEAT_SECONDS. A database
    error never ends it: the connection is closed, the error logged once, and the next
    tick tries again (the sweep only acts after JOB_STALE_AFTER of silence)."""

    def __init__(self, job_id: int, attempt: int):
        super().__init__(daemon=True, name=f"job-{job_id}-pulse")
        self.job_id, self.attempt = job_id, attempt
        self.bytes_done = 0
        self.lost = False
        self.cancel_requested = False
        self._stop_event = threading.Event()

    def add(self, n: int) -> None:
        self.bytes_done += n

    def set_count(self, n: int) -> None:
        self.bytes_done = n

    def run(self):
        written, last_beat, failing = -1, 0.0, False
        try:
            while not self._stop_event.wait(WATCH_SECONDS):
                try:
                    now = time.monotonic()
                    beat_due = now - last_beat >= settings.JOB_HEARTBEAT_SECONDS
                    if self.bytes_done != written or beat_due:
                        done = self.bytes_done
                        if not jobs.job_heartbeat(self.job_id, attempt=self.attempt,
                                                  bytes_done=done):  # fmt: skip
                            self.lost = True
                        written, last_beat = done, now
                    ours, cancel = jobs.job_watch(self.job_id, attempt=self.attempt)
                    self.lost = self.lost or not ours
                    self.cancel_requested = cancel
                    if failing:
                        log.info("job %s: heartbeat written again", self.job_id,
                                 extra={"job_id": self.job_id})  # fmt: skip
                    failing = False
                except Exception:
                    if not failing:
                        log.exception("job %s: heartbeat failed; retrying every second",
                                      self.job_id, extra={"job_id": self.job_id})  # fmt: skip
                    failing = True
                    with contextlib.suppress(Exception):
                        connection.close()
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def stop(self):
        self._stop_event.set()
        self.join(timeout=10)

    def check(self, *, cancellable: bool = True) -> None:
        """A safe point: stop here if the job was cancelled or taken away."""
        if self.lost:
            raise JobLost(
                f"Job {self.job_id}: attempt {self.attempt} lost the job.", code="job_lost"
            )
        if cancellable and self.cancel_requested:
            raise JobCancelled

    def should_stop(self) -> bool:
        return self.lost or self.cancel_requested

    def is_lost(self) -> bool:
        return self.lost


# --- running a job ---------------------------------------------------------------------


def job_run(job_id: int, *, task_id: str, worker: str) -> str:
    job = jobs.job_claim(job_id, worker=worker, task_id=task_id)
    if job is None:
        log.info("job %s: nothing to claim (already taken, finished or cancelled)", job_id,
                 extra={"job_id": job_id})  # fmt: skip
        return "not-claimed"
    attempt = job.attempts
    pulse = Pulse(job.pk, attempt)
    pulse.start()
    folder = AttemptFolder(job.pk, attempt)
    try:
        with folder:
            remove_dead_attempts(job.pk, keep=folder.path)
            _publish(job, pulse, folder.path)
    except JobLost:
        log.warning("job %s: attempt %s lost the job; it stops here", job.pk, attempt,
                    extra={"job_id": job.pk})  # fmt: skip
    except (JobCancelled, staging.StagingCancelled, kaggle.OperationStopped):
        if pulse.lost:
            log.warning("job %s: attempt %s lost the job; it stopped", job.pk, attempt,
                        extra={"job_id": job.pk})  # fmt: skip
        else:
            _finish(jobs.job_cancelled, job, attempt=attempt)
    except Conflict as exc:
        if exc.code == "job_cancelled":  # the cancel came before Kaggle was asked
            _finish(jobs.job_cancelled, job, attempt=attempt)
        else:
            log.info("job %s moved on: %s", job.pk, exc, extra={"job_id": job.pk})
    except (staging.StagingError, kaggle.KaggleError) as exc:
        _finish(jobs.job_fail, job, code=exc.code, message=exc.message, attempt=attempt)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            remove_attempt(folder.path)  # no partial staging is kept
            _finish(jobs.job_fail, job, code="disk_full", attempt=attempt,
                    message="The staging disk is full: free space under WHARF_STAGING_DIR "
                    "(or make it larger), then retry.")  # fmt: skip
        else:
            _fail_unexpectedly(job, attempt)
    except SoftTimeLimitExceeded:
        _finish(jobs.job_fail, job, code="time_limit", attempt=attempt,
                message="Publishing took longer than the worker's time limit.")  # fmt: skip
    except Exception:
        _fail_unexpectedly(job, attempt)
    finally:
        pulse.stop()
        close_old_connections()
    job.refresh_from_db()
    if job.attempts == attempt and job.state in JobState.final():
        keep = job.state == JobState.PUBLISHED and settings.STAGING_RETENTION_HOURS
        if not keep:
            remove_attempt(folder.path)
    return job.state


def _fail_unexpectedly(job, attempt) -> None:
    log.exception("job %s failed unexpectedly", job.pk, extra={"job_id": job.pk})
    _finish(jobs.job_fail, job, code="internal_error", attempt=attempt,
            message="Wharf failed unexpectedly; the worker log has the details.")  # fmt: skip


def _finish(transition, job, **kwargs) -> None:
    try:
        transition(job, **kwargs)
    except Conflict:
        log.info("job %s moved on before it could be marked %s", job.pk, transition.__name__,
                 extra={"job_id": job.pk})  # fmt: skip


# --- the steps ------------------------------------------------------------------------


def _publish(job: PublishJob, pulse: Pulse, workdir: Path) -> None:
    # One client process serves every Kaggle call of the attempt (kaggle.ClientProcess).
    with kaggle.open_client(kaggle.credentials_for(job.dataset.kaggle_account)) as client:
        return _publish_with(client, job, pulse, workdir)


def _publish_with(client, job: PublishJob, pulse: Pulse, workdir: Path) -> None:
    dataset, submission = job.dataset, job.submission
    snapshot = submission.metadata
    ref = f"{snapshot['owner_slug']}/{snapshot['slug']}"
    metadata = kaggle_metadata(snapshot, submission.files)

    if job.publish_requested_at and _already_on_kaggle(job, pulse, client, ref):
        # An earlier attempt asked Kaggle and Kaggle has it: follow, never ask again.
        log.info("job %s: Kaggle already has this version; following it", job.pk,
                 extra={"job_id": job.pk})  # fmt: skip
        job = jobs.job_staged(job, manifest=job.manifest, bytes_total=job.bytes_total,
                              plan=job.plan or JobPlan.VERSION)  # fmt: skip
        job = jobs.job_uploaded(job, ref=ref, url=job.kaggle_url or _kaggle_url(ref))
        return _after_request(job, pulse, client, ref, metadata)

    last = _last_published(job)
    if last is not None and (
        job.plan == JobPlan.METADATA or (not job.force and _same_frozen_files(job, last))
    ):
        # The files are those of the last published version (by content): nothing to
        # stage or upload.
        if metadata == kaggle_metadata(last.submission.metadata, last.submission.files):
            jobs.job_skipped(job)
            return None
        return _metadata_only(job, pulse, client, ref, metadata, last.manifest)

    folder = workdir / "files"
    held = None if last is None or job.force else last.manifest

    def look():  # what Kaggle has now: see below
        return _with_retries(job, pulse, lambda: kaggle.dataset_state(client, ref))

    def look_early():  # one try; a failure leaves the look to its place below
        try:
            return time.monotonic(), kaggle.dataset_state(client, ref)
        except kaggle.KaggleError as exc:
            if exc.transient:  # recorded: it is tried again before the create
                jobs.job_retrying(job, code=exc.code, message=exc.message, delay=0, attempt=1)
            return None

    with Transfer(job, pulse, client, folder, held) as transfer:
        # A version is sure to be asked for: the look runs beside the first upload.
        looked = transfer.beside(look_early) if held is None else None
        manifest = transfer.stage_all()
        pulse.check()
        plan = JobPlan.VERSION
        if last is None and any(metadata.get(key) for key in UPDATE_ONLY_KEYS):
            plan = JobPlan.VERSION_METADATA  # a create carries none of these
        if update_after_every_version(snapshot, submission.files):
            plan = JobPlan.VERSION_METADATA  # folders unpack afresh, without their columns
        if last is not None:
            same_files = _manifest_equal(manifest, last.manifest)
            last_metadata = kaggle_metadata(last.submission.metadata, last.submission.files)
            if same_files and not job.force:
                transfer.abandon()
                if metadata == last_metadata:
                    jobs.job_skipped(job)
                    return None
                return _metadata_only(job, pulse, client, ref, metadata, manifest)
            if _needs_metadata_update(metadata, last_metadata):
                plan = JobPlan.VERSION_METADATA
        bytes_total = sum(entry["size"] for entry in manifest)
        job = jobs.job_staged(job, manifest=manifest, bytes_total=bytes_total, plan=plan)
        transfer.job = job
        files = transfer.finish(manifest)
        early = transfer.wait_for(looked) if looked else None
    pulse.check()

    # Look before asking (as the client's own create does): what Kaggle has now tells a
    # later attempt, or a refusal, whether our request took effect. The early look
    # stands in only while it is seconds old.
    fresh = early is not None and time.monotonic() - early[0] <= settings.KAGGLE_LOOK_FRESH_SECONDS
    state = early[1] if fresh else look()
    first = not state["exists"]
    if first and dataset.latest_version:
        raise kaggle.KaggleError(
            "not_found",
            f"{ref} is no longer on Kaggle (deleted there?); Wharf does not create it again "
            "by itself. An engineer can check it on Kaggle.",
        )
    pulse.check()
    jobs.job_publish_requested(
        job,
        version_before=None if first else (state.get("current_version_number") or 0),
        status_before=(state.get("status") or "") if not first else "",
    )
    result = _request(job, pulse, client, ref, metadata, files, first=first)
    job = jobs.job_uploaded(
        job, ref=result.get("ref") or ref, url=_kaggle_url(ref, result),
        invalid_tags=result.get("invalid_tags") or [],
    )  # fmt: skip
    return _after_request(job, pulse, client, ref, metadata)


class Transfer:
    """Stages the approved files and uploads each one the moment it is staged, while the
    next one stages, at most KAGGLE_PARALLEL_UPLOADS at a time: each file its own step
    (StartBlobUpload + the client's resumable PUT, retried on transient errors).

    Nothing exists on Kaggle until the one create/version names the tokens, so a cancel
    or a lost job at any point here kills every client child and leaves only orphan
    blobs, which Kaggle discards. Upload sessions are kept with the job (by name and
    content: two files with the same bytes are two blobs, since Kaggle takes a token
    once), so a later attempt on any worker resumes a broken upload from the
    bytes Kaggle holds and reuses a finished one.

    `held` (the last published manifest, when the job may turn out to need no new
    version) holds uploads back until a staged file differs from it: a metadata-only or
    unchanged job then sends no bytes."""

    def __init__(self, job, pulse, client, folder: Path, held=None):
        self.job, self.pulse, self.client = job, pulse, client
        self.folder = folder
        self._held = {(e["path"], e["size"], e["sha256"]) for e in held} if held else None
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.KAGGLE_PARALLEL_UPLOADS),
            thread_name_prefix=f"job-{job.pk}-upload",
        )
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._futures: dict[str, Future] = {}
        self._waiting: list[dict] = []
        self._sent: dict[str, int] = {}
        self._sources: dict[str, SourceIdentity] = {}  # files sent from storage
        self._counting = False  # the job shows upload progress once staging is done
        self._account = job.dataset.kaggle_account_id  # sessions belong to one account
        self.sessions = self._load_sessions()

    # -- lifecycle

    def __enter__(self) -> "Transfer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.abandon()

    def abandon(self) -> None:
        """Stops every upload (the client child is killed if one runs) and waits for the
        threads."""
        self._abort.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def should_stop(self) -> bool:
        return self._abort.is_set() or self.pulse.should_stop()

    # -- staging, with uploads beside it

    def stage_all(self) -> list[dict]:
        try:
            return _stage(self.job, self.folder, self.pulse, on_staged=self._staged,
                          should_stop=self.should_stop)  # fmt: skip
        except staging.StagingCancelled:
            self._raise_failure()  # an upload failed: that is why staging stopped
            raise

    def _staged(self, entry: dict, source: SourceIdentity | None = None) -> None:
        self._raise_failure()
        self._waiting.append(entry)
        if source is not None:
            self._sources[entry["path"]] = source
        if self._held is not None and (entry["path"], entry["size"], entry["sha256"]) in self._held:
            return
        self._held = None
        self._submit_waiting()

    def _submit_waiting(self) -> None:
        for entry in self._waiting:
            self._futures[entry["path"]] = self.beside(partial(self._upload_one, entry))
        self._waiting = []

    def finish(self, manifest: list[dict]) -> list[dict]:
        """Waits for every upload; the files part of the create/version, in order."""
        self._submit_waiting()
        with self._lock:
            self._counting = True
            self.pulse.set_count(sum(self._sent.values()))
        return [{"name": entry["path"], "token": self.wait_for(self._futures[entry["path"]])}
                for entry in manifest]  # fmt: skip

    def wait_for(self, future: Future):
        """A result from the pool, checking the job twice a second meanwhile."""
        while True:
            try:
                return future.result(timeout=0.25)
            except FutureTimeout:
                self.pulse.check()
            except BaseException:
                self._abort.set()
                self._raise_failure()
                raise

    def beside(self, call) -> Future:
        """Runs `call` in the pool (an upload, or a call beside the uploads), closing the
        thread's database connection after it."""

        def run():
            try:
                return call()
            finally:
                connection.close()

        return self._pool.submit(run)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    # -- one file (runs in an upload thread)

    def _upload_one(self, entry: dict) -> str:
        name, key = entry["path"], f"{entry['path']}:{entry['sha256']}:{entry['size']}"
        source = self._sources.get(name)
        origin = source.portable() if source is not None else None
        try:

            def upload():
                self._progress(name, None)  # a retried file counts from its start again
                try:
                    return send()
                except kaggle.KaggleError as exc:
                    if source is not None:
                        _refuse_if_source_gone(name, self.folder / name, exc)
                    raise

            def send():
                return kaggle.dataset_upload_file(
                    self.client, self.folder / name,
                    on_progress=lambda n: self._progress(name, n),
                    should_stop=self.should_stop, session=self._session(entry, key, origin),
                    on_session=lambda session: self._keep(key, {**session, "source": origin}),
                    on_expired=lambda: self._expired(entry, key),
                    on_sent=None if source is None else (
                        lambda sent: self._check_sent(entry, key, source, sent)
                    ),
                    expect=None if source is None else source.as_list(),
                )  # fmt: skip

            token = _with_retries(self.job, self.pulse, upload)
            self._keep(key, {**(self.sessions.get(key) or {}), "complete": True})
            with self._lock:
                self._sent[name] = entry["size"]
                if self._counting:
                    self.pulse.set_count(sum(self._sent.values()))
            return token
        except BaseException as exc:
            with self._lock:
                if self._error is None and not isinstance(exc, kaggle.OperationStopped):
                    self._error = exc
            self._abort.set()
            raise

    def _progress(self, name: str, n: int | None) -> None:
        with self._lock:
            self._sent[name] = 0 if n is None else self._sent.get(name, 0) + n
            if self._counting:
                self.pulse.set_count(sum(self._sent.values()))

    # -- sessions kept with the job

    def _load_sessions(self) -> dict:
        """This job's sessions, and those of earlier jobs of the dataset that never asked
        Kaggle to act (a person's retry is a new job): same bytes, same account."""
        sessions: dict = {}
        earlier = PublishJob.objects.filter(
            dataset_id=self.job.dataset_id, pk__lt=self.job.pk, publish_requested_at__isnull=True
        ).order_by("-pk")
        earlier = reversed(earlier.values_list("upload_sessions", flat=True)[:20])
        own = PublishJob.objects.filter(pk=self.job.pk).values_list("upload_sessions", flat=True)
        for found in [*earlier, *own]:
            sessions.update(found or {})
        return {k: v for k, v in sessions.items() if v.get("account") == self._account}

    def _session(self, entry: dict, key: str, origin: list | None) -> dict | None:
        """The session to resume. One begun on a file sent from storage holds bytes read
        from that file: it is resumed only while the file is the very same, unwritten
        since (device, inode, size, mtime, ctime); else it is dropped and the file sent
        afresh, with a history line."""
        with self._lock:
            session = self.sessions.get(key)
            if not (session and session.get("source") and session["source"] != origin):
                return session
            self.sessions.pop(key)
            jobs.job_upload_sessions_save(self.job, dict(self.sessions))
        jobs.job_upload_restarted(
            self.job, name=entry["path"], size=entry["size"],
            reason="The file on lab storage was written to or replaced since its earlier "
            "upload began, so what Kaggle holds of it cannot be trusted; it is sent again "
            "from its first byte.",
        )  # fmt: skip
        return None

    def _check_sent(self, entry: dict, key: str, source: SourceIdentity,
                    sent: kaggle.SentBytes | None) -> None:  # fmt: skip
        """A file sent from storage: what the client read and sent must be the approved
        bytes, from the file staging opened, unwritten since. Else its blob is dropped
        (Kaggle discards it; no request names it) and the job fails."""
        same_file = sent is not None and source == SourceIdentity(
            sent.device, sent.inode, sent.size, sent.mtime_ns, sent.ctime_ns
        )  # fmt: skip
        same_bytes = sent is not None and sent.sha256 == entry["sha256"]
        if same_file and same_bytes:
            return
        with self._lock:
            self.sessions.pop(key, None)
            jobs.job_upload_sessions_save(self.job, dict(self.sessions))
        if same_bytes:  # e.g. a chmod or touch meanwhile: the bytes cannot be vouched for
            why = ("was written to, replaced or had its permissions changed while Wharf "
                   "sent it to Kaggle, so Wharf cannot vouch for what was sent")  # fmt: skip
        else:
            why = ("changed on lab storage while Wharf sent it to Kaggle, so what was sent "
                   "is not what was approved")  # fmt: skip
        raise staging.StagingError(
            "source_changed",
            f"{entry['path']} {why}; nothing was published. Retry once the file is left "
            "alone, or submit the dataset again if its content changed.",
        )

    def _keep(self, key: str, session: dict) -> None:
        with self._lock:
            self.sessions[key] = {**session, "account": self._account}
            snapshot = dict(self.sessions)
            jobs.job_upload_sessions_save(self.job, snapshot)

    def _expired(self, entry: dict, key: str) -> None:
        with self._lock:
            self.sessions.pop(key, None)
            jobs.job_upload_sessions_save(self.job, dict(self.sessions))
        log.info("job %s: the upload session of %s expired; starting afresh", self.job.pk,
                 entry["path"], extra={"job_id": self.job.pk})  # fmt: skip
        jobs.job_upload_restarted(
            self.job, name=entry["path"], size=entry["size"],
            reason="Kaggle no longer holds the earlier upload (its session expired); the "
            "file is sent again from its first byte.",
        )  # fmt: skip


def _refuse_if_source_gone(name: str, link: Path, exc: kaggle.KaggleError) -> None:
    """A failed upload of a file sent from storage: a file that is gone, or is not the
    one staging opened, fails the job at once (a StagingError), not after retries."""
    if exc.code == "source_mismatch":
        raise staging.StagingError(
            "source_changed",
            f"{name} was replaced or written to on lab storage after Wharf staged it; none "
            "of it was sent and nothing was published. Retry once the file is left alone, "
            "or submit the dataset again if its content changed.",
        ) from None
    try:
        os.stat(link)
    except FileNotFoundError:
        raise staging.StagingError(
            "source_missing",
            f"{name} was removed from lab storage (or moved) while Wharf sent it to Kaggle; "
            "nothing was published. Restore it, or submit the dataset again.",
        ) from None
    except OSError:
        pass  # storage unreachable for now (a stale NFS handle): a transient failure


def _request(job, pulse, client, ref, metadata, files, *, first: bool) -> dict:
    """The create or version request: the one point where Kaggle acts. Sent once per
    try; before any new try, and before failing on a refusal, it looks whether Kaggle
    acted after all (an answer lost on the way, a refusal whose dataset exists anyway)."""
    snapshot = job.submission.metadata
    sends = []

    def send():
        sends.append(time.monotonic())
        if first:
            return kaggle.dataset_create(
                client, metadata, files, public=not snapshot["is_private"],
                should_stop=pulse.is_lost,
            )  # fmt: skip
        return kaggle.dataset_version(
            client, metadata, files, notes=_version_notes(job),
            delete_old_versions=bool(snapshot.get("delete_old_versions")),
            should_stop=pulse.is_lost,
        )  # fmt: skip

    def done_meanwhile():
        if _already_on_kaggle(job, pulse, client, ref):
            return {"ref": ref, "url": ""}
        return None

    try:
        return _with_retries(job, pulse, send, before_retry=done_meanwhile, cancellable=False)
    except kaggle.KaggleError as exc:
        if exc.transient:
            raise
        # Kaggle may refuse yet have acted (kaggle-cli #399), or refuse a re-send whose
        # tokens the first send already used: look before failing.
        if done_meanwhile() is not None:
            log.warning("job %s: Kaggle refused (%s) but has the version; following it",
                        job.pk, exc.message, extra={"job_id": job.pk})  # fmt: skip
            return {"ref": ref, "url": ""}
        if first and exc.code == "slug_taken" and len(sends) > 1:
            # A re-sent create refused because the slug is taken: taken by our own first
            # send, whose dataset Kaggle may hide (404) until its first version is
            # ready. The slug was free when this job looked before sending.
            log.warning("job %s: the re-sent create found the slug taken by the first; "
                        "following it", job.pk, extra={"job_id": job.pk})  # fmt: skip
            return {"ref": ref, "url": ""}
        raise


def _metadata_only(job, pulse, client, ref, metadata, manifest) -> None:
    """Same files as the last published version, other metadata: UpdateDatasetMetadata
    alone (nothing staged or uploaded, no new Kaggle version)."""
    job = jobs.job_staged(job, manifest=manifest, bytes_total=0, plan=JobPlan.METADATA)
    pulse.check()
    job = jobs.job_uploaded(job, ref=ref, url=job.dataset.kaggle_url or _kaggle_url(ref))
    return _after_request(job, pulse, client, ref, metadata)


def _after_request(job, pulse, client, ref, metadata) -> None:
    """Processing, then (if the plan has it) the metadata update, then the read back."""
    version = None
    if job.plan != JobPlan.METADATA:
        version = _follow_processing(job, client, ref, pulse)

    def read_back():
        return _with_retries(job, pulse, lambda: kaggle.dataset_read(client, ref),
                             cancellable=False)  # fmt: skip

    if job.plan in (JobPlan.METADATA, JobPlan.VERSION_METADATA) and not job.metadata_updated_at:
        update = _metadata_for_update(metadata, read_back())
        jobs.job_metadata_requested(job)
        _with_retries(job, pulse, lambda: kaggle.dataset_update_metadata(client, ref,
                      update), cancellable=False)  # fmt: skip
        jobs.job_metadata_updated(job)
    read = read_back()
    if version is None:
        version = read.get("current_version_number")
    jobs.job_published(job, version=version, url=job.kaggle_url or _kaggle_url(ref),
                       differences=_differences(job, read))  # fmt: skip


def _metadata_for_update(metadata: dict, kaggle_now: dict) -> dict:
    """The whole approved metadata, with file descriptions only for files Kaggle holds:
    Kaggle unpacks a folder's archive into its members, and refuses an update naming a
    file it does not have."""
    held = {f["name"] for f in kaggle_now.get("files") or []}
    resources = [r for r in metadata.get("resources") or [] if r.get("path") in held]
    return {**metadata, "resources": resources}


# What a new version cannot carry (kagglesdk ApiCreateDatasetVersionRequestBody), or
# carries without Kaggle reliably applying it (subtitle, description: kaggle-cli #995).
# Sources, update frequency, collaborators and the cover travel only by the update.
VERSION_CANNOT_CARRY = ("title", "licenses", "isPrivate", "subtitle", "description",
                        *UPDATE_ONLY_KEYS)  # fmt: skip


def _needs_metadata_update(metadata: dict, last_metadata: dict) -> bool:
    return any(metadata.get(k) != last_metadata.get(k) for k in VERSION_CANNOT_CARRY)


def _differences(job, read: dict) -> list[str]:
    """What Kaggle holds against what was approved (datasets.reconcile),
    plus the keywords Kaggle said it did not take."""
    invalid = list(job.invalid_tags or [])
    read = {**read, "invalid_tags": invalid}
    submission = job.submission
    try:
        lines = list(
            reconcile.differences(submission.metadata, submission.files, job.manifest, read)
        )
    except Exception:
        log.exception("job %s: comparing with Kaggle failed", job.pk,
                      extra={"job_id": job.pk})  # fmt: skip
        lines = ["Wharf could not compare the published dataset with what was approved."]
    if invalid and not any(all(tag in line for tag in invalid) for line in lines):
        lines.append(f"Kaggle did not take the keywords {', '.join(invalid)} (not Kaggle tags).")
    return lines


def _stage(job: PublishJob, folder: Path, pulse: Pulse, *, on_staged=None,
           should_stop=None) -> list[dict]:  # fmt: skip
    submission = job.submission
    packaging = submission.metadata.get("folder_packaging", "zip")
    folder.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    for entry in submission.files:
        source, root = _source_of(entry, lab_id=job.dataset.lab_id)
        upload = entry.get("origin") != "storage" and entry["kind"] == "file"
        # A storage file frozen with its sha256 is sent from storage and checked by what
        # was sent (unless settings ask for a copy).
        direct = (
            not upload and entry["kind"] == "file" and bool(entry.get("sha256"))
            and not settings.STAGING_COPY_STORAGE_FILES
        )  # fmt: skip
        item = staging.StageItem(
            name=published_name(entry, packaging),
            source=source,
            kind=entry["kind"],
            expected_size=entry["size"],
            # Browser uploads are immutable (never rewritten in place): linked, not copied.
            link=upload,
            sha256=(entry.get("sha256") or None) if upload or direct else None,
            direct=direct,
            # Sent directly, a file touched since approval is hashed before it is sent.
            expected_mtime_ns=round(entry["mtime"] * 1e9)
            if direct and entry.get("mtime") is not None else None,
        )  # fmt: skip
        staged = staging.stage(
            [item], folder, packaging=packaging, root=root, progress=pulse.add,
            should_stop=should_stop or pulse.should_stop,
        )  # fmt: skip
        for m in staged:
            if (
                entry.get("sha256")
                and entry.get("kind") != "folder"
                and m.sha256 != entry["sha256"]
            ):
                raise staging.StagingError(
                    "source_changed",
                    f"{entry['path']} changed on lab storage after it was approved (its "
                    "content differs); submit the dataset again so the new content is "
                    "reviewed.",
                )
        for m in staged:
            manifest.append({"path": m.name, "size": m.size, "sha256": m.sha256})
            if on_staged is not None:
                on_staged(manifest[-1], m.source)
        pulse.check()
    return manifest


def _source_of(entry: dict, *, lab_id: int) -> tuple[Path, Path | None]:
    """Where an approved file list entry's bytes are, re-checked now against a root of
    the dataset's own lab (overlaps with another lab, hard links: storage's rules)."""
    if entry.get("origin") == "storage":
        if not os.path.lexists(Path(entry["root_path"]) / entry["relpath"]):
            raise staging.StagingError(
                "source_missing",
                f"{entry['path']} is no longer on lab storage; restore it or submit again.",
            )
        try:
            real = storage.resolve_under_root(entry["root_path"], entry["relpath"], lab_id=lab_id)
        except storage.UnsafePath as exc:
            raise staging.StagingError("unsafe_path", f"{entry['path']}: {exc}") from None
        _check_unchanged(entry, real)
        return Path(real), Path(entry["root_path"])
    return Path(settings.MEDIA_ROOT) / entry["upload"], None


def _check_unchanged(entry: dict, real) -> None:
    """A storage file or folder must be what was approved. A file frozen with its sha256
    is compared by content once staged (a new mtime alone is no change); without one
    (older submissions), and for folders, size and times are compared here."""
    name = entry["path"]
    try:
        kind, size, _count, mtime = storage.describe(real)
        if kind == "folder":
            now = {(e.relpath, e.size, round(e.mtime, 3)) for e in storage.walk_folder(real)}
            then = {(e["path"], e["size"], round(e["mtime"], 3)) for e in entry["entries"]}
            changed = now != then
        elif entry.get("sha256"):
            changed = size != entry["size"]
        else:
            changed = size != entry["size"] or abs(mtime - entry["mtime"]) > 1e-3
    except FileNotFoundError:
        raise staging.StagingError(
            "source_missing", f"{name} is no longer on lab storage; submit the dataset again."
        ) from None
    except storage.UnsafePath as exc:  # a hard link or another lab's root appeared since
        raise staging.StagingError("unsafe_path", f"{name}: {exc}") from None
    if changed:
        raise staging.StagingError(
            "source_changed",
            f"{name} changed on lab storage after it was approved; submit the dataset again "
            "so the new content is reviewed.",
        )


def _last_published(job: PublishJob) -> PublishJob | None:
    return (
        PublishJob.objects.filter(dataset=job.dataset, state=JobState.PUBLISHED)
        .exclude(pk=job.pk)
        .select_related("submission")
        .order_by("-finished_at", "-id")
        .first()
    )


def _content_key(entry: dict):
    """What proves a frozen file list entry's bytes without reading them: an upload's
    stored name (uploads are never rewritten) or a storage entry's sha256. None when
    nothing proves it (older submissions, folders)."""
    if entry.get("origin") == "upload" and entry.get("upload"):
        return ("upload", entry["path"], entry["upload"], entry["size"])
    if entry.get("kind") != "folder" and entry.get("sha256"):
        return ("sha256", entry["path"], entry["sha256"], entry["size"])
    if entry.get("kind") == "folder" and entry.get("entries"):
        members = entry["entries"]
        if all(m.get("sha256") for m in members):
            return ("folder", entry["path"], tuple(sorted((m["path"], m["sha256"])
                                                          for m in members)))  # fmt: skip
    return None


def _same_frozen_files(job: PublishJob, last: PublishJob) -> bool:
    """True when the submission's files are, by content, those of the last published
    version (so a metadata change needs no staging at all)."""
    mine = [_content_key(e) for e in job.submission.files]
    theirs = [_content_key(e) for e in last.submission.files]
    if None in mine or None in theirs:
        return False
    packaging = job.submission.metadata.get("folder_packaging", "zip")
    if packaging != last.submission.metadata.get("folder_packaging", "zip"):
        return False
    return sorted(mine) == sorted(theirs)


def _manifest_equal(a: list[dict], b: list[dict]) -> bool:
    return staging.manifest_equal(
        [staging.ManifestEntry(e["path"], e["size"], e["sha256"]) for e in a],
        [staging.ManifestEntry(e["path"], e["size"], e["sha256"]) for e in b],
    )


def _already_on_kaggle(job, pulse, client, ref) -> bool:
    """Whether the create/version this job asked for took effect: the dataset exists (a
    create), its version moved, or a version is processing that was not before (Kaggle
    moves the version number only once processing is ready)."""
    state = _with_retries(job, pulse, lambda: kaggle.dataset_state(client, ref),
                          cancellable=False)  # fmt: skip
    if not state["exists"]:
        return False
    if job.kaggle_version_before is None:  # a create was asked for
        return True
    if (state.get("current_version_number") or 0) > job.kaggle_version_before:
        return True
    status = (state.get("status") or "").lower()
    before = (job.kaggle_status_before or "").lower()
    return status != before and before in SETTLED and status not in ("", PROCESSING_DONE)


def _follow_processing(job, client, ref, pulse) -> int | None:
    """Polls Kaggle's processing (kagglesdk's status names) until the new version is
    ready; returns its number. `failed` and `deleted` fail the job; `reprocessing` and
    every in-between state keep waiting, up to KAGGLE_PROCESSING_DEADLINE."""
    deadline = time.monotonic() + settings.KAGGLE_PROCESSING_DEADLINE
    delay = settings.KAGGLE_POLL_INITIAL
    polls_failed = 0
    before = job.kaggle_version_before
    while True:
        pulse.check(cancellable=False)
        try:
            state = kaggle.dataset_state(client, ref)
        except kaggle.KaggleError as exc:
            # A new dataset may answer 404 until its first version is ready.
            if not exc.transient and not (exc.code == "not_found" and before is None):
                raise
            polls_failed += 1
            if exc.transient:
                jobs.job_retrying(job, code=exc.code, message=exc.message, delay=delay,
                                  attempt=polls_failed)  # fmt: skip
            state = {"status": "unknown"}
        status = (state.get("status") or "").lower()
        if not state.get("exists", True) and before is None:
            status = "unknown"
        version = state.get("current_version_number")
        if status == PROCESSING_DONE and (before is None or (version or 0) > before):
            return version
        if status == PROCESSING_FAILED:
            raise kaggle.KaggleError(
                "processing_failed", "Kaggle could not process the upload (status: failed)."
            )
        if status == PROCESSING_DELETED:
            raise kaggle.KaggleError(
                "processing_deleted",
                f"Kaggle reports the new version of {ref} as deleted before it was ready; "
                "check the dataset on Kaggle, then retry.",
            )
        if time.monotonic() + delay > deadline:
            raise kaggle.KaggleError(
                "processing_timeout",
                f"Kaggle was still processing {ref} after "
                f"{settings.KAGGLE_PROCESSING_DEADLINE} s (status: {status or 'unknown'}); "
                "check it on Kaggle, then retry.",
            )
        _wait(pulse, delay, cancellable=False)
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
            _wait(pulse, delay, cancellable=cancellable)
            look_first = before_retry is not None
    raise AssertionError("unreachable")


def _wait(pulse, seconds: float, *, cancellable: bool) -> None:
    """Sleeps, checking twice a second whether the job was taken away (or cancelled)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pulse.check(cancellable=cancellable)
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))


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
    """Removes staging folders no attempt needs: those of earlier attempts and of finished
    jobs (published ones after the retention), never one whose attempt still runs."""
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
        current = attempt_dir(job.pk, job.attempts)
        for attempt in path.glob("attempt-*"):
            if attempt == current and not (finished and not kept):
                continue
            if not attempt_is_live(attempt):
                shutil.rmtree(attempt, ignore_errors=True)
                removed += 1
        if finished and not kept and not any(path.iterdir()):
            with contextlib.suppress(OSError):
                path.rmdir()
    return removed
