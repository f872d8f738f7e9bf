from django import template
from django.utils.html import format_html

from datasets.markdown import render_markdown
from datasets.models import DatasetStatus, JobState

register = template.Library()

STATUS_COLOURS = {
    DatasetStatus.DRAFT: "secondary",
    DatasetStatus.IN_REVIEW: "info",
    DatasetStatus.RETURNED: "warning",
    DatasetStatus.APPROVED: "primary",
    DatasetStatus.PUBLISHING: "primary",
    DatasetStatus.PUBLISHED: "success",
    DatasetStatus.FAILED: "danger",
    JobState.QUEUED: "secondary",
    JobState.STAGING: "primary",
    JobState.UPLOADING: "primary",
    JobState.PROCESSING: "info",
    JobState.SKIPPED: "secondary",
    JobState.CANCELLED: "dark",
    "pending_review": "info",
    "withdrawn": "secondary",
    "approved": "success",
    "returned": "warning",
}


@register.filter
def markdown(text):
    return render_markdown(text)


@register.filter
def status_colour(state):
    return STATUS_COLOURS.get(state, "secondary")


@register.simple_tag
def status_badge(status, label):
    """A status badge; a tag rather than an include because lists render one per row."""
    return format_html('<span class="badge text-bg-{}">{}</span>', status_colour(status), label)


@register.filter
def checks_passed(files) -> list:
    """The data-check reports (services.data_checks) of files checked without an error:
    the review page lists them folded, after the files that need a look."""
    return [f for f in files or () if f.get("valid") and not f.get("skipped")]
