"""Datasets, their files, and the versions submitted for review."""

from django.conf import settings
from django.db import models

from .labs import KaggleAccount, Lab, StorageRoot

# --- Datasets and their files -------------------------------------------------------


class DatasetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    RETURNED = "returned", "Returned"
    APPROVED = "approved", "Approved"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"
    # Removed from Kaggle: kept with its whole history, its slug and title reserved.
    ARCHIVED = "archived", "Archived (removed from Kaggle)"

    @classmethod
    def editable(cls) -> set[str]:
        return {cls.DRAFT, cls.RETURNED, cls.PUBLISHED, cls.FAILED}


class Source(models.TextChoices):
    UPLOAD = "upload", "Browser uploads"
    STORAGE = "storage", "Folder on lab storage"


class Packaging(models.TextChoices):
    ZIP = "zip", "zip"
    TAR = "tar", "tar"


def cover_upload_to(instance, filename):
    import uuid

    return f"covers/{uuid.uuid4().hex}.png"


class UpdateFrequency(models.TextChoices):
    """Kaggle's "expected update frequency" (a free string in its API; these are the
    words its dataset settings offer)."""

    NEVER = "never", "Never"
    ANNUALLY = "annually", "Annually"
    QUARTERLY = "quarterly", "Quarterly"
    MONTHLY = "monthly", "Monthly"
    WEEKLY = "weekly", "Weekly"
    DAILY = "daily", "Daily"
    HOURLY = "hourly", "Hourly"


class CollaboratorRole(models.TextChoices):
    READER = "reader", "Reader"
    WRITER = "writer", "Writer"


class Dataset(models.Model):
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="datasets")
    kaggle_account = models.ForeignKey(
        KaggleAccount, on_delete=models.PROTECT, related_name="datasets", null=True, blank=True
    )
    owner_slug = models.CharField(max_length=50)
    slug = models.CharField(max_length=50)
    title = models.CharField(max_length=50)
    subtitle = models.CharField(max_length=80, blank=True)
    description = models.TextField(blank=True)
    license = models.CharField(max_length=40)
    keywords = models.JSONField(default=list, blank=True)
    is_private = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    folder_packaging = models.CharField(
        max_length=3, choices=Packaging.choices, default=Packaging.ZIP
    )
    # Provenance and cadence, sent as userSpecifiedSources / expectedUpdateFrequency.
    user_specified_sources = models.TextField(blank=True)
    expected_update_frequency = models.CharField(
        max_length=20, choices=UpdateFrequency.choices, blank=True
    )
    # Kaggle collaborators: [{"username": a lab member's Kaggle username, "role"}].
    collaborators = models.JSONField(default=list, blank=True)
    # The lab members credited as authors in citations (user ids, in order).
    creators = models.JSONField(default=list, blank=True)
    # Stored as Pillow re-encoded it (datasets.cover), never as uploaded.
    cover_image = models.FileField(upload_to=cover_upload_to, max_length=300, blank=True)
    # Kept current by the services in the same transaction as the event that changes
    # them, so lists never recompute them per row.
    status = models.CharField(
        max_length=20, choices=DatasetStatus.choices, default=DatasetStatus.DRAFT
    )
    latest_version = models.PositiveIntegerField(null=True, blank=True)
    # Kaggle's number for the latest version (they drift apart: a failed processing
    # consumes a Kaggle number, a metadata-only publish consumes none); shown side by side.
    kaggle_version = models.PositiveIntegerField(null=True, blank=True)
    kaggle_url = models.URLField(blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_event_action = models.CharField(max_length=60, blank=True)
    return_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner_slug", "slug"], name="dataset_slug_per_owner")
        ]
        indexes = [
            models.Index(fields=["lab", "-updated_at", "-id"], name="dataset_lab_recent"),
            models.Index(fields=["status", "-updated_at", "-id"], name="dataset_status_recent"),
        ]
        ordering = ["-updated_at", "-id"]

    def __str__(self):
        return self.ref

    @property
    def ref(self) -> str:
        return f"{self.owner_slug}/{self.slug}"

    @property
    def is_editable(self) -> bool:
        return self.status in DatasetStatus.editable()

    @property
    def status_label(self) -> str:
        """The status as people read it: "Published v3" rather than "Published"."""
        if self.status == DatasetStatus.PUBLISHED and self.latest_version:
            return f"Published v{self.latest_version}"
        return self.get_status_display()


class FileKind(models.TextChoices):
    FILE = "file", "File"
    FOLDER = "folder", "Folder"


def upload_to(instance, filename):
    # The stored name is generated: the original name is metadata only (DatasetFile.path).
    import uuid

    return f"datasets/{instance.dataset_id}/{uuid.uuid4().hex}"


class DatasetFile(models.Model):
    """One file or folder of a dataset. Its bytes are an upload Wharf keeps, or a path
    under one of the lab's storage roots."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=255, help_text="The name it is published under.")
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=FileKind.choices, default=FileKind.FILE)
    upload = models.FileField(upload_to=upload_to, max_length=300, blank=True)
    storage_root = models.ForeignKey(
        StorageRoot, null=True, blank=True, on_delete=models.PROTECT, related_name="files"
    )
    storage_relpath = models.CharField(max_length=1000, blank=True)
    size = models.BigIntegerField(default=0)
    entry_count = models.PositiveIntegerField(default=1)
    sha256 = models.CharField(max_length=64, blank=True)
    # A CSV/TSV's columns (datasets.tabular), inferred when added, described by people.
    columns = models.JSONField(default=list, blank=True)
    columns_error = models.CharField(max_length=300, blank=True)
    # A folder's tabular entries: {relpath: columns}.
    entry_columns = models.JSONField(default=dict, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "path"], name="file_path_per_dataset")
        ]
        ordering = ["path"]

    def __str__(self):
        return self.path

    @property
    def origin(self) -> str:
        return "storage" if self.storage_root_id else "upload"


# --- Review ------------------------------------------------------------------------


class SubmissionState(models.TextChoices):
    PENDING_REVIEW = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    RETURNED = "returned", "Returned"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Submission(models.Model):
    """Version N of a dataset as proposed: metadata and file list frozen when submitted,
    so what the engineer approves is exactly what gets published."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="submissions")
    number = models.PositiveIntegerField(help_text="The Kaggle version this would become.")
    state = models.CharField(
        max_length=20, choices=SubmissionState.choices, default=SubmissionState.PENDING_REVIEW
    )
    metadata = models.JSONField(help_text="Snapshot of the dataset's metadata.")
    files = models.JSONField(help_text="Frozen file list: path, size, mtime, entries.")
    total_bytes = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    version_notes = models.TextField(blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    approved_by_policy = models.CharField(max_length=30, blank=True)
    # Frictionless validation of each tabular file (datasets.services.data_checks):
    # {"state": pending|running|done|failed, "files": [report, ...], "error": str}.
    data_checks = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(state="pending_review"),
                name="one_open_review_per_dataset",
            )
        ]
        indexes = [
            models.Index(fields=["state", "submitted_at", "id"], name="submission_queue"),
        ]
        ordering = ["-submitted_at", "-id"]

    def __str__(self):
        return f"{self.dataset.ref} v{self.number}"


class Comment(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment by {self.author} on {self.submission}"
