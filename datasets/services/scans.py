"""The content scan (issue 9): every submitted version is scanned for personal data
before it may be approved, and a lab adds its own patterns to the rules.

A version whose scan reads little (a few MB of text) is scanned while it is submitted,
so its findings are on the review page at once; anything bigger goes to the
`scan_submission` task after the commit. The result never holds a raw value: the
scanner masks every example before it leaves it.

The same read hashes every file: the sha256 of each file, and of each entry of a
folder, is frozen in Submission.files (issue 15), and approval compares content with
it (submission_content_changes). Content never makes a scan fail (issue 18): what the
scanner cannot read is listed as "not scanned, because …", and the engineer
acknowledges those gaps as they acknowledge findings."""

import logging
import os
import time
import traceback

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from datasets import rules, scanning, storage
from datasets.changes import sha256_of
from datasets.models import (
    Dataset,
    Lab,
    LabPattern,
    ScanState,
    Submission,
    SubmissionScan,
    SubmissionState,
)

from .errors import Conflict, ServiceError
from .events import event_record
from .roles import require_engineer

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES_PER_FILE = 256 << 20
DEFAULT_INLINE_MAX_BYTES = 2 << 20
# Hashing is cheap next to scanning, but a submission stays a quick web request: a
# version with more than this many bytes in all (binaries included) goes to the task.
DEFAULT_INLINE_MAX_READ_BYTES = 32 << 20
DEFAULT_SECONDS_PER_FILE = 120
# Below the task's soft time limit (3600 s): files left when it runs out are listed as
# not scanned (a gap to acknowledge), so even a scan that runs long ends `done`.
DEFAULT_SECONDS_PER_SCAN = 3300
# What approval may re-read, in all, of files rewritten in place (same size and mtime,
# new ctime or inode) to compare their content; beyond it, the re-run scan compares.
DEFAULT_APPROVAL_REHASH_BYTES = 64 << 20


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def scan_budget() -> int:
    """Bytes read of each file (WHARF_SCAN_MAX_BYTES_PER_FILE); beyond it the file is
    listed as "scanned the first N MB of X"."""
    return _setting("WHARF_SCAN_MAX_BYTES_PER_FILE", DEFAULT_MAX_BYTES_PER_FILE)


def _patterns(lab: Lab) -> list:
    compiled = []
    for pattern in LabPattern.objects.filter(lab=lab):
        try:
            compiled.append((pattern.name, scanning.compile_lab_pattern(pattern.pattern)))
        except scanning.UnsafePattern:  # checked when added; rules may have tightened
            log.warning("lab %s: pattern %s skipped (no longer accepted)", lab.pk, pattern.pk)
    return compiled


def _scan_files(lab: Lab, files: list[dict]) -> scanning.ScanResult:
    """Scans and hashes a frozen file list in one read of each file."""
    seconds = _setting("WHARF_SCAN_SECONDS_PER_SCAN", DEFAULT_SECONDS_PER_SCAN)
    scan = scanning.Scan(
        budget=scan_budget(),
        patterns=_patterns(lab),
        open_upload=lambda name: default_storage.open(name, "rb"),
        seconds_per_file=_setting("WHARF_SCAN_SECONDS_PER_FILE", DEFAULT_SECONDS_PER_FILE),
        deadline=time.monotonic() + seconds,
    )
    return scan.run(files)


def _is_small(files: list[dict]) -> bool:
    limit = _setting("WHARF_SCAN_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES)
    read_limit = _setting("WHARF_SCAN_INLINE_MAX_READ_BYTES", DEFAULT_INLINE_MAX_READ_BYTES)
    return (
        scanning.estimate_scan_bytes(files) <= limit
        and scanning.estimate_read_bytes(files) <= read_limit
    )


def scan_prepare(dataset: Dataset, files: list[dict]) -> scanning.ScanResult | None:
    """Scans a small frozen file list now, outside any transaction, and adds each file's
    sha256 to `files` in place (the list the submission is then created with); None when
    the task should do it (or when this quick scan could not finish: the task tries)."""
    if not _is_small(files):
        return None
    try:
        result = _scan_files(dataset.lab, files)
    except Exception as exc:
        _log_failure(dataset.pk, None, exc)
        return None
    files[:] = scanning.apply_hashes(files, result.hashes)
    return result


def _enqueue(submission_id: int) -> None:
    from portal.celery import enqueue

    # Bounded (portal.celery.enqueue): a frozen broker must not hold the submit request.
    if enqueue("datasets.tasks.scan_submission", submission_id) is None:
        # The broker is down: the scan stays pending, re-run offers a way out.
        log.warning("scan of submission %s could not be queued", submission_id)


def _result_fields(result: scanning.ScanResult, state: str = ScanState.DONE) -> dict:
    return {
        "state": state,
        "findings": result.findings,
        "not_scanned": result.not_scanned,
        "files_scanned": result.files_scanned,
        "bytes_scanned": result.bytes_scanned,
        "error": "",
        "finished_at": timezone.now(),
    }


def scan_request(submission: Submission, *, result: scanning.ScanResult | None = None):
    """Called by submission_submit inside its transaction: records the scan, done when
    `result` came from scan_prepare, otherwise queued for after the commit."""
    if result is not None:
        now = timezone.now()
        return SubmissionScan.objects.create(
            submission=submission, started_at=now, **_result_fields(result)
        )
    scan = SubmissionScan.objects.create(submission=submission)
    transaction.on_commit(lambda: _enqueue(submission.pk))
    return scan


def _log_failure(dataset_id, submission_id, exc: BaseException) -> None:
    # The exception's message may quote file content (int("123-45-6789") would): only
    # its type and where it happened are logged.
    where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    log.error(
        "content scan failed: dataset_id=%s submission_id=%s %s\n%s",
        dataset_id, submission_id, type(exc).__name__, where,
    )  # fmt: skip


def _finish(
    scan: SubmissionScan, generation: int, fields: dict, hashes: dict | None = None
) -> bool:
    submission = scan.submission
    with transaction.atomic():
        updated = SubmissionScan.objects.filter(
            pk=scan.pk, generation=generation, state=ScanState.RUNNING
        ).update(**fields)
        if not updated:
            # Re-run since (the newer run's result is the one that counts), or a duplicate
            # delivery of the task finished first.
            return False
        if hashes:
            _freeze_hashes(submission, hashes)
        failed = fields["state"] == ScanState.FAILED
        findings = fields.get("findings") or []
        data = {"number": submission.number, "state": fields["state"]}
        if failed:
            data["error"] = fields["error"]
        else:
            data["findings"] = scanning.findings_summary(findings)
            files = fields["files_scanned"]
            data["message"] = (
                f"{len(findings)} finding{'s' if len(findings) != 1 else ''} in "
                f"{files} scanned file{'s' if files != 1 else ''}"
            )
            gaps = scanning.gaps(fields.get("not_scanned") or [])
            if gaps:
                data["not_scanned"] = len(gaps)
                data["message"] += f"; {len(gaps)} not scanned"
        action = "submission.scan_failed" if failed else "submission.scanned"
        event_record(action, submission=submission, data=data)
    return True


def scan_run(submission_id: int) -> str:
    """The task's work. Safe to run twice: a finished scan is left alone, and a run
    superseded by a re-run request throws its result away."""
    scan = (
        SubmissionScan.objects.select_related("submission__dataset__lab")
        .filter(submission_id=submission_id)
        .first()
    )
    if scan is None:
        return "no scan requested"
    if scan.is_finished:
        return f"already {scan.state}"
    generation = scan.generation
    claimed = SubmissionScan.objects.filter(
        pk=scan.pk, generation=generation, state__in=ScanState.unfinished()
    ).update(state=ScanState.RUNNING, started_at=timezone.now(), error="")
    if not claimed:
        return "superseded"
    submission = scan.submission
    dataset_id = submission.dataset_id
    try:
        result = _scan_files(submission.dataset.lab, submission.files)
    except SoftTimeLimitExceeded:
        message = "The scan took longer than its time limit. Re-run it, or return the version."
        _finish(scan, generation, _failed(message))
        return "failed"
    except Exception as exc:
        _log_failure(dataset_id, submission_id, exc)
        message = (
            f"The scan stopped on an unexpected error ({type(exc).__name__}). Re-run it; "
            "if it fails again, tell the Wharf administrators."
        )
        _finish(scan, generation, _failed(message))
        return "failed"
    _finish(scan, generation, _result_fields(result), result.hashes)
    log.info(
        "content scan done: dataset_id=%s submission_id=%s findings=%d files=%d bytes=%d",
        dataset_id, submission_id, len(result.findings), result.files_scanned,
        result.bytes_scanned,
    )  # fmt: skip
    return "done"


def _freeze_hashes(submission: Submission, hashes: dict) -> None:
    """Writes the hashes into the frozen file list, while the version waits for review
    (the row is locked: a concurrent approval waits for this, or this for it)."""
    locked = (
        Submission.objects.select_for_update()
        .filter(pk=submission.pk, state=SubmissionState.PENDING_REVIEW)
        .only("files")
        .first()
    )
    if locked is None:
        return
    files = scanning.apply_hashes(locked.files, hashes)
    if files != locked.files:
        Submission.objects.filter(pk=locked.pk).update(files=files)
        submission.files = files


def _failed(message: str) -> dict:
    return {"state": ScanState.FAILED, "error": message, "finished_at": timezone.now()}


def scan_rerun(submission: Submission, *, actor) -> SubmissionScan:
    """An engineer asks for a fresh scan (it failed, seems stuck, or the lab's patterns
    changed). A small version is scanned at once, a big one by the task."""
    lab = submission.dataset.lab
    require_engineer(actor, lab, "re-run the scan")
    if submission.state != SubmissionState.PENDING_REVIEW:
        raise Conflict("Only a version waiting for review is scanned again.", code="not_pending")
    with transaction.atomic():
        scan, _created = SubmissionScan.objects.get_or_create(submission=submission)
        SubmissionScan.objects.filter(pk=scan.pk).update(
            state=ScanState.PENDING, generation=F("generation") + 1, findings=[],
            not_scanned=[], files_scanned=0, bytes_scanned=0, error="",
            requested_at=timezone.now(), started_at=None, finished_at=None,
        )  # fmt: skip
        event_record(
            "submission.scan_requested",
            submission=submission,
            actor=actor,
            data={"number": submission.number},
        )
    if _is_small(submission.files):
        scan_run(submission.pk)
    else:
        transaction.on_commit(lambda: _enqueue(submission.pk))
    scan.refresh_from_db()
    return scan


# --- The gate -----------------------------------------------------------------------------


def scan_gate(submission: Submission, *, acknowledge_findings: bool, note: str) -> dict:
    """What submission_approve asks before approving: refuses while the scan is not done
    or failed, and with findings unless they are acknowledged with a note. Returns what
    the approval event records about them."""
    scan = SubmissionScan.objects.select_for_update().filter(submission=submission).first()
    if scan is None:
        raise Conflict(
            "This version has not been scanned for personal data yet: re-run the scan "
            "and approve once it has finished.",
            code="scan_missing",
        )
    if scan.state in ScanState.unfinished():
        raise Conflict(
            "The content scan of this version is still "
            f"{'running' if scan.state == ScanState.RUNNING else 'waiting for a worker'}: "
            "approve once it has finished (reload the page), or re-run it if it seems stuck.",
            code="scan_pending",
        )
    if scan.state == ScanState.FAILED:
        raise Conflict(
            f"The content scan failed, so nothing says this version is safe to publish: "
            f"{scan.error} Re-run the scan before approving.",
            code="scan_failed",
        )
    changed = scanning.changed_files(scan.not_scanned)
    if changed:
        raise Conflict(
            f"{_names(changed)} changed on lab storage after this version was submitted, so "
            "what was scanned is not what was submitted. The researcher must submit again.",
            code="content_changed",
        )
    gaps = scanning.gaps(scan.not_scanned)
    if not scan.findings and not gaps:
        return {}
    if not acknowledge_findings:
        raise ServiceError(
            f"The scan {_count_text(scan, gaps)}. Tick the acknowledgement and say in the "
            "note why it may be published, or return the version to the researcher.",
            code="findings_unacknowledged",
            field="acknowledge_findings",
        )
    if not note:
        what = "findings" if scan.findings else "files the scan could not read"
        raise ServiceError(
            f"Say in the note why the {what} may be published: it is kept in the history.",
            code="note_required",
            field="note",
        )
    summary = scanning.findings_summary(scan.findings)
    # What the timeline shows: counts by kind and the unscanned files, never an example.
    parts = [f"{kind} ×{count}" for kind, count in summary.items()]
    if gaps:
        parts.append(f"{len(gaps)} not scanned ({_names([g['file'] for g in gaps])})")
    out = {"acknowledged_findings": summary, "findings": len(scan.findings)}
    if gaps:
        out["acknowledged_not_scanned"] = [
            {"file": g["file"], "code": g["code"], "reason": g["reason"]} for g in gaps[:50]
        ]
    out["message"] = "Content scan findings acknowledged: " + ", ".join(parts)
    return out


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _count_text(scan: SubmissionScan, gaps: list[dict]) -> str:
    parts = []
    if scan.findings:
        n = len(scan.findings)
        kinds = sorted({f["kind"] for f in scan.findings})
        parts.append(
            f"found possible personal data ({n} finding{'s' if n != 1 else ''}: {', '.join(kinds)})"
        )
    if gaps:
        files = sorted({g["file"] for g in gaps})
        parts.append(
            f"could not read {len(files)} file{'s' if len(files) != 1 else ''} ({_names(files)})"
        )
    return " and ".join(parts)


def scan_allows_auto_approval(submission: Submission) -> bool | None:
    """For approval by policy: None while the scan is pending or running, False when it
    failed, found anything, or never ran; True only for a clean, finished scan."""
    scan = SubmissionScan.objects.filter(submission=submission).first()
    if scan is None:
        return False
    if scan.state in ScanState.unfinished():
        return None
    # What the scan could not read needs a person as much as what it found.
    gaps = scanning.gaps(scan.not_scanned) or scanning.changed_files(scan.not_scanned)
    return scan.state == ScanState.DONE and not scan.findings and not gaps


def scan_for(submission: Submission) -> SubmissionScan | None:
    """The submission's scan, if any (a read, kept beside the writes it belongs to)."""
    return SubmissionScan.objects.filter(submission=submission).first()


# --- Content, not size and mtime (issue 15) ----------------------------------------------


def submission_content_changes(submission: Submission) -> list[str]:
    """The storage files (and folder entries) whose content is no longer what was
    submitted; [] when all are. Asked by approval, so it stays cheap whatever the size:

    - a file the scan found changed (a different sha256, or rewritten while read);
    - one gone, or of another size, or (without a frozen hash) another mtime;
    - one with a frozen hash whose stat (mtime, inode, ctime) moved: re-read and
      compared, up to WHARF_APPROVAL_REHASH_BYTES in all. The ctime cannot be set back
      by the file's owner, so a rewrite that restores size and mtime still shows here.
      Past the bound, the file is named as rewritten: re-running the scan compares its
      content in the worker (same bytes: its new stat is recorded, approval passes).

    Staging compares the staged sha256 with the frozen one again (`source_changed`)."""
    scan = scan_for(submission)
    changed = scanning.changed_files(scan.not_scanned) if scan is not None else []
    suspects = []
    for entry in submission.files:
        if entry.get("origin") != "storage":
            continue  # uploads are kept by Wharf under a generated name, never rewritten
        try:
            members = _members_now(entry)
        except (storage.UnsafePath, OSError):
            changed.append(entry["path"])
            continue
        for name, real, frozen in members:
            if frozen is None or real is None:
                changed.append(name)  # added to the folder, or gone from it
                continue
            try:
                st = os.stat(real)
            except OSError:
                changed.append(name)
                continue
            mtime_moved = abs(st.st_mtime - frozen.get("mtime", st.st_mtime)) > 1e-3
            if st.st_size != frozen.get("size"):
                changed.append(name)
            elif not frozen.get("sha256"):
                if mtime_moved:  # nothing but size and mtime to go by
                    changed.append(name)
            elif mtime_moved or (st.st_ino, st.st_ctime_ns) != (
                frozen.get("inode"),
                frozen.get("ctime_ns"),
            ):
                suspects.append((name, real, frozen["sha256"], st.st_size))
    left = _setting("WHARF_APPROVAL_REHASH_BYTES", DEFAULT_APPROVAL_REHASH_BYTES)
    for name, real, digest, size in suspects:
        if size > left:
            changed.append(
                f"{name} (rewritten in place after it was submitted; too big to compare "
                "here: re-run the scan to compare its content)"
            )
            continue
        left -= size
        try:
            same = sha256_of(real) == digest
        except OSError:
            same = False
        if not same:
            changed.append(name)
    return list(dict.fromkeys(changed))


def _members_now(entry: dict):
    """(name, real path or None, frozen dict or None) of each file of a storage entry:
    a folder's frozen entries and whatever it holds now."""
    real = storage.resolve_under_root(entry["root_path"], entry["relpath"])
    if entry.get("kind") != "folder":
        return [(entry["path"], real, entry)]
    frozen = {sub["path"]: sub for sub in entry.get("entries") or []}
    now = {e.relpath for e in storage.walk_folder(real)}
    out = []
    for rel in sorted(frozen.keys() | now):
        path = real / rel if rel in now else None
        out.append((f"{entry['path']}/{rel}", path, frozen.get(rel)))
    return out


# --- The lab's own patterns ------------------------------------------------------------


def lab_pattern_add(lab: Lab, *, actor, name: str, pattern: str) -> LabPattern:
    require_engineer(actor, lab, "change its scan patterns")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ServiceError("Give the pattern a name of 1–80 characters.", field="name")
    try:
        rules.check_no_control_characters(name, "The name")
    except Exception as exc:
        raise ServiceError(exc.messages[0], field="name") from None
    pattern = (pattern or "").strip()
    try:
        scanning.compile_lab_pattern(pattern)
    except scanning.UnsafePattern as exc:
        raise ServiceError(str(exc), field="pattern") from None
    try:
        with transaction.atomic():
            created = LabPattern.objects.create(
                lab=lab, name=name, pattern=pattern, created_by=actor
            )
            event_record(
                "lab.scan_pattern_added",
                lab=lab,
                actor=actor,
                data={"name": name, "pattern": pattern},
            )
    except IntegrityError:
        raise ServiceError(f"The lab already has a pattern named “{name}”.", field="name") from None
    return created


def lab_pattern_delete(pattern: LabPattern, *, actor) -> None:
    lab = pattern.lab
    require_engineer(actor, lab, "change its scan patterns")
    with transaction.atomic():
        event_record(
            "lab.scan_pattern_removed",
            lab=lab,
            actor=actor,
            data={"name": pattern.name, "pattern": pattern.pattern},
        )
        pattern.delete()
