"""Reads. Every query a view makes for lab data goes through a scope here, so a view
cannot forget that users see only their own labs (superusers see all)."""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet

from . import tabular
from .metadata import SNAPSHOT_FIELDS, member_name
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


@dataclass
class LabAccess:
    """One lab as the current user sees it: their role, and (engineers) what waits."""

    lab: Lab
    role: str
    pending_reviews: int = 0
    oldest_pending: object = None

    @property
    def is_engineer(self) -> bool:
        return self.role == Role.ENGINEER

    def get_role_display(self) -> str:
        return Role(self.role).label


@dataclass
class Access:
    """The user's labs, roles and pending review counts: read once per request (one
    query) by `access_of`, then reused by the navigation, the scoping and the role checks
    of the same request instead of one query each."""

    labs: list[LabAccess] = field(default_factory=list)

    @property
    def lab_ids(self) -> list[int]:
        return [a.lab.pk for a in self.labs]

    @property
    def engineer_lab_ids(self) -> list[int]:
        return [a.lab.pk for a in self.labs if a.role == Role.ENGINEER]

    @property
    def is_engineer_anywhere(self) -> bool:
        return any(a.role == Role.ENGINEER for a in self.labs)

    @property
    def pending_reviews(self) -> int:
        return sum(a.pending_reviews for a in self.labs if a.role == Role.ENGINEER)

    @property
    def oldest_pending(self):
        return min(
            (a.oldest_pending for a in self.labs if a.role == Role.ENGINEER and a.oldest_pending),
            default=None,
        )

    def role(self, lab_id: int) -> str | None:
        return next((a.role for a in self.labs if a.lab.pk == lab_id), None)


# Where a request's Access is kept: on the user object, which Django loads afresh for
# every request, so it never outlives the request that read it.
_ACCESS_ATTR = "_wharf_access"


def access_of(user) -> Access:
    """The user's labs with role and pending reviews, in one query, remembered on the
    user object for the rest of the request (views call it first, in dispatch)."""
    if not user.is_authenticated:
        return Access()
    cached = user.__dict__.get(_ACCESS_ATTR)
    if cached is not None:
        return cached
    access = Access(
        [
            LabAccess(lab, Role.ENGINEER if user.is_superuser else role, n, oldest)
            for lab, role, n, oldest in _access_rows(user)
        ]
    )
    user.__dict__[_ACCESS_ATTR] = access
    return access


def _access_rows(user) -> list[tuple]:
    """(lab, role, pending reviews, oldest pending) per lab of the user (every lab for a
    superuser), by name. Written out in SQL: every page runs it first, and building it
    with the ORM (two correlated subqueries) cost more than running it. Identifiers come
    from the models; values are parameters."""
    q = connection.ops.quote_name
    lab_columns = ", ".join(f"l.{q(f.column)}" for f in Lab._meta.concrete_fields)
    pending = (
        f"FROM {q(Submission._meta.db_table)} s "
        f"JOIN {q(Dataset._meta.db_table)} d ON d.{q('id')} = s.{q('dataset_id')} "
        f"WHERE d.{q('lab_id')} = l.{q('id')} AND s.{q('state')} = %s"
    )
    select = (
        f"SELECT {lab_columns}, (SELECT COUNT(*) {pending}) AS pending_n, "
        f"(SELECT MIN(s.{q('submitted_at')}) {pending}) AS pending_oldest"
    )
    params = [SubmissionState.PENDING_REVIEW] * 2
    if user.is_superuser:
        sql = f"{select}, '' AS member_role FROM {q(Lab._meta.db_table)} l"
    else:
        sql = (
            f"{select}, m.{q('role')} AS member_role FROM {q(Membership._meta.db_table)} m "
            f"JOIN {q(Lab._meta.db_table)} l ON l.{q('id')} = m.{q('lab_id')} "
            f"WHERE m.{q('user_id')} = %s"
        )
        params.append(user.pk)
    sql += f" ORDER BY l.{q('name')}, l.{q('id')}"
    # The model's columns come converted by the raw query; the oldest date goes through
    # the same conversions the ORM gives submitted_at (SQLite hands back text).
    col = Submission._meta.get_field("submitted_at").get_col(Submission._meta.db_table)
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
    rows = []
    for lab in Lab.objects.raw(sql, params):
        oldest = lab.pending_oldest
        for convert in converters if oldest is not None else ():
            oldest = convert(oldest, col, connection)
        rows.append((lab, lab.member_role, lab.pending_n, oldest))
    return rows


def _cached_access(user) -> Access | None:
    return user.__dict__.get(_ACCESS_ATTR) if user.is_authenticated else None


def labs_of(user) -> QuerySet[Lab]:
    if not user.is_authenticated:
        return Lab.objects.none()
    if user.is_superuser:
        return Lab.objects.all()
    access = _cached_access(user)
    if access is not None:
        return Lab.objects.filter(pk__in=access.lab_ids)
    return Lab.objects.filter(memberships__user=user)


def labs_where_engineer(user) -> QuerySet[Lab]:
    if not user.is_authenticated:
        return Lab.objects.none()
    if user.is_superuser:
        return Lab.objects.all()
    access = _cached_access(user)
    if access is not None:
        return Lab.objects.filter(pk__in=access.engineer_lab_ids)
    return Lab.objects.filter(memberships__user=user, memberships__role=Role.ENGINEER)


def scope_to_user(queryset: QuerySet, user, lab_path: str = "lab") -> QuerySet:
    """Narrows any queryset to rows of the user's labs; `lab_path` is the lookup from the
    row to its Lab ("lab", "dataset__lab", ...)."""
    if not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    access = _cached_access(user)
    if access is not None:
        # The lab ids the request already read: no join through the memberships.
        return queryset.filter(**{f"{lab_path}__in": access.lab_ids})
    return queryset.filter(**{f"{lab_path}__memberships__user": user})


def role_in(user, lab: Lab) -> str | None:
    """The user's role in the lab; superusers act as engineers everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ENGINEER
    access = _cached_access(user)
    if access is not None:
        return access.role(lab.pk)
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
    """What changed against the last published version: metadata fields; files added,
    removed or changed (in size, or in content where both versions froze a sha256);
    and inside folders, entry by entry. First versions say so."""
    base = last_published_submission(submission.dataset, before=submission)
    if base is None:
        return {
            "first_version": True,
            "against": None,
            "metadata": [],
            "files_added": [],
            "files_removed": [],
            "files_changed": [],
            "entries_changed": [],
            "columns_changed": [],
        }
    metadata = [
        {"field": f, "old": base.metadata.get(f), "new": submission.metadata.get(f)}
        for f in DIFF_FIELDS
        if base.metadata.get(f) != submission.metadata.get(f)
    ]
    old = {f["path"]: f for f in base.files}
    new = {f["path"]: f for f in submission.files}
    both = sorted(old.keys() & new.keys())
    entries_changed = [
        change
        for p in both
        if new[p].get("kind") == "folder" == old[p].get("kind")
        and (change := _entries_changed(p, old[p], new[p]))
    ]
    inside = {change["path"] for change in entries_changed}
    changed = [
        {"path": p, "old_size": old[p]["size"], "new_size": new[p]["size"]}
        for p in both
        if p in inside or not _same_content(old[p], new[p])
    ]
    return {
        "first_version": False,
        "against": base.number,
        "metadata": metadata,
        "files_added": [{"path": p, "size": new[p]["size"]} for p in sorted(new.keys() - old)],
        "files_removed": [{"path": p, "size": old[p]["size"]} for p in sorted(old.keys() - new)],
        "files_changed": changed,
        "entries_changed": entries_changed,
        "columns_changed": _columns_changed(old, new),
    }


# Entries of one folder listed in a diff; the rest are counted ("and 12 more").
DIFF_ENTRIES_SHOWN = 50


def _same_content(old: dict, new: dict) -> bool:
    """Same size and kind, and the same sha256 where both versions froze one (content
    hashes are taken at submission; older versions have none)."""
    if old.get("size") != new.get("size") or old.get("kind") != new.get("kind"):
        return False
    return not (old.get("sha256") and new.get("sha256")) or old["sha256"] == new["sha256"]


def _entries_changed(path: str, old: dict, new: dict) -> dict | None:
    """Inside one folder: entries added, removed, or changed ("part1.csv: 51 → 54 B")."""
    before = {e["path"]: e for e in old.get("entries") or ()}
    after = {e["path"]: e for e in new.get("entries") or ()}
    added = [{"path": p, "size": after[p]["size"]} for p in sorted(after.keys() - before)]
    removed = [{"path": p, "size": before[p]["size"]} for p in sorted(before.keys() - after)]
    changed = [
        {"path": p, "old_size": before[p]["size"], "new_size": after[p]["size"]}
        for p in sorted(before.keys() & after.keys())
        if not _same_content(before[p], after[p])
    ]
    total = len(added) + len(removed) + len(changed)
    if not total:
        return None
    shown, room = {}, DIFF_ENTRIES_SHOWN
    for key, items in (("added", added), ("removed", removed), ("changed", changed)):
        shown[key], room = items[:room], max(0, room - len(items))
    return {"path": path, **shown, "more": total - sum(len(v) for v in shown.values())}


def _columns_changed(old: dict, new: dict) -> list[dict]:
    """Per tabular file in both versions, and per tabular entry of a folder in both (named
    as Kaggle shows it): columns added, removed or retyped."""
    pairs = []
    for path in sorted(old.keys() & new.keys()):
        pairs.append((path, old[path].get("columns") or [], new[path].get("columns") or []))
        before = old[path].get("entry_columns") or {}
        after = new[path].get("entry_columns") or {}
        pairs += [
            (member_name(path, relpath), before[relpath] or [], after[relpath] or [])
            for relpath in sorted(before.keys() & after.keys())
        ]
    result = []
    for path, before_columns, after_columns in pairs:
        change = tabular.column_changes(before_columns, after_columns)
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
