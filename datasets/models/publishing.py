"""Publish jobs and the append-only history."""

from django.conf import settings
from django.db import models

from .datasets import Dataset, Submission
from .labs import Lab

# --- Publishing --------------------------------------------------------------------


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    STAGING = "staging", "Staging"
    UPLOADING = "uploading", "Uploading"
    PROCESSING = "processing", "Processing on Kaggle"
    PUBLISHED = "published", "Published"
    SKIPPED = "skipped", "Skipped (nothing changed)"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def active(cls) -> list[str]:
        return [cls.QUEUED, cls.STAGING, cls.UPLOADING, cls.PROCESSING]

    @classmethod
    def running(cls) -> list[str]:
        return [cls.STAGING, cls.UPLOADING, cls.PROCESSING]

    @classmethod
    def final(cls) -> list[str]:
        return [cls.PUBLISHED, cls.SKIPPED, cls.FAILED, cls.CANCELLED]


class JobPlan(models.TextChoices):
    """What the job asks Kaggle to do, decided once the files are compared with the last
    published version."""

    VERSION = "version", "New version"
    METADATA = "metadata", "Metadata update"
    VERSION_METADATA = "version_metadata", "New version, then metadata update"


class PublishJob(models.Model):
    """One attempt to publish an approved submission; a retry is a new job."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="jobs")
    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="jobs")
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.QUEUED)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    force = models.BooleanField(default=False, help_text="Publish even if nothing changed.")
    cancel_requested = models.BooleanField(default=False)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Also the fencing token: each claim starts attempt N+1, and every worker-side write
    # filters on the attempt it was given, so a worker that lost the job changes nothing.
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker claimed it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    phases = models.JSONField(default=dict, blank=True, help_text="Phase → start/end times.")
    manifest = models.JSONField(default=list, blank=True)
    kaggle_ref = models.CharField(max_length=120, blank=True)
    kaggle_url = models.URLField(blank=True)
    kaggle_version = models.PositiveIntegerField(null=True, blank=True)
    # Set just before Wharf asks Kaggle to create the dataset or version, so that a later
    # attempt can tell whether Kaggle may already have it (and never makes a second one).
    publish_requested_at = models.DateTimeField(null=True, blank=True)
    kaggle_version_before = models.PositiveIntegerField(null=True, blank=True)
    kaggle_status_before = models.CharField(max_length=40, blank=True)
    plan = models.CharField(max_length=20, choices=JobPlan.choices, blank=True)
    # The metadata update is the second step of a files-and-metadata job (or the only
    # step of a metadata-only one); recorded so a re-run finishes it and nothing else.
    metadata_requested_at = models.DateTimeField(null=True, blank=True)
    metadata_updated_at = models.DateTimeField(null=True, blank=True)
    # Read back from Kaggle once processing is ready: one line per difference with what
    # was approved (datasets.reconcile), and the keywords Kaggle did not take.
    differences = models.JSONField(default=list, blank=True)
    invalid_tags = models.JSONField(default=list, blank=True)
    # Kaggle upload sessions by file content ("<sha256>:<size>" → the StartBlobUpload
    # answer, when it began, whether the PUT completed), so any later attempt on any
    # worker resumes a broken upload or reuses a finished one instead of sending it again.
    upload_sessions = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(state__in=["queued", "staging", "uploading", "processing"]),
                name="one_active_job_per_dataset",
            )
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="job_recent"),
            models.Index(fields=["dataset", "-created_at", "-id"], name="job_dataset_recent"),
            models.Index(fields=["state", "-created_at", "-id"], name="job_state_recent"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"job {self.pk} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in JobState.active()

    @property
    def kaggle_acting(self) -> bool:
        """Kaggle may already be acting on this job's request: too late to cancel."""
        return bool(self.publish_requested_at or self.metadata_requested_at)

    @property
    def cancel_refusal(self) -> str:
        """Why a cancel is refused now ("" when it would be accepted)."""
        if self.state not in JobState.active():
            return f"This job is {self.get_state_display().lower()}; there is nothing to cancel."
        if self.publish_requested_at:
            if self.kaggle_version_before is None:
                doing = "creating the dataset"
            else:
                doing = f"creating version {self.kaggle_version_before + 1}"
            return f"Kaggle is already {doing}; it cannot be stopped from Wharf."
        if self.metadata_requested_at:
            return "Kaggle is already updating the metadata; it cannot be stopped from Wharf."
        return ""

    @property
    def can_cancel(self) -> bool:
        return not self.cancel_requested and not self.cancel_refusal

    @property
    def outcome_label(self) -> str:
        """What happened on Kaggle, in words ("metadata updated" for a metadata-only job)."""
        if self.state == JobState.PUBLISHED and self.plan == JobPlan.METADATA:
            return "metadata updated"
        if self.state == JobState.PUBLISHED and self.differences:
            return "published with differences"
        return self.get_state_display().lower()

    @property
    def progress_percent(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, int(100 * self.bytes_done / self.bytes_total))


# --- History -----------------------------------------------------------------------


class HistoryIsAppendOnly(ValueError):
    """An attempt to change or delete an Event."""


class EventQuerySet(models.QuerySet):
    """`Event.objects` cannot rewrite the history in bulk either. Deletions of the rows an
    event points at still work: Django's collector sets those links to NULL through the
    plain base manager, and the event keeps its own copy of what it needs to read."""

    def update(self, **kwargs):
        raise HistoryIsAppendOnly("Events are append-only: they cannot be updated.")

    def delete(self):
        raise HistoryIsAppendOnly("Events are append-only: they cannot be deleted.")

    delete.queryset_only = True  # as on every QuerySet: no Event.objects.delete()


class Event(models.Model):
    """The append-only history. Never updated or deleted (see EventQuerySet, save() and
    delete()); it outlives what it tells about: deleting a dataset, a submission, a job or
    a user keeps their events (the links become NULL, `dataset_ref` and `actor_name` keep
    the names), and a lab with a history cannot be deleted at all (archive it)."""

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="events")
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    job = models.ForeignKey(
        PublishJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Copies taken when the event is written, so that it still reads once the dataset or
    # the user is gone ("owner/slug", the username).
    dataset_ref = models.CharField(max_length=101, blank=True, default="")
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=60)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["dataset", "-at", "-id"], name="event_dataset_recent"),
            models.Index(fields=["lab", "-at", "-id"], name="event_lab_recent"),
            models.Index(fields=["job", "at", "id"], name="event_job"),
        ]
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise HistoryIsAppendOnly("Events are append-only: they cannot be changed.")
        if self.dataset is not None and not self.dataset_ref:
            self.dataset_ref = self.dataset.ref
        if self.actor is not None and not self.actor_name:
            self.actor_name = self.actor.get_username()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise HistoryIsAppendOnly("Events are append-only: they cannot be deleted.")

    @property
    def dataset_label(self) -> str:
        """The dataset as the history names it, also after it was deleted."""
        if self.dataset_id is not None:
            return self.dataset.title
        return self.dataset_ref

    @property
    def actor_label(self) -> str:
        if self.actor_id is not None:
            return self.actor.get_username()
        return self.actor_name
