"""Submissions, comments and publish jobs."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasets import rules
from datasets.metadata import kaggle_metadata, shown_metadata
from datasets.models import Comment, JobState, PublishJob, ScanState, Submission, SubmissionState
from datasets.scanning import KIND_LABELS
from datasets.versions import job_version_label

from .common import WebUrlMixin, id_field, username

# --- Submissions -------------------------------------------------------------------


class FrozenFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    kind = serializers.CharField(required=False)
    size = serializers.IntegerField()
    description = serializers.CharField(required=False)
    entry_count = serializers.SerializerMethodField()

    def get_entry_count(self, entry) -> int:
        return len(entry.get("entries") or []) if entry.get("kind") == "folder" else 1


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = fields

    def get_author(self, obj) -> str | None:
        return username(obj.author)


class SubmissionSerializer(WebUrlMixin, serializers.ModelSerializer):
    dataset_ref = serializers.SerializerMethodField()
    files = FrozenFileSerializer(many=True, read_only=True)
    submitted_by = serializers.SerializerMethodField()
    reviewed_by = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "dataset",
            "dataset_ref",
            "number",
            "state",
            "version_notes",
            "files",
            "file_count",
            "total_bytes",
            "submitted_by",
            "submitted_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "web_url",
        ]
        read_only_fields = fields

    def get_dataset_ref(self, obj) -> str:
        return f"{obj.metadata.get('owner_slug')}/{obj.metadata.get('slug')}"

    def get_submitted_by(self, obj) -> str | None:
        return username(obj.submitted_by)

    def get_reviewed_by(self, obj) -> str | None:
        return username(obj.reviewed_by)

    def get_web_url(self, obj) -> str | None:
        return self._url("datasets:review", obj.pk)


class FindingSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="Path as published; archive members as a.zip!/b.csv.")
    location = serializers.CharField(help_text='e.g. column "email", key "dob", lines 3, 17')
    kind = serializers.ChoiceField(choices=list(KIND_LABELS))
    label = serializers.CharField(
        required=False, help_text="The kind in words; for lab_pattern, the pattern's name."
    )
    count = serializers.IntegerField()
    examples = serializers.ListField(
        child=serializers.CharField(), help_text="At most three, masked: never a raw value."
    )


class NotScannedSerializer(serializers.Serializer):
    file = serializers.CharField()
    code = serializers.ChoiceField(
        choices=[
            "binary",
            "partial",
            "missing",
            "unreadable",
            "encrypted",
            "nested_archive",
            "more",
        ]
    )
    reason = serializers.CharField(help_text='e.g. "scanned the first 256 MB of 1.2 GB"')


def _scan(obj):
    """The submission's scan (None before it is requested), looked up once."""
    if not hasattr(obj, "_scan_cache"):
        try:
            obj._scan_cache = obj.scan
        except ObjectDoesNotExist:
            obj._scan_cache = None
    return obj._scan_cache


class SubmissionDetailSerializer(SubmissionSerializer):
    metadata = serializers.JSONField(read_only=True)
    kaggle_metadata = serializers.SerializerMethodField()
    diff = serializers.SerializerMethodField()
    files_changed_since_submission = serializers.SerializerMethodField()
    scan_state = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()
    not_scanned = serializers.SerializerMethodField()
    comments = CommentSerializer(many=True, read_only=True)

    class Meta(SubmissionSerializer.Meta):
        fields = [
            *SubmissionSerializer.Meta.fields,
            "metadata",
            "kaggle_metadata",
            "diff",
            "files_changed_since_submission",
            "scan_state",
            "findings",
            "not_scanned",
            "comments",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_kaggle_metadata(self, obj):
        return shown_metadata(kaggle_metadata(obj.metadata, obj.files))

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_diff(self, obj):
        from datasets.selectors import submission_diff

        return submission_diff(obj)

    def get_files_changed_since_submission(self, obj) -> list[str]:
        """Storage files whose size changed since; approval is refused while any did."""
        from datasets.services.review import files_changed_since

        if obj.state != SubmissionState.PENDING_REVIEW:
            return []
        return files_changed_since(obj)

    @extend_schema_field(
        serializers.ChoiceField(choices=["pending", "running", "done", "failed"], allow_null=True)
    )
    def get_scan_state(self, obj):
        """The content scan: approval waits for `done` (null: never requested)."""
        scan = _scan(obj)
        return scan.state if scan else None

    @extend_schema_field(FindingSerializer(many=True))
    def get_findings(self, obj):
        """What the finished scan found; approving with findings needs
        `acknowledge_findings` and a note."""
        scan = _scan(obj)
        if scan is None or scan.state != ScanState.DONE:
            return []
        return FindingSerializer(scan.findings, many=True).data

    @extend_schema_field(NotScannedSerializer(many=True))
    def get_not_scanned(self, obj):
        """Files the scan skipped (binaries) or read only in part (over the byte budget)."""
        scan = _scan(obj)
        if scan is None or scan.state != ScanState.DONE:
            return []
        return NotScannedSerializer(scan.not_scanned, many=True).data


class SubmitSerializer(serializers.Serializer):
    version_notes = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=rules.VERSION_NOTES_MAX,
        error_messages={"max_length": "Keep version notes under 10,000 characters."},
    )
    delete_old_versions = serializers.BooleanField(
        default=False,
        help_text="Ask Kaggle to delete every older version once this one is published "
        "(for the storage quota). Shown to the reviewer; ignored for a first version.",
    )


class ApproveSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=5000,
        error_messages={"max_length": "Keep the note under 5,000 characters."},
    )
    acknowledge_findings = serializers.BooleanField(
        default=False,
        help_text="Required (with a note) when the content scan found anything.",
    )

    def validate_note(self, value):
        rules.check_no_control_characters(value.replace("\r", ""), "The note")
        return value


class ApprovalSerializer(SubmissionDetailSerializer):
    job = serializers.IntegerField(read_only=True, help_text="The publish job created.")

    class Meta(SubmissionDetailSerializer.Meta):
        fields = [*SubmissionDetailSerializer.Meta.fields, "job"]
        read_only_fields = fields


class ReturnSerializer(serializers.Serializer):
    # Blank reaches the service, which says why a reason is needed.
    reason = serializers.CharField(allow_blank=True)

    def validate_reason(self, value):
        rules.check_no_control_characters(value.replace("\r", ""), "The reason")
        return value


class CommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)

    def validate_text(self, value):
        rules.check_no_control_characters(value.replace("\r", ""), "The comment")
        return value


# --- Publish jobs ------------------------------------------------------------------


class ManifestEntrySerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class JobSerializer(WebUrlMixin, serializers.ModelSerializer):
    number = serializers.IntegerField(source="submission.number", read_only=True)
    result = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField(read_only=True)
    manifest = ManifestEntrySerializer(many=True, read_only=True)
    version_label = serializers.SerializerMethodField()
    differences = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField()

    class Meta:
        model = PublishJob
        fields = [
            "id",
            "dataset",
            "submission",
            "number",
            "state",
            "result",
            "error_code",
            "error_message",
            "force",
            "cancel_requested",
            "bytes_done",
            "bytes_total",
            "progress_percent",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "kaggle_ref",
            "kaggle_url",
            "kaggle_version",
            "version_label",
            "differences",
            "outcome",
            "manifest",
            "web_url",
        ]
        read_only_fields = fields

    def get_version_label(self, obj) -> str:
        """Wharf's number and Kaggle's side by side ("v3 · Kaggle v4")."""
        return job_version_label(obj)

    def get_differences(self, obj) -> list[str]:
        """What Kaggle holds that differs from what was approved (read back after the
        publish): empty when Kaggle holds exactly that."""
        return list(getattr(obj, "differences", None) or [])

    def get_outcome(self, obj) -> str:
        """In words: "published", "published with differences", "metadata updated"…"""
        label = getattr(obj, "outcome_label", None)
        return label if label is not None else obj.get_state_display().lower()

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["published", "skipped", "failed", "cancelled"], allow_null=True
        )
    )
    def get_result(self, obj):
        """The outcome once the job is over (a model field, when there is one)."""
        result = getattr(obj, "result", None)
        if result:
            return result
        return obj.state if obj.state in JobState.final() else None

    def get_created_by(self, obj) -> str | None:
        return username(obj.created_by)

    def get_web_url(self, obj) -> str | None:
        return self._url("datasets:job_detail", obj.pk)


class JobRetrySerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Publish even if nothing changed since the last version."
    )


class SubmissionFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=SubmissionState.choices,
        required=False,
        help_text="pending_review lists the review queue, oldest first.",
    )
    lab = id_field(required=False)
    dataset = id_field(required=False)


class JobFilterSerializer(serializers.Serializer):
    dataset = id_field(required=False)
    state = serializers.ChoiceField(choices=JobState.choices, required=False)
    lab = id_field(required=False)
