"""Template helpers of the web UI: the review count in the navigation, and readable
history lines."""

from django import template
from django.template.defaultfilters import filesizeformat

from datasets.selectors import access_of
from datasets.versions import dataset_version_label, job_version_label

register = template.Library()

EVENT_LABELS = {
    "dataset.created": "registered the dataset",
    "dataset.updated": "edited the metadata",
    "dataset.deleted": "deleted the dataset",
    "file.added": "added a file",
    "file.updated": "changed a file",
    "file.removed": "removed a file",
    "submission.submitted": "submitted a version for review",
    "submission.withdrawn": "withdrew a submission",
    "submission.approved": "approved a version",
    "submission.returned": "returned a version",
    "submission.commented": "commented",
    "submission.auto_approval_refused": "auto-approval refused; the version waits for review",
    "submission.scan_requested": "sensitive-data scan requested",
    "submission.scanned": "sensitive-data scan finished",
    "submission.scan_failed": "sensitive-data scan failed",
    "dataset.checked": "checked lab storage for changes",
    "lab.scan_pattern_added": "added a content-scan pattern",
    "lab.scan_pattern_removed": "removed a content-scan pattern",
    "schedule.created": "set a publishing schedule",
    "schedule.updated": "changed the publishing schedule",
    "schedule.deleted": "removed the publishing schedule",
    "account.created": "added a Kaggle account",
    "account.deleted": "removed a Kaggle account",
    "account.secret_changed": "replaced a Kaggle credential",
    "account.tested": "tested a Kaggle account",
    "storage_root.created": "registered a storage root",
    "storage_root.deleted": "removed a storage root",
    "webhook.created": "added a webhook",
    "webhook.updated": "changed a webhook",
    "webhook.deleted": "removed a webhook",
    "job.queued": "queued the publish job",
    "job.invalid_tags": "Kaggle did not take some keywords (they are not Kaggle tags)",
    "job.metadata.updated": "metadata updated on Kaggle",
    "job.requeued": "publish job handed back to the queue (its worker stopped)",
    "job.retrying": "Kaggle call failed; retrying",
    "job.upload.restarted": "a file's upload could not resume; it starts again",
    "job.cancel_requested": "asked to cancel publishing",
    "job.staging.started": "staging started",
    "job.uploading.started": "upload to Kaggle started",
    "job.processing.started": "Kaggle is processing the version",
    "job.published": "published on Kaggle",
    "job.skipped": "publish skipped: nothing changed",
    "job.failed": "publish failed",
    "job.cancelled": "publish cancelled",
    "dataset.make_public.requested": "asked Kaggle to make the dataset public",
    "dataset.made_public": "Kaggle made the dataset public",
    "dataset.make_public.failed": "Kaggle did not make the dataset public",
    "dataset.removal.requested": "asked Kaggle to delete the dataset",
    "dataset.removed_from_kaggle": "Kaggle deleted the dataset; archived in Wharf",
    "dataset.removal.failed": "Kaggle did not delete the dataset",
    "kaggle.drift.edited": "changed on Kaggle outside Wharf",
    "kaggle.drift.deleted": "deleted on Kaggle outside Wharf",
    "kaggle.drift.made_public": "made public on Kaggle outside Wharf",
    "kaggle.drift.cleared": "Kaggle holds what was approved again",
    "lab.created": "created the lab",
    "member.added": "added {username} as {role}",
    "member.role_changed": "made {username} {to}",
    "member.removed": "removed {username} from the lab",
    "member.invited": "invited {email} as {role}",
    "member.invitation_withdrawn": "withdrew the invitation of {email}",
    "member.joined": "joined the lab as {role}",
}
# Role codes as a sentence says them.
ROLE_WORDS = {"researcher": "researcher", "engineer": "data engineer"}


@register.simple_tag(takes_context=True)
def review_queue_count(context) -> int:
    """Pending submissions the user may review (0 for researchers)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return access_of(user).pending_reviews


class _Blank(dict):
    def __missing__(self, key):
        return "someone"


@register.filter
def event_label(event) -> str:
    label = EVENT_LABELS.get(event.action)
    if label is None:
        return event.action.replace(".", " ").replace("_", " ")
    if "{" in label:
        data = {k: ROLE_WORDS.get(v, v) if isinstance(v, str) else v
                for k, v in (event.data or {}).items()}  # fmt: skip
        label = label.format_map(_Blank(data))
    return label


@register.filter
def event_sentence(event) -> str:
    """One line a person reads: who did what, to which version ("Ada Lovelace submitted
    a version for review (version 2)."). Steps Wharf takes alone read without a subject."""
    label = event_label(event)
    number = (event.data or {}).get("number")
    if number is not None:
        label = f"{label} (version {number})"
    if event.actor is None and not event.actor_name:
        return f"{label[:1].upper()}{label[1:]}."
    # A deleted user's events keep the name they had.
    if event.actor is None:
        who = event.actor_name
    else:
        who = event.actor.get_full_name() or event.actor.get_username()
    return f"{who} {label}."


@register.filter
def event_details(event) -> list[tuple[str, str]]:
    """The few facts of an event's data worth a line in the timeline."""
    data = event.data or {}
    details = []
    if "path" in data:
        size = f" ({filesizeformat(data['size'])})" if data.get("size") else ""
        details.append(("file", f"{data['path']}{size}"))
    if data.get("fields"):
        details.append(("fields", ", ".join(map(str, data["fields"]))))
    for key in ("reason", "note", "excerpt", "message", "error", "error_message"):
        if data.get(key):
            details.append((key.replace("_", " "), str(data[key])[:300]))
    if data.get("invalid_tags"):
        details.append(("keywords", ", ".join(map(str, data["invalid_tags"]))[:300]))
    for line in (data.get("differences") or [])[:10]:
        details.append(("on Kaggle", str(line)[:300]))
    return details


@register.filter
def job_version(job) -> str:
    """Names a job's version as datasets.versions does ("v3 · Kaggle v4")."""
    return job_version_label(job)


@register.filter
def dataset_version(dataset) -> str:
    return dataset_version_label(dataset)


@register.filter
def display_value(value) -> str:
    """A snapshot value as a person reads it."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "—"
    if value in (None, ""):
        return "—"
    return str(value)
