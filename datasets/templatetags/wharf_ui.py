"""Template helpers of the web UI: the review count in the navigation, and readable
history lines."""

from django import template
from django.template.defaultfilters import filesizeformat

from datasets.selectors import review_queue

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
    "job.queued": "publish job queued",
    "job.requeued": "publish job handed back to the queue (its worker stopped)",
    "job.retrying": "Kaggle call failed; retrying",
    "job.cancel_requested": "asked to cancel publishing",
    "job.staging.started": "staging started",
    "job.uploading.started": "upload to Kaggle started",
    "job.processing.started": "Kaggle is processing the version",
    "job.published": "published on Kaggle",
    "job.skipped": "publish skipped: nothing changed",
    "job.failed": "publish failed",
    "job.cancelled": "publish cancelled",
}


@register.simple_tag(takes_context=True)
def review_queue_count(context) -> int:
    """Pending submissions the user may review (0 for researchers)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return review_queue(user).count()


@register.filter
def event_label(event) -> str:
    return EVENT_LABELS.get(event.action, event.action.replace(".", " ").replace("_", " "))


@register.filter
def event_details(event) -> list[tuple[str, str]]:
    """The few facts of an event's data worth a line in the timeline."""
    data = event.data or {}
    details = []
    if "number" in data:
        details.append(("version", str(data["number"])))
    if "path" in data:
        size = f" ({filesizeformat(data['size'])})" if data.get("size") else ""
        details.append(("file", f"{data['path']}{size}"))
    if data.get("fields"):
        details.append(("fields", ", ".join(map(str, data["fields"]))))
    for key in ("reason", "note", "excerpt", "message", "error", "error_message"):
        if data.get(key):
            details.append((key.replace("_", " "), str(data[key])[:300]))
    return details


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
