from django import template

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
