"""Data checks at review: a Frictionless validation report for each tabular file of a
submission (CSV/TSV files, and the CSV/TSV entries of folders), against the columns the
researcher described. Small submissions are checked at once; others by a worker task.
The lab decides whether errors block approval (`Lab.data_checks_block`) or only warn."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datasets import storage, tabular
from datasets.models import Submission

from .errors import Conflict
from .events import event_record

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

DEFAULT_INLINE_MAX_BYTES = 2 * 1024 * 1024


def budget() -> int:
    """Bytes checked of each file (WHARF_DATA_CHECK_MAX_BYTES_PER_FILE); beyond it the
    report says the file was checked in part."""
    return int(getattr(settings, "WHARF_DATA_CHECK_MAX_BYTES_PER_FILE", tabular.VALIDATE_BUDGET))


def _tables(files: list[dict]):
    """(shown path, storage root or None, path, format, columns, size) of each tabular
    file or folder entry; a path on storage is relative to its root."""
    for entry in files:
        if entry.get("kind") == "folder":
            if entry.get("origin") != "storage":
                continue
            described = entry.get("entry_columns") or {}
            count = 0
            for item in entry.get("entries", []):
                fmt = tabular.table_format(item["path"])
                if fmt is None:
                    continue
                count += 1
                if count > tabular.MAX_FOLDER_TABLES:
                    break
                yield (
                    f"{entry['path']}/{item['path']}",
                    entry["root_path"],
                    f"{entry['relpath']}/{item['path']}",
                    fmt,
                    described.get(item["path"], []),
                    item["size"],
                )
            continue
        fmt = tabular.table_format(entry["path"])
        if fmt is None:
            continue
        if entry.get("origin") == "storage":
            root, path = entry["root_path"], entry["relpath"]
        else:
            root, path = None, str(Path(settings.MEDIA_ROOT) / entry["upload"])
        yield entry["path"], root, path, fmt, entry.get("columns") or [], entry["size"]


def _check(shown: str, root: str | None, path: str, fmt: str, columns, limit: int) -> dict:
    try:
        # A path on lab storage is re-checked against its root now.
        real = Path(storage.resolve_under_root(root, path) if root else path)
        report = tabular.validate_table(real, fmt, columns, budget=limit)
    except (storage.UnsafePath, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return {"path": shown, "valid": False, "skipped": f"not readable: {reason}"[:300]}
    return {"path": shown, **report}


def data_checks_collect(files: list[dict]) -> list[dict]:
    limit = budget()
    reports = []
    for shown, root, path, fmt, columns, _size in _tables(files):
        reports.append(_check(shown, root, path, fmt, columns, limit))
    return reports


def data_checks_prepare(files: list[dict]) -> list[dict] | None:
    """Checks a small frozen file list now (outside any transaction); None when the
    worker should do it."""
    limit = int(getattr(settings, "WHARF_DATA_CHECK_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES))
    if sum(size for *_rest, size in _tables(files)) > limit:
        return None
    try:
        return data_checks_collect(files)
    except Exception:  # never in the way of a submission: the worker tries again
        log.exception("inline data checks failed; the worker will run them")
        return None


def _enqueue(submission_id: int) -> None:
    from portal.celery import enqueue

    # Bounded (portal.celery.enqueue): a frozen broker must not hold the submit request.
    if enqueue("datasets.tasks.check_submission_data", submission_id) is None:
        # The broker is down: the checks stay pending; the page says so.
        log.warning("data checks of submission %s could not be queued", submission_id)


def data_checks_request(submission: Submission, *, result: list[dict] | None = None) -> None:
    """Called by submission_submit inside its transaction."""
    if result is not None:
        checks = {"state": DONE, "files": result, "finished_at": timezone.now().isoformat()}
    else:
        checks = {"state": PENDING, "files": []}
        transaction.on_commit(lambda: _enqueue(submission.pk))
    Submission.objects.filter(pk=submission.pk).update(data_checks=checks)
    submission.data_checks = checks


def data_checks_run(submission_id: int) -> str:
    """The task's work; safe to run twice (a finished report is left alone)."""
    submission = Submission.objects.filter(pk=submission_id).only("pk", "data_checks").first()
    if submission is None or submission.data_checks.get("state") not in (PENDING, RUNNING):
        return "nothing to do"
    try:
        reports = data_checks_collect(Submission.objects.get(pk=submission_id).files)
        checks = {"state": DONE, "files": reports, "finished_at": timezone.now().isoformat()}
    except Exception as exc:
        log.exception("data checks failed: submission_id=%s", submission_id)
        checks = {
            "state": FAILED,
            "files": [],
            "error": f"The data checks stopped on an unexpected error ({type(exc).__name__}).",
        }
    with transaction.atomic():
        # Only the pending report is replaced: a second delivery finds it done.
        updated = Submission.objects.filter(
            pk=submission_id, data_checks__state__in=[PENDING, RUNNING]
        ).update(data_checks=checks)
        if updated:
            event_record(
                "submission.data_checked",
                submission=Submission.objects.get(pk=submission_id),
                data={"state": checks["state"], "errors": error_total(checks)},
            )
    return checks["state"]


def error_total(checks: dict) -> int:
    return sum(
        f.get("error_count", 0) + (1 if f.get("skipped") else 0) for f in checks.get("files", [])
    )


def data_checks_gate(submission: Submission) -> None:
    """What submission_approve asks: with the lab's blocking setting, refuse while the
    checks are unfinished or found errors. Without it, errors only warn."""
    lab = submission.dataset.lab
    if not lab.data_checks_block:
        return
    # Read afresh: the worker may have finished since the page was loaded.
    checks = Submission.objects.filter(pk=submission.pk).values_list("data_checks", flat=True)
    checks = checks.first() or {}
    if not checks:
        return  # submitted before data checks existed
    if checks.get("state") in (PENDING, RUNNING):
        raise Conflict(
            "The data checks of the tabular files are still running; approve when they are done.",
            code="data_checks_pending",
        )
    if checks.get("state") == FAILED or error_total(checks):
        raise Conflict(
            f"{lab.name} does not publish tabular files that fail their data checks: "
            "return the version so the files can be fixed.",
            code="data_checks_failed",
        )
