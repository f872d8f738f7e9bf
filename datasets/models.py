"""Wharf's domain: labs and their people, datasets, submissions, publish jobs, events."""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    ENGINEER = "engineer", "Data engineer"


class Lab(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    allow_self_approval = models.BooleanField(
        default=False,
        help_text="Let an engineer approve a submission they made themselves.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="labs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESEARCHER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lab"], name="membership_one_per_user_lab")
        ]
        ordering = ["lab__name"]

    def __str__(self):
        return f"{self.user} in {self.lab} ({self.get_role_display()})"

    @property
    def is_engineer(self) -> bool:
        return self.role == Role.ENGINEER


# --- Kaggle accounts and lab storage ------------------------------------------------


class CredentialKind(models.TextChoices):
    KEY = "key", "Username and API key"
    TOKEN = "token", "Access token"


class KaggleAccount(models.Model):
    """A lab's publishing identity. The secret is encrypted at rest (datasets.crypto)
    and only its last four characters are ever shown."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="kaggle_accounts")
    owner_slug = models.CharField(
        max_length=50, help_text="The Kaggle user or organisation datasets are published under."
    )
    username = models.CharField(max_length=50, help_text="The Kaggle user the key belongs to.")
    credential_kind = models.CharField(
        max_length=10, choices=CredentialKind.choices, default=CredentialKind.KEY
    )
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "owner_slug"], name="account_owner_per_lab")
        ]
        ordering = ["owner_slug"]

    def __str__(self):
        return self.owner_slug

    @property
    def masked_secret(self) -> str:
        return f"••••{self.secret_last4}"


class StorageRoot(models.Model):
    """A folder on lab storage (e.g. a cluster project folder) that a lab's datasets may
    take files from. Nothing outside it is ever read."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="storage_roots")
    name = models.CharField(max_length=80)
    path = models.CharField(max_length=1000, help_text="Absolute path on the Wharf servers.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "path"], name="storage_root_path_per_lab"),
            models.UniqueConstraint(fields=["lab", "name"], name="storage_root_name_per_lab"),
        ]
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.path})"


# --- Datasets and their files -------------------------------------------------------


class DatasetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    RETURNED = "returned", "Returned"
    APPROVED = "approved", "Approved"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"

    @classmethod
    def editable(cls) -> set[str]:
        return {cls.DRAFT, cls.RETURNED, cls.PUBLISHED, cls.FAILED}


class Source(models.TextChoices):
    UPLOAD = "upload", "Browser uploads"
    STORAGE = "storage", "Folder on lab storage"


class Packaging(models.TextChoices):
    ZIP = "zip", "zip"
    TAR = "tar", "tar"


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
    # Kept current by the services in the same transaction as the event that changes
    # them, so lists never recompute them per row.
    status = models.CharField(
        max_length=20, choices=DatasetStatus.choices, default=DatasetStatus.DRAFT
    )
    latest_version = models.PositiveIntegerField(null=True, blank=True)
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
    def progress_percent(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, int(100 * self.bytes_done / self.bytes_total))


# --- History -----------------------------------------------------------------------


class Event(models.Model):
    """The append-only history. Never updated or deleted: see save() and delete()."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="events")
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
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
    action = models.CharField(max_length=60)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=False)

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
        if self.pk is not None:
            raise ValueError("Events are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Events are append-only and cannot be deleted.")


# --- People: API tokens and preferences ---------------------------------------------


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class Profile(models.Model):
    """Per-user settings: which emails to receive, the secret in private feed URLs."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wharf_profile"
    )
    email_on_submission = models.BooleanField(
        default=True, help_text="Engineers: a new submission waits for review."
    )
    email_on_review = models.BooleanField(
        default=True, help_text="Your submission was approved or returned."
    )
    email_on_comment = models.BooleanField(
        default=True, help_text="Someone commented on a submission you take part in."
    )
    email_on_publish = models.BooleanField(
        default=True, help_text="A version you submitted was published or failed."
    )
    feed_token = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"profile of {self.user}"
