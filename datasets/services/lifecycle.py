"""Changing what is on Kaggle outside a publish job, and watching what Kaggle holds.

- Make public: an engineer's action on a published private dataset. Kaggle cannot make
  a public dataset private again, so it is confirmed; the worker sends the last approved
  state whole (kaggle_metadata) with isPrivate false through UpdateDatasetMetadata, then
  reads Kaggle back: Wharf's `is_private` follows Kaggle's answer, not the form.
- Remove from Kaggle: an engineer's action, confirmed by typing the dataset's ref;
  Kaggle's DeleteDataset, then the Wharf dataset is archived with its whole history (its
  row keeps the slug reserved, and the title stays reserved for the owner, as on Kaggle).
- The watch: every published dataset is read back periodically and what changed outside
  Wharf (edited on kaggle.com, deleted, made public) is recorded as an event.

A request is recorded with its event and the dataset goes to `publishing` (so nothing
else is submitted or published meanwhile); the worker's outcome event puts the status
back. The Kaggle calls run in Celery tasks (datasets.tasks), never in a web request."""

import logging

from django.db import transaction

from datasets import kaggle
from datasets.metadata import kaggle_metadata
from datasets.models import (
    Dataset,
    DatasetStatus,
    Event,
    JobState,
    PublishJob,
    SubmissionState,
)
from datasets.reconcile import differences
from datasets.selectors import last_published_submission
from portal.celery import enqueue

from .errors import Conflict, ServiceError
from .events import event_record
from .roles import require_engineer

log = logging.getLogger(__name__)

# Kaggle's own words (kaggle-api docs; the sandbox ledger): shown when Wharf refuses.
PUBLIC_TO_PRIVATE = "A public dataset cannot be made private again."

MAKE_PUBLIC = (
    "dataset.make_public.requested",
    ("dataset.made_public", "dataset.make_public.failed"),
)
REMOVE = (
    "dataset.removal.requested",
    ("dataset.removed_from_kaggle", "dataset.removal.failed"),
)
# Drift the watch records; "made public" is also what makes Wharf refuse private again.
DRIFT_DELETED, DRIFT_MADE_PUBLIC, DRIFT_EDITED = (
    "kaggle.drift.deleted",
    "kaggle.drift.made_public",
    "kaggle.drift.edited",
)
DRIFT_CLEARED = "kaggle.drift.cleared"
DRIFT_ACTIONS = (DRIFT_DELETED, DRIFT_MADE_PUBLIC, DRIFT_EDITED)
WENT_PUBLIC = ("dataset.made_public", DRIFT_MADE_PUBLIC)
UNEXPECTED = "Wharf failed unexpectedly; the worker log has the details."


def dataset_was_public(dataset: Dataset) -> bool:
    """Whether Kaggle has shown the dataset public: a version published public, the make
    public action, or the watch seeing it made public on kaggle.com. Kaggle never takes
    it back, so Wharf refuses private from then on."""
    published_public = dataset.submissions.filter(
        state=SubmissionState.APPROVED, metadata__is_private=False, jobs__state=JobState.PUBLISHED
    ).exists()
    return published_public or dataset.events.filter(action__in=WENT_PUBLIC).exists()


def public_to_private_refusal() -> Conflict:
    return Conflict(
        f"This dataset is public on Kaggle, and Kaggle says: “{PUBLIC_TO_PRIVATE}” "
        "It stays public.",
        code="public_on_kaggle",
    )


# --- the requests (web and API) ----------------------------------------------------------


def _check_changeable_on_kaggle(dataset: Dataset) -> None:
    """Under the dataset's row lock: published, not archived, nothing else under way."""
    if dataset.status == DatasetStatus.ARCHIVED:
        raise Conflict("This dataset was removed from Kaggle; it is archived.", code="archived")
    if not dataset.latest_version:
        raise Conflict("This dataset has no published version on Kaggle yet.", code="unpublished")
    if dataset.jobs.filter(state__in=JobState.active()).exists():
        raise Conflict("A version of this dataset is being published; wait for it.", code="busy")
    if dataset.submissions.filter(state=SubmissionState.PENDING_REVIEW).exists():
        raise Conflict(
            "A version of this dataset waits for review: approve, return or withdraw it first.",
            code="busy",
        )
    if not dataset.is_editable:
        raise Conflict(
            f"The dataset is {dataset.get_status_display().lower()}; try again when it is "
            "published.",
            code="busy",
        )


def _request(dataset: Dataset, *, actor, action: str, task: str, data) -> Dataset:
    """Records the request (its event, status `publishing`) and sends its task once the
    transaction commits. `data` is the event's data, or a function of the locked row that
    returns it (and may refuse)."""
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().select_related("lab").get(pk=dataset.pk)
        _check_changeable_on_kaggle(locked)
        extra = data(locked) if callable(data) else data
        event_record(
            action,
            dataset=locked,
            actor=actor,
            status=DatasetStatus.PUBLISHING,
            data={"previous_status": locked.status, **extra},
        )
        transaction.on_commit(lambda: _send(task, locked.pk))
    return locked


def _send(task: str, dataset_id: int) -> None:
    if enqueue(task, dataset_id) is None:
        # The broker did not take it: say so now rather than leave the dataset waiting.
        kind = MAKE_PUBLIC if task.endswith("make_public") else REMOVE
        _finish(
            Dataset.objects.get(pk=dataset_id),
            kind[1][1],
            {"message": "Wharf's task queue did not answer; nothing was sent to Kaggle. "
             "Try again in a minute."},
        )  # fmt: skip


def dataset_make_public(dataset: Dataset, *, actor, confirm: bool) -> Dataset:
    require_engineer(actor, dataset.lab, "make a dataset public")
    if not confirm:
        raise ServiceError(
            "Confirm that the dataset becomes public for good: Kaggle cannot make it "
            "private again.",
            field="confirm",
        )

    def data(locked):
        if not locked.is_private or dataset_was_public(locked):
            raise Conflict("This dataset is already public on Kaggle.", code="already_public")
        return {"ref": locked.ref}

    return _request(
        dataset,
        actor=actor,
        action=MAKE_PUBLIC[0],
        task="datasets.tasks.dataset_make_public",
        data=data,
    )


def dataset_remove_from_kaggle(dataset: Dataset, *, actor, confirm: str) -> Dataset:
    require_engineer(actor, dataset.lab, "remove a dataset from Kaggle")
    if (confirm or "").strip() != dataset.ref:
        raise ServiceError(
            f"Type {dataset.ref} to confirm: Kaggle deletes the dataset and every version.",
            field="confirm",
        )
    return _request(
        dataset,
        actor=actor,
        action=REMOVE[0],
        task="datasets.tasks.dataset_remove_from_kaggle",
        data={"ref": dataset.ref, "kaggle_url": dataset.kaggle_url},
    )


def requests_resend(older_than: float = 300) -> int:
    """Sends again the requests whose task never reported (a broker that lost it, a
    worker that died before acknowledging): the task is safe to run twice, the outcome is
    recorded once. Runs from the beat with the other sweeps."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=older_than)
    sent = 0
    for dataset in Dataset.objects.filter(status=DatasetStatus.PUBLISHING):
        for kind, task in (
            (MAKE_PUBLIC, "dataset_make_public"),
            (REMOVE, "dataset_remove_from_kaggle"),
        ):
            request = _pending(dataset, kind)
            if request is not None and request.at < cutoff:
                log.info("resending %s for %s", task, dataset.ref, extra={"dataset_id": dataset.pk})
                if enqueue(f"datasets.tasks.{task}", dataset.pk) is not None:
                    sent += 1
    return sent


# --- the worker's side ---------------------------------------------------------------------


def _pending(dataset: Dataset, kind) -> Event | None:
    """The request event still waiting for its outcome, if any (a redelivered task finds
    none and does nothing)."""
    requested, outcomes = kind
    last = dataset.events.filter(action__in=(requested, *outcomes)).order_by("-at", "-id").first()
    return last if last is not None and last.action == requested else None


def _finish(dataset: Dataset, action: str, data: dict, *, status: str | None = None, **fields):
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        kind = MAKE_PUBLIC if action in MAKE_PUBLIC[1] else REMOVE
        request = _pending(locked, kind)
        if request is None:
            return None
        if fields:
            Dataset.objects.filter(pk=locked.pk).update(**fields)
        previous = request.data.get("previous_status") or DatasetStatus.PUBLISHED
        return event_record(action, dataset=locked, data=data, status=status or previous)


def _read(credentials, ref: str) -> tuple[dict | None, str]:
    try:
        return kaggle.dataset_read(credentials, ref), ""
    except kaggle.KaggleError as exc:
        return None, exc.message


def dataset_make_public_run(dataset_id: int) -> str:
    dataset = Dataset.objects.select_related("kaggle_account", "lab").get(pk=dataset_id)
    if _pending(dataset, MAKE_PUBLIC) is None:
        return "nothing-pending"
    extra = {"dataset_id": dataset.pk}
    submission = last_published_submission(dataset)
    # The whole last approved state, only privacy changed: the update can erase nothing.
    metadata = kaggle_metadata({**submission.metadata, "is_private": False}, submission.files)
    refused = ""
    try:
        credentials = kaggle.credentials_for(dataset.kaggle_account)
        kaggle.dataset_update_metadata(credentials, dataset.ref, metadata)
    except kaggle.KaggleError as exc:
        refused = exc.message
        log.warning("make public of %s refused: %s", dataset.ref, exc.message, extra=extra)
    except Exception:  # the outcome is recorded whatever happened
        log.exception("make public of %s failed", dataset.ref, extra=extra)
        _finish(dataset, "dataset.make_public.failed", {"message": UNEXPECTED})
        return "failed"
    read, unreadable = _read(credentials, dataset.ref)
    public = bool(read and read.get("exists") and not read["metadata"].get("isPrivate", True))
    if public:
        _finish(dataset, "dataset.made_public", {"ref": dataset.ref}, is_private=False)
        return "public"
    message = refused or (
        f"Kaggle could not be read back ({unreadable}); check the dataset on Kaggle, then "
        "try again."
        if read is None
        else "Kaggle still shows the dataset private."
    )
    _finish(dataset, "dataset.make_public.failed", {"message": message})
    return "failed"


def dataset_remove_from_kaggle_run(dataset_id: int) -> str:
    dataset = Dataset.objects.select_related("kaggle_account", "lab").get(pk=dataset_id)
    if _pending(dataset, REMOVE) is None:
        return "nothing-pending"
    extra = {"dataset_id": dataset.pk}
    refused = ""
    try:
        credentials = kaggle.credentials_for(dataset.kaggle_account)
        kaggle.dataset_delete(credentials, dataset.ref)
    except kaggle.KaggleError as exc:
        refused = exc.message  # e.g. already gone: the read-back decides
        log.warning("removal of %s: %s", dataset.ref, exc.message, extra=extra)
    except Exception:  # the outcome is recorded whatever happened
        log.exception("removal of %s failed", dataset.ref, extra=extra)
        _finish(dataset, "dataset.removal.failed", {"message": UNEXPECTED})
        return "failed"
    read, unreadable = _read(credentials, dataset.ref)
    if read is not None and not read.get("exists"):
        _finish(
            dataset,
            "dataset.removed_from_kaggle",
            {"ref": dataset.ref, "kaggle_url": dataset.kaggle_url},
            status=DatasetStatus.ARCHIVED,
            kaggle_url="",
        )
        return "archived"
    message = refused or (
        f"Kaggle could not be read back ({unreadable}); check the dataset on Kaggle, then "
        "try again."
        if read is None
        else "Kaggle still lists the dataset."
    )
    _finish(dataset, "dataset.removal.failed", {"message": message})
    return "failed"


# --- the watch ---------------------------------------------------------------------------


def _expected_private(dataset: Dataset, snapshot: dict) -> bool:
    return bool(snapshot.get("is_private")) and not dataset_was_public(dataset)


def dataset_watch(dataset: Dataset) -> list[str] | None:
    """Reads one published dataset back and records drift (once per new finding). The
    lines found, or None when Kaggle could not be read."""
    submission = last_published_submission(dataset)
    if submission is None:
        return []
    job = (
        PublishJob.objects.filter(submission=submission, state=JobState.PUBLISHED)
        .order_by("-finished_at", "-id")
        .first()
    )
    try:
        credentials = kaggle.credentials_for(dataset.kaggle_account)
        read = kaggle.dataset_read(credentials, dataset.ref)
    except kaggle.KaggleError as exc:
        log.warning("watch: %s unreadable: %s", dataset.ref, exc.message,
                    extra={"dataset_id": dataset.pk})  # fmt: skip
        return None
    private = _expected_private(dataset, submission.metadata)
    snapshot = {**submission.metadata, "is_private": private}
    lines = differences(snapshot, submission.files, job.manifest if job else [], read)
    kaggle_now = read.get("current_version_number")
    ahead = kaggle_now and dataset.kaggle_version and kaggle_now > dataset.kaggle_version
    if read.get("exists") and ahead:
        lines.append(
            f"Kaggle's latest version is v{kaggle_now}; Wharf published "
            f"v{dataset.latest_version} as Kaggle v{dataset.kaggle_version}."
        )
    if job is not None and job.differences:
        # Known since the publish (shown on the job): only what is new is drift.
        lines = [line for line in lines if line not in job.differences]
    _record_drift(dataset, lines, read)
    return lines


def _drift_action(snapshot_private: bool, read: dict) -> str:
    if not read.get("exists"):
        return DRIFT_DELETED
    if snapshot_private and not (read.get("metadata") or {}).get("isPrivate", True):
        return DRIFT_MADE_PUBLIC
    return DRIFT_EDITED


def _record_drift(dataset: Dataset, lines: list[str], read: dict) -> None:
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        last = (
            locked.events.filter(action__in=(*DRIFT_ACTIONS, DRIFT_CLEARED))
            .order_by("-at", "-id")
            .first()
        )
        last_lines = last.data.get("differences", []) if last is not None else []
        if lines == last_lines:
            return
        if not lines:
            event_record(DRIFT_CLEARED, dataset=locked, data={"differences": []})
            return
        action = _drift_action(locked.is_private and not dataset_was_public(locked), read)
        event_record(action, dataset=locked, data={"differences": lines, "ref": locked.ref})


def datasets_watch() -> dict:
    """Every published dataset (not archived, nothing under way), read back once."""
    counts = {"read": 0, "drift": 0, "unreadable": 0}
    datasets = (
        Dataset.objects.filter(latest_version__isnull=False, kaggle_account__isnull=False)
        .exclude(status__in=[DatasetStatus.ARCHIVED, DatasetStatus.PUBLISHING,
                             DatasetStatus.APPROVED])
        .select_related("kaggle_account", "lab")
        .order_by("pk")
    )  # fmt: skip
    for dataset in datasets.iterator(chunk_size=100):
        lines = dataset_watch(dataset)
        if lines is None:
            counts["unreadable"] += 1
            continue
        counts["read"] += 1
        counts["drift"] += bool(lines)
    return counts
