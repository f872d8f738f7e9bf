"""Submitting a version and reviewing it. A submission freezes the metadata and the
file list (folders entry by entry), so what is approved is what gets published."""

import os

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from datasets import notifications, rules, storage
from datasets.metadata import dataset_snapshot, file_entry
from datasets.models import (
    Comment,
    Dataset,
    DatasetStatus,
    JobState,
    Submission,
    SubmissionState,
)
from datasets.selectors import is_engineer

from .data_checks import data_checks_gate, data_checks_prepare, data_checks_request
from .datasets import ensure_editable
from .errors import Conflict, Forbidden, ServiceError
from .events import event_record
from .roles import require_engineer, require_member
from .scans import scan_gate, scan_prepare, scan_request, submission_content_changes

# The snapshot key (Submission.metadata) of the researcher's request that Kaggle delete
# the older versions when this one is published (kagglesdk deleteOldVersions).
DELETE_OLD_VERSIONS = "delete_old_versions"


def _freeze_file(item) -> dict:
    """One file list entry, read from disk now (outside any transaction)."""
    entry = file_entry(item)
    if item.storage_root_id:
        root = item.storage_root
        try:
            real = storage.resolve_under_root(
                root.path, item.storage_relpath, lab_id=item.dataset.lab_id
            )
            kind, size, _count, mtime = storage.describe(real)
            entries = (
                [
                    {"path": e.relpath, "size": e.size, "mtime": e.mtime}
                    for e in storage.walk_folder(real)
                ]
                if kind == "folder"
                else []
            )
        except storage.UnsafePath as exc:
            raise ServiceError(f"{item.path}: {exc}", code="unsafe_path") from None
        entry.update(
            origin="storage",
            storage_root_id=root.pk,
            root_path=root.path,
            relpath=item.storage_relpath,
            kind=kind,
            size=size,
            mtime=mtime,
        )
        if kind == "folder":
            entry["entries"] = entries
    else:
        path = item.upload.path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ServiceError(
                f"The upload of {item.path} is missing on the server; upload it again.",
                code="upload_missing",
            ) from None
        entry.update(origin="upload", upload=item.upload.name, size=st.st_size, mtime=st.st_mtime)
    return entry


def submission_submit(
    dataset: Dataset,
    *,
    actor,
    version_notes: str = "",
    system: str = "",
    delete_old_versions: bool = False,
) -> Submission:
    """`system` names what submits when no person does (e.g. "schedule": a dataset's
    schedule saw its files change); the actor is then None and the event says so.
    `delete_old_versions` asks Kaggle to delete the older versions when this one is
    published (for quota); frozen in the snapshot under DELETE_OLD_VERSIONS, so the
    engineer reviews it and the pipeline reads it from there."""
    if system:
        if actor is not None:
            raise ValueError("A system submission has no actor.")
    else:
        require_member(actor, dataset.lab)
    ensure_editable(dataset)
    version_notes = (version_notes or "").strip()
    if len(version_notes) > rules.VERSION_NOTES_MAX:
        raise ServiceError("Keep version notes under 10,000 characters.", field="version_notes")
    rules.check_no_control_characters(version_notes.replace("\r", ""), "The version notes")
    if dataset.kaggle_account_id is None:
        raise ServiceError("Choose the Kaggle account to publish under before submitting.")
    items = list(dataset.files.select_related("storage_root"))
    if not items:
        raise ServiceError(
            "Add at least one file before submitting: Kaggle needs one.", code="no_files"
        )
    if dataset.latest_version and not version_notes:
        raise ServiceError(
            "Say what changed in this version (version notes).", field="version_notes"
        )
    files = [_freeze_file(item) for item in items]
    try:
        rules.check_version_files(files)  # refused now, not hours into an upload
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], code=exc.code) from None
    scanned = scan_prepare(dataset, files)  # a small version is scanned now (issue 9)
    checked = data_checks_prepare(files)  # likewise its tabular files' data checks
    try:
        with transaction.atomic():
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            ensure_editable(locked)
            if locked.jobs.filter(state__in=JobState.active()).exists():
                raise Conflict("A version of this dataset is still being published.")
            submission = Submission.objects.create(
                dataset=locked,
                number=(locked.latest_version or 0) + 1,
                metadata={
                    **dataset_snapshot(locked),
                    DELETE_OLD_VERSIONS: bool(delete_old_versions and locked.latest_version),
                },
                files=files,
                total_bytes=sum(f["size"] for f in files),
                file_count=len(files),
                version_notes=version_notes,
                submitted_by=actor,
            )
            Dataset.objects.filter(pk=locked.pk).update(return_reason="")
            event_record(
                "submission.submitted",
                submission=submission,
                actor=actor,
                status=DatasetStatus.IN_REVIEW,
                data={
                    "number": submission.number,
                    "files": len(files),
                    "bytes": submission.total_bytes,
                    **({"by": system} if system else {}),
                    **({"delete_old_versions": True} if delete_old_versions else {}),
                },
            )
            scan_request(submission, result=scanned)
            data_checks_request(submission, result=checked)
            if not (system and _policy_may_approve(locked)):
                # A version the policy may approve waits for nobody: it is told about only
                # if the policy refuses it (services.continuous).
                transaction.on_commit(lambda: notifications.submission_submitted(submission.pk))
    except IntegrityError:
        raise Conflict("This dataset already has a submission waiting for review.") from None
    return submission


def _policy_may_approve(dataset: Dataset) -> bool:
    schedule = getattr(dataset, "schedule", None)  # the reverse one-to-one may be absent
    return bool(schedule is not None and schedule.is_auto_approve)


def _status_after_review_closed(dataset: Dataset) -> str:
    return DatasetStatus.PUBLISHED if dataset.latest_version else DatasetStatus.DRAFT


def _close(submission: Submission, new_state: str, *, actor, **fields) -> bool:
    """Moves a pending submission to `new_state` with a conditional update: of two
    engineers (or two clicks) only one wins; the other is told it was already done."""
    updated = Submission.objects.filter(
        pk=submission.pk, state=SubmissionState.PENDING_REVIEW
    ).update(state=new_state, reviewed_at=timezone.now(), **fields)
    if not updated:
        submission.refresh_from_db()
        raise Conflict(
            f"This submission is already {submission.get_state_display().lower()}; "
            "nothing was changed.",
            code="not_pending",
        )
    submission.refresh_from_db()
    return True


def submission_withdraw(submission: Submission, *, actor) -> Submission:
    dataset = submission.dataset
    require_member(actor, dataset.lab)
    if submission.submitted_by_id != actor.pk and not is_engineer(actor, dataset.lab):
        raise Forbidden("Only the researcher who submitted it may withdraw it.")
    with transaction.atomic():
        _close(submission, SubmissionState.WITHDRAWN, actor=actor)
        event_record(
            "submission.withdrawn",
            submission=submission,
            actor=actor,
            status=_status_after_review_closed(dataset),
            data={"number": submission.number},
        )
    return submission


def files_changed_since(submission: Submission) -> list[str]:
    """Storage files whose size changed (or that vanished) since the submission."""
    changed = []
    for entry in submission.files:
        if entry.get("origin") != "storage":
            continue
        try:
            real = storage.resolve_under_root(
                entry["root_path"], entry["relpath"], lab_id=submission.dataset.lab_id
            )
            _kind, size, _count, _mtime = storage.describe(real)
        except storage.UnsafePath:
            changed.append(entry["path"])
            continue
        if size != entry["size"]:
            changed.append(entry["path"])
    return changed


def _refuse_content_changes(submission: Submission) -> None:
    """Content, not size and mtime (issue 15): the frozen sha256 decides."""
    altered = submission_content_changes(submission)
    if altered:
        raise Conflict(
            "The content of files on storage changed since this version was submitted: "
            f"{', '.join(altered)}. The researcher must submit again.",
            code="content_changed",
        )


def submission_approve(
    submission: Submission, *, actor, note: str = "", acknowledge_findings: bool = False
):
    """Approves and creates the publish job (queued after the transaction commits)."""
    from .jobs import job_create

    dataset = submission.dataset
    require_engineer(actor, dataset.lab, "approve a submission")
    if submission.submitted_by_id == actor.pk and not dataset.lab.allow_self_approval:
        raise Forbidden(
            "You submitted this version; another engineer must approve it "
            "(or the lab must allow self-approval).",
            code="self_approval",
        )
    if submission.state != SubmissionState.PENDING_REVIEW:
        raise Conflict(
            f"This submission is {submission.get_state_display().lower()}; "
            "only a pending one can be approved.",
            code="not_pending",
        )
    changed = files_changed_since(submission)
    if changed:
        raise Conflict(
            "Files changed on storage since this version was submitted: "
            f"{', '.join(changed)}. The researcher must submit again.",
            code="files_changed",
        )
    _refuse_content_changes(submission)
    note = (note or "").strip()[:5000]
    with transaction.atomic():
        data_checks_gate(submission)
        acknowledged = scan_gate(submission, acknowledge_findings=acknowledge_findings, note=note)
        _close(
            submission, SubmissionState.APPROVED, actor=actor, reviewed_by=actor, review_note=note
        )
        event_record(
            "submission.approved",
            submission=submission,
            actor=actor,
            status=DatasetStatus.APPROVED,
            data={"number": submission.number, "note": note, **acknowledged},
        )
        job = job_create(submission, actor=actor)
        transaction.on_commit(lambda: notifications.submission_reviewed(submission.pk))
    return job


def submission_approve_by_policy(submission: Submission, *, policy: str):
    """Approves on behalf of a dataset's policy ("auto": its schedule auto-approves):
    no person acts, so the event names the policy. Only what the content scan cleared:
    Conflict `scan_pending` while it runs (ask again later), `scan_blocked` when it
    found something or failed (the version stays in the review queue)."""
    from .jobs import job_create

    if submission.state != SubmissionState.PENDING_REVIEW:
        raise Conflict(
            f"This submission is {submission.get_state_display().lower()}; "
            "only a pending one can be approved.",
            code="not_pending",
        )
    try:
        from .scans import scan_allows_auto_approval
    except ImportError:  # no content scanning installed: nothing is cleared
        raise Conflict(
            "No content scan is available, so nothing is approved automatically.",
            code="scan_blocked",
        ) from None
    verdict = scan_allows_auto_approval(submission)
    if verdict is None:
        raise Conflict("The content scan has not finished yet.", code="scan_pending")
    if not verdict:
        raise Conflict(
            "The content scan found possible sensitive data or could not finish; "
            "an engineer reviews this version.",
            code="scan_blocked",
        )
    changed = files_changed_since(submission)
    if changed:
        raise Conflict(
            f"Files changed on storage since this version was submitted: {', '.join(changed)}.",
            code="files_changed",
        )
    _refuse_content_changes(submission)
    note = f"Approved by policy ({policy}), not by a person."
    with transaction.atomic():
        data_checks_gate(submission)
        _close(
            submission,
            SubmissionState.APPROVED,
            actor=None,
            approved_by_policy=policy,
            review_note=note,
        )
        event_record(
            "submission.approved",
            submission=submission,
            status=DatasetStatus.APPROVED,
            data={"number": submission.number, "policy": policy, "note": note},
        )
        job = job_create(submission, actor=None)
        transaction.on_commit(lambda: notifications.submission_reviewed(submission.pk))
    return job


def submission_return(submission: Submission, *, actor, reason: str) -> Submission:
    dataset = submission.dataset
    require_engineer(actor, dataset.lab, "return a submission")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "Say why it goes back, so the researcher knows what to fix.", field="reason"
        )
    if len(reason) > 5000:
        raise ServiceError("Keep the reason under 5,000 characters.", field="reason")
    with transaction.atomic():
        _close(
            submission, SubmissionState.RETURNED, actor=actor, reviewed_by=actor, review_note=reason
        )
        Dataset.objects.filter(pk=dataset.pk).update(return_reason=reason)
        event_record(
            "submission.returned",
            submission=submission,
            actor=actor,
            status=DatasetStatus.RETURNED,
            data={"number": submission.number, "reason": reason},
        )
        transaction.on_commit(lambda: notifications.submission_reviewed(submission.pk))
    return submission


def comment_add(submission: Submission, *, actor, text: str) -> Comment:
    require_member(actor, submission.dataset.lab)
    text = (text or "").strip()
    if not text:
        raise ServiceError("Write something first.", field="text")
    if len(text) > 10_000:
        raise ServiceError("Keep a comment under 10,000 characters.", field="text")
    with transaction.atomic():
        comment = Comment.objects.create(submission=submission, author=actor, text=text)
        event_record(
            "submission.commented",
            submission=submission,
            actor=actor,
            data={"comment": comment.pk, "excerpt": text[:200]},
        )
        transaction.on_commit(lambda: notifications.comment_added(comment.pk))
    return comment
