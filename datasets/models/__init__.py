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
from .invitations import Invitation
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
from .publishing import Event, HistoryIsAppendOnly, JobPlan, JobState, PublishJob
from .scans import LabPattern, ScanState, SubmissionScan

__all__ = [
    "ApiToken", "CheckResult", "Comment", "CredentialKind", "Dataset", "DatasetFile",
    "DatasetSchedule", "DatasetStatus", "DeliveryState", "Event", "FileKind",
    "HistoryIsAppendOnly", "Invitation", "JobPlan",
    "JobState",
    "KaggleAccount", "Lab", "LabPattern", "Membership", "Packaging", "Profile", "PublishJob",
    "Role", "ScanState", "SchedulePolicy", "Source", "StorageRoot", "Submission", "SubmissionScan",
    "SubmissionState", "Webhook", "WebhookAction", "WebhookDelivery", "upload_to",
]  # fmt: skip
