"""Emails about reviews and publishing. Services call these in transaction.on_commit; the sending
happens in a Celery task, so a slow mail server never slows a page."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from portal.celery import enqueue

from .models import Comment, JobState, Profile, PublishJob, Role, Submission, SubmissionState
from .versions import job_version_label

log = logging.getLogger(__name__)

PREFERENCE = {
    "submitted": "email_on_submission",
    "reviewed": "email_on_review",
    "commented": "email_on_comment",
    "published": "email_on_publish",
}


def _wanted(users, kind: str) -> list[str]:
    field = PREFERENCE[kind]
    opted_out = set(
        Profile.objects.filter(user__in=users, **{field: False}).values_list("user_id", flat=True)
    )
    return sorted({u.email for u in users if u.email and u.pk not in opted_out})


def _link(path: str) -> str:
    return settings.WHARF_BASE_URL.rstrip("/") + path


def _send(kind: str, subject: str, template: str, context: dict, users) -> None:
    recipients = _wanted(users, kind)
    if not recipients:
        return
    # An e-mail the broker could not take is logged and dropped: the event it tells of
    # is in the history and the feeds anyway.
    enqueue(notify_send, subject, render_to_string(template, context), recipients)


@shared_task(
    name="datasets.notify_send", autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def notify_send(subject: str, body: str, recipients: list[str]) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def submission_submitted(submission_id: int) -> None:
    submission = Submission.objects.select_related("dataset__lab", "submitted_by").get(
        pk=submission_id
    )
    if submission.state != SubmissionState.PENDING_REVIEW:
        return  # approved (by a policy) or withdrawn meanwhile: it waits for nobody
    lab = submission.dataset.lab
    engineers = [
        m.user
        for m in lab.memberships.filter(role=Role.ENGINEER).select_related("user")
        if m.user_id != submission.submitted_by_id
    ]
    _send(
        "submitted",
        f"[Wharf] {submission} waits for review",
        "datasets/email/submission_submitted.txt",
        {"submission": submission, "url": _link(reverse("datasets:review", args=[submission.pk]))},
        engineers,
    )


def submission_reviewed(submission_id: int) -> None:
    submission = Submission.objects.select_related("dataset", "submitted_by", "reviewed_by").get(
        pk=submission_id
    )
    if submission.submitted_by is None:
        return
    _send(
        "reviewed",
        f"[Wharf] {submission} was {submission.get_state_display().lower()}",
        "datasets/email/submission_reviewed.txt",
        {
            "submission": submission,
            "url": _link(reverse("datasets:dataset_detail", args=[submission.dataset_id])),
        },
        [submission.submitted_by],
    )


def comment_added(comment_id: int) -> None:
    comment = Comment.objects.select_related("submission__dataset", "author").get(pk=comment_id)
    submission = comment.submission
    people = {c.author for c in submission.comments.select_related("author") if c.author}
    if submission.submitted_by:
        people.add(submission.submitted_by)
    if submission.reviewed_by:
        people.add(submission.reviewed_by)
    people.discard(comment.author)
    _send(
        "commented",
        f"[Wharf] New comment on {submission}",
        "datasets/email/comment_added.txt",
        {
            "comment": comment,
            "submission": submission,
            "url": _link(reverse("datasets:review", args=[submission.pk])),
        },
        list(people),
    )


def job_finished(job_id: int) -> None:
    """A version was published (perhaps with differences) or its job failed: the person
    who submitted it is told; a version no person submitted, the lab's engineers."""
    job = PublishJob.objects.select_related(
        "dataset__lab", "submission__submitted_by", "submission__reviewed_by"
    ).get(pk=job_id)
    if job.state not in (JobState.PUBLISHED, JobState.FAILED):
        return
    submission, dataset = job.submission, job.dataset
    people = [submission.submitted_by] if submission.submitted_by else [
        m.user for m in dataset.lab.memberships.filter(role=Role.ENGINEER).select_related("user")
    ]  # fmt: skip
    label = job_version_label(job)
    if job.state == JobState.FAILED:
        subject = f"[Wharf] {dataset.ref} {label} failed to publish"
    elif getattr(job, "differences", None):
        subject = f"[Wharf] {dataset.ref} {label} published with differences"
    else:
        subject = f"[Wharf] {dataset.ref} {label} published"
    _send(
        "published",
        subject,
        "datasets/email/job_finished.txt",
        {
            "job": job,
            "dataset": dataset,
            "submission": submission,
            "version": label,
            "differences": list(getattr(job, "differences", None) or []),
            "url": _link(reverse("datasets:job_detail", args=[job.pk])),
        },
        people,
    )
