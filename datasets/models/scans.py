"""The content scan of each submission, and the patterns a lab adds to it."""

from django.conf import settings
from django.db import models

from .datasets import Submission
from .labs import Lab


class ScanState(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"

    @classmethod
    def unfinished(cls) -> list[str]:
        return [cls.PENDING, cls.RUNNING]


class SubmissionScan(models.Model):
    """What the scan found in a submission's files. Examples in `findings` are masked
    by the scanner: no raw value is ever stored."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="scan")
    state = models.CharField(max_length=10, choices=ScanState.choices, default=ScanState.PENDING)
    # Bumped by every (re-)run request: a run whose generation is no longer current
    # throws its result away instead of overwriting a newer one.
    generation = models.PositiveIntegerField(default=1)
    findings = models.JSONField(
        default=list, blank=True, help_text="file, location, kind, label, count, masked examples"
    )
    not_scanned = models.JSONField(
        default=list, blank=True, help_text="file, code, reason: binaries, partial reads, …"
    )
    files_scanned = models.PositiveIntegerField(default=0)
    bytes_scanned = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state"], name="scan_state")]

    def __str__(self):
        return f"scan of {self.submission_id} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state not in ScanState.unfinished()

    @property
    def finding_count(self) -> int:
        return sum(f.get("count", 0) for f in self.findings)


class LabPattern(models.Model):
    """A lab's own rule for the scan, e.g. its studies' participant-ID format. The
    pattern is checked when it is added (datasets.scanning.lab_patterns)."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="scan_patterns")
    name = models.CharField(max_length=80)
    pattern = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="lab_pattern_name_per_lab")
        ]
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.pattern}"
