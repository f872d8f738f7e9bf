"""Continuous data: schedules that watch a dataset's storage, and the lab webhooks that
tell other systems what happened."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from datasets import webhooks

from .datasets import Dataset, Submission
from .labs import Lab
from .publishing import Event

# --- Schedules ---------------------------------------------------------------------


class SchedulePolicy(models.TextChoices):
    NEEDS_REVIEW = "needs_review", "Needs review"
    AUTO_APPROVE = "auto_approve", "Auto-approve"


class CheckResult(models.TextChoices):
    UNCHANGED = "unchanged", "No change"
    WAITING = "waiting", "Waiting for files to settle"
    SUBMITTED = "submitted", "New version submitted for review"
    AWAITING_SCAN = "awaiting_scan", "Waiting for the content scan to auto-approve"
    AUTO_APPROVED = "auto_approved", "New version approved by policy"
    BLOCKED = "blocked", "Auto-approval refused; left for review"
    BUSY = "busy", "A version is in review or being published"
    DECLINED = "declined", "No change since a version that was not published"
    NOT_PUBLISHED = "not_published", "Waiting for a first version published by hand"
    ERROR = "error", "The check failed"


class DatasetSchedule(models.Model):
    """When Wharf looks at a storage-backed dataset's files, and what it does with a
    change. "Checked, no change" only moves the counters and times here; the history
    gets at most one `dataset.checked` event per day or per change of result."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="schedule")
    interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=120, blank=True, help_text="Five cron fields.")
    policy = models.CharField(
        max_length=20, choices=SchedulePolicy.choices, default=SchedulePolicy.NEEDS_REVIEW
    )
    quiet_period_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: WHARF_QUIET_PERIOD_SECONDS."
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    running_since = models.DateTimeField(null=True, blank=True, editable=False)
    # What the last check found.
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=20, choices=CheckResult.choices, blank=True)
    last_message = models.CharField(max_length=500, blank=True)
    last_scan_seconds = models.FloatField(null=True, blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    checks_total = models.PositiveIntegerField(default=0)
    checks_since_event = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    # A scheduled version the policy approves once the content scan cleared it.
    awaiting_submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Single files whose time changed but whose bytes still equal the published ones
    # ({path: [size, mtime]}): not hashed again on every run.
    verified_touched = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"schedule of {self.dataset}"

    @property
    def quiet_period(self) -> int:
        if self.quiet_period_seconds is not None:
            return self.quiet_period_seconds
        return settings.WHARF_QUIET_PERIOD_SECONDS

    @property
    def is_auto_approve(self) -> bool:
        return self.policy == SchedulePolicy.AUTO_APPROVE

    @property
    def describe(self) -> str:
        if self.interval_minutes:
            n = self.interval_minutes
            return "every minute" if n == 1 else f"every {n} minutes"
        return f"cron {self.cron}"


# --- Webhooks ----------------------------------------------------------------------


class WebhookAction(models.TextChoices):
    SUBMISSION_SUBMITTED = "submission.submitted", "Submission submitted"
    SUBMISSION_APPROVED = "submission.approved", "Submission approved"
    SUBMISSION_RETURNED = "submission.returned", "Submission returned"
    JOB_PUBLISHED = "job.published", "Job published"
    JOB_FAILED = "job.failed", "Job failed"


class Webhook(models.Model):
    """A receiver of a lab's events. The secret signs every delivery; it is encrypted
    at rest (datasets.crypto) and only its last four characters are shown."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=80, blank=True)
    url = models.CharField(max_length=500)
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    events = models.JSONField(default=list, help_text="WebhookAction values.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.name or self.url

    def clean(self):
        # The admin saves without the service: the same address check (datasets.webhooks).
        super().clean()
        try:
            self.url = webhooks.check_target(self.url)
        except webhooks.TargetRefused as exc:
            raise ValidationError({"url": str(exc)}) from None

    @property
    def masked_secret(self) -> str:
        return f"••••{self.secret_last4}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Sending"
    DELIVERED = "delivered", "Delivered"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one webhook. Retries and re-sends are new
    rows with the same `delivery_id` and body, so the receiver can tell them apart from
    new events and the log keeps every attempt."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60)
    delivery_id = models.UUIDField(default=uuid.uuid4)
    attempt = models.PositiveSmallIntegerField(default=1)
    body = models.TextField(help_text="The exact JSON sent (and signed).")
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who re-sent it by hand (empty: sent by Wharf).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(default=timezone.now, help_text="When it is to be sent.")
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["webhook", "-created_at", "-id"], name="delivery_webhook_recent"),
            models.Index(fields=["created_at"], name="delivery_created"),
            models.Index(fields=["state", "due_at"], name="delivery_due"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} → {self.webhook} (attempt {self.attempt}, {self.state})"
