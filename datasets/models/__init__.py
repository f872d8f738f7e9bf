"""Wharf's domain, one module per concern; everything is importable from here."""

from .continuous import (
    CheckResult,
    DatasetSchedule,
    DeliveryState,
    SchedulePolicy,
    Webhook,
    WebhookAction,
    WebhookDelivery,
)
from .datasets import (
    Comment,
    Dataset,
    DatasetFile,
    DatasetStatus,
    FileKind,
    Packaging,
    Source,
    Submission,
    SubmissionState,
    upload_to,
)
from .labs import (
    ApiToken,
    CredentialKind,
    KaggleAccount,
    Lab,
    Membership,
    Profile,
    Role,
    StorageRoot,
)
from .publishing import Event, JobState, PublishJob

__all__ = [
    "ApiToken", "Comment", "CredentialKind", "Dataset", "DatasetFile", "DatasetStatus", "Event",
    "FileKind", "JobState", "KaggleAccount", "Lab", "Membership", "Packaging", "Profile",
    "PublishJob", "Role", "Source", "StorageRoot", "Submission", "SubmissionState", "upload_to",
    "CheckResult", "DatasetSchedule", "DeliveryState", "SchedulePolicy", "Webhook",
    "WebhookAction", "WebhookDelivery",
]  # fmt: skip
