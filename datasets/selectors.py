"""Reads. Every query a view makes for lab data goes through a scope here, so a view
cannot forget that users see only their own labs (superusers see all)."""

from django.db.models import QuerySet

from . import tabular
from .metadata import SNAPSHOT_FIELDS
from .models import (
    Dataset,
    JobState,
    Lab,
    Membership,
    PublishJob,
    Role,
    Submission,
    SubmissionState,
)


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("lab").order_by("lab__name")


def labs_of(user) -> QuerySet[Lab]:
    if not user.is_authenticated:
        return Lab.objects.none()
    if user.is_superuser:
        return Lab.objects.all()
    return Lab.objects.filter(memberships__user=user)


def labs_where_engineer(user) -> QuerySet[Lab]:
    if not user.is_authenticated:
        return Lab.objects.none()
    if user.is_superuser:
        return Lab.objects.all()
    return Lab.objects.filter(memberships__user=user, memberships__role=Role.ENGINEER)


def scope_to_user(queryset: QuerySet, user, lab_path: str = "lab") -> QuerySet:
    """Narrows any queryset to rows of the user's labs; `lab_path` is the lookup from the
    row to its Lab ("lab", "dataset__lab", ...)."""
    if not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{lab_path}__memberships__user": user})


def role_in(user, lab: Lab) -> str | None:
    """The user's role in the lab; superusers act as engineers everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ENGINEER
    return Membership.objects.filter(user=user, lab=lab).values_list("role", flat=True).first()


def is_engineer(user, lab: Lab) -> bool:
    return role_in(user, lab) == Role.ENGINEER


def datasets_for(user) -> QuerySet[Dataset]:
    return scope_to_user(Dataset.objects.select_related("lab", "kaggle_account"), user)


def review_queue(user) -> QuerySet[Submission]:
    """Pending submissions of the labs where the user is an engineer, oldest first."""
    return (
        Submission.objects.filter(
            state=SubmissionState.PENDING_REVIEW, dataset__lab__in=labs_where_engineer(user)
        )
        .select_related("dataset__lab", "submitted_by")
        .order_by("submitted_at", "id")
    )


def last_published_submission(dataset: Dataset, before: Submission | None = None):
    """The submission behind the dataset's newest published version."""
    qs = Submission.objects.filter(
        dataset=dataset, state=SubmissionState.APPROVED, jobs__state=JobState.PUBLISHED
    )
    if before is not None:
        qs = qs.exclude(pk=before.pk).filter(submitted_at__lte=before.submitted_at)
    return qs.order_by("-number", "-submitted_at").first()


def previous_review(submission: Submission):
    """The version reviewed just before this one when it was returned or withdrawn (not
    published): the engineer sees why it came back and what was asked."""
    # Only the one right before: a version returned long ago, with published versions
    # since, is history, not something this review must answer.
    before = (
        Submission.objects.filter(dataset_id=submission.dataset_id, pk__lt=submission.pk)
        .select_related("reviewed_by")
        .order_by("-pk")
        .first()
    )
    if before is not None and before.state in (SubmissionState.RETURNED, SubmissionState.WITHDRAWN):
        return before
    return None


# The identity (owner, slug) of a published dataset never changes: not worth a row.
DIFF_FIELDS = tuple(f for f in SNAPSHOT_FIELDS if f not in ("owner_slug", "slug"))


def submission_diff(submission: Submission) -> dict:
    """What changed against the last published version: metadata fields, and files
    added, removed or changed in size. First versions say so."""
    base = last_published_submission(submission.dataset, before=submission)
    if base is None:
        return {
            "first_version": True,
            "against": None,
            "metadata": [],
            "files_added": [],
            "files_removed": [],
            "files_changed": [],
            "columns_changed": [],
        }
    metadata = [
        {"field": f, "old": base.metadata.get(f), "new": submission.metadata.get(f)}
        for f in DIFF_FIELDS
        if base.metadata.get(f) != submission.metadata.get(f)
    ]
    old = {f["path"]: f for f in base.files}
    new = {f["path"]: f for f in submission.files}
    changed = [
        {"path": p, "old_size": old[p]["size"], "new_size": new[p]["size"]}
        for p in sorted(old.keys() & new.keys())
        if old[p]["size"] != new[p]["size"] or old[p].get("kind") != new[p].get("kind")
    ]
    return {
        "first_version": False,
        "against": base.number,
        "metadata": metadata,
        "files_added": [{"path": p, "size": new[p]["size"]} for p in sorted(new.keys() - old)],
        "files_removed": [{"path": p, "size": old[p]["size"]} for p in sorted(old.keys() - new)],
        "files_changed": changed,
        "columns_changed": _columns_changed(old, new),
    }


def _columns_changed(old: dict, new: dict) -> list[dict]:
    """Per tabular file in both versions: columns added, removed or retyped."""
    result = []
    for path in sorted(old.keys() & new.keys()):
        change = tabular.column_changes(old[path].get("columns", []), new[path].get("columns", []))
        if change["added"] or change["removed"] or change["retyped"]:
            result.append({"path": path, **change})
    return result


def jobs_for(user) -> QuerySet[PublishJob]:
    return scope_to_user(
        PublishJob.objects.select_related("dataset", "submission__reviewed_by"),
        user,
        "dataset__lab",
    )


# What the watch (services.lifecycle) saw change on Kaggle outside Wharf.
DRIFT_ACTIONS = ("kaggle.drift.edited", "kaggle.drift.deleted", "kaggle.drift.made_public")


def drift_recent(labs, since, limit: int = 20) -> list:
    """Per dataset of `labs`, its newest watch finding since `since`, unless a later read
    back found Kaggle in line again."""
    from .models import Event

    rows = (
        Event.objects.filter(
            lab__in=labs, at__gte=since, action__in=(*DRIFT_ACTIONS, "kaggle.drift.cleared")
        )
        .select_related("dataset")
        .order_by("-at", "-id")
    )
    seen, found = set(), []
    for event in rows[: limit * 5]:
        if event.dataset_id in seen:
            continue
        seen.add(event.dataset_id)
        if event.action in DRIFT_ACTIONS:
            found.append(event)
    return found[:limit]
