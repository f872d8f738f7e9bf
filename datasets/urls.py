from django.urls import path

from . import feeds, uploads_tus
from .views import (
    continuous,
    dashboard,
    datasets,
    entries,
    files,
    history,
    jobs,
    labs,
    lifecycle,
    profile,
    review,
)

app_name = "datasets"

urlpatterns = [
    # Datasets
    path("datasets/", datasets.DatasetListView.as_view(), name="dataset_list"),
    path("datasets/new/", datasets.DatasetCreateView.as_view(), name="dataset_create"),
    path("datasets/<int:pk>/", datasets.DatasetDetailView.as_view(), name="dataset_detail"),
    path("datasets/<int:pk>/edit/", datasets.DatasetUpdateView.as_view(), name="dataset_edit"),
    path("datasets/<int:pk>/delete/", datasets.DatasetDeleteView.as_view(), name="dataset_delete"),
    path(
        "datasets/<int:pk>/dataset-metadata.json",
        datasets.DatasetMetadataView.as_view(),
        name="dataset_metadata",
    ),
    path(
        "datasets/<int:pk>/make-public/",
        lifecycle.DatasetMakePublicView.as_view(),
        name="dataset_make_public",
    ),
    path(
        "datasets/<int:pk>/remove-from-kaggle/",
        lifecycle.DatasetRemoveFromKaggleView.as_view(),
        name="dataset_remove_from_kaggle",
    ),
    path(
        "datasets/<int:pk>/cover.png",
        datasets.DatasetCoverView.as_view(),
        name="dataset_cover",
    ),
    path(
        "datasets/<int:pk>/citation.bib",
        datasets.DatasetCitationView.as_view(fmt="bib"),
        name="dataset_citation_bib",
    ),
    path(
        "datasets/<int:pk>/CITATION.cff",
        datasets.DatasetCitationView.as_view(fmt="cff"),
        name="dataset_citation_cff",
    ),
    path(
        "versions/<int:pk>/datapackage.json",
        datasets.VersionDataPackageView.as_view(),
        name="version_datapackage",
    ),
    path("markdown/preview/", datasets.MarkdownPreviewView.as_view(), name="markdown_preview"),
    # Files
    path("datasets/<int:pk>/files/upload/", files.FileUploadView.as_view(), name="file_upload"),
    path("datasets/<int:pk>/files/tus/", uploads_tus.TusCreateView.as_view(), name="file_tus"),
    path(
        "datasets/<int:pk>/files/tus/<str:upload_id>",
        uploads_tus.TusUploadView.as_view(),
        name="file_tus_upload",
    ),
    path(
        "datasets/<int:pk>/files/storage/",
        files.FileAddStorageView.as_view(),
        name="file_add_storage",
    ),
    path(
        "datasets/<int:pk>/files/storage/browse/",
        files.StorageBrowseView.as_view(),
        name="storage_browse",
    ),
    path("files/<int:pk>/edit/", files.FileEditView.as_view(), name="file_edit"),
    # A folder's entries, a page at a time: live from storage, or frozen in a version.
    path(
        "files/<int:pk>/entries/",
        entries.FolderEntriesView.as_view(source="file"),
        name="file_entries",
    ),
    path(
        "files/<int:pk>/entries/columns/",
        files.FileEntryColumnsView.as_view(),
        name="file_entry_columns",
    ),
    path(
        "submissions/<int:pk>/entries/",
        entries.FolderEntriesView.as_view(source="submission"),
        name="submission_entries",
    ),
    path("files/<int:pk>/delete/", files.FileDeleteView.as_view(), name="file_delete"),
    # Labs: Kaggle accounts and storage roots
    path("labs/", labs.LabListView.as_view(), name="lab_list"),
    path("labs/new/", labs.LabCreateView.as_view(), name="lab_create"),
    path("labs/<slug:slug>/", labs.LabSettingsView.as_view(), name="lab_settings"),
    # Labs: members and invitations (lab administration, issue 20)
    path("labs/<slug:slug>/members/add/", labs.MemberAddView.as_view(), name="member_add"),
    path("labs/<slug:slug>/invite/", labs.InvitationCreateView.as_view(), name="invitation_create"),
    path("memberships/<int:pk>/role/", labs.MemberRoleView.as_view(), name="member_role"),
    path("memberships/<int:pk>/remove/", labs.MemberRemoveView.as_view(), name="member_remove"),
    path(
        "invitations/<int:pk>/withdraw/",
        labs.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path(
        "invitations/accept/<str:token>/",
        labs.InvitationAcceptView.as_view(),
        name="invitation_accept",
    ),
    path("labs/<slug:slug>/accounts/add/", labs.AccountAddView.as_view(), name="account_add"),
    path(
        "labs/<slug:slug>/storage-roots/add/",
        labs.StorageRootAddView.as_view(),
        name="storageroot_add",
    ),
    path(
        "kaggle-accounts/<int:pk>/secret/",
        labs.AccountSecretView.as_view(),
        name="account_secret",
    ),
    path("kaggle-accounts/<int:pk>/test/", labs.AccountTestView.as_view(), name="account_test"),
    path(
        "kaggle-accounts/<int:pk>/delete/",
        labs.AccountDeleteView.as_view(),
        name="account_delete",
    ),
    path(
        "storage-roots/<int:pk>/delete/",
        labs.StorageRootDeleteView.as_view(),
        name="storageroot_delete",
    ),
    # Labs: the content scan's own patterns (issue 9)
    path(
        "labs/<slug:slug>/scan-patterns/add/",
        labs.LabPatternAddView.as_view(),
        name="labpattern_add",
    ),
    path(
        "scan-patterns/<int:pk>/delete/",
        labs.LabPatternDeleteView.as_view(),
        name="labpattern_delete",
    ),
    # Review
    path(
        "datasets/<int:pk>/submit/",
        review.SubmissionCreateView.as_view(),
        name="submission_create",
    ),
    path(
        "submissions/<int:pk>/withdraw/",
        review.SubmissionWithdrawView.as_view(),
        name="submission_withdraw",
    ),
    path("review/", review.ReviewQueueView.as_view(), name="review_queue"),
    path("review/<int:pk>/", review.ReviewView.as_view(), name="review"),
    path(
        "review/<int:pk>/approve/",
        review.SubmissionApproveView.as_view(),
        name="submission_approve",
    ),
    path(
        "review/<int:pk>/return/", review.SubmissionReturnView.as_view(), name="submission_return"
    ),
    path("review/<int:pk>/comments/", review.CommentAddView.as_view(), name="comment_add"),
    path(
        "review/<int:pk>/rescan/",
        review.SubmissionScanRerunView.as_view(),
        name="submission_scan_rerun",
    ),
    # Publishing and history
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="job_detail"),
    path("jobs/<int:pk>/cancel/", jobs.JobCancelView.as_view(), name="job_cancel"),
    path("jobs/<int:pk>/retry/", jobs.JobRetryView.as_view(), name="job_retry"),
    path("history/", history.HistoryView.as_view(), name="history"),
    path("history.csv", history.HistoryCsvView.as_view(), name="history_csv"),
    path("dashboard/", dashboard.DashboardView.as_view(), name="dashboard"),
    path("dashboard/workers/", dashboard.WorkersPanelView.as_view(), name="dashboard_workers"),
    path("feeds/<str:token>/datasets/<int:pk>.atom", feeds.DatasetFeed(), name="feed_dataset"),
    path("feeds/<str:token>/labs/<slug:slug>.atom", feeds.LabFeed(), name="feed_lab"),
    # Continuous publishing: schedules and webhooks
    path("datasets/<int:pk>/schedule/", continuous.ScheduleView.as_view(), name="schedule"),
    path(
        "datasets/<int:pk>/schedule/delete/",
        continuous.ScheduleDeleteView.as_view(),
        name="schedule_delete",
    ),
    path(
        "datasets/<int:pk>/schedule/check/",
        continuous.ScheduleCheckNowView.as_view(),
        name="schedule_check",
    ),
    path("labs/<slug:slug>/webhooks/add/", continuous.WebhookAddView.as_view(), name="webhook_add"),
    path("webhooks/<int:pk>/", continuous.WebhookDetailView.as_view(), name="webhook_detail"),
    path(
        "webhooks/<int:pk>/delete/", continuous.WebhookDeleteView.as_view(), name="webhook_delete"
    ),
    path(
        "webhook-deliveries/<int:pk>/resend/",
        continuous.WebhookResendView.as_view(),
        name="webhook_resend",
    ),
    # People
    path("profile/", profile.ProfileView.as_view(), name="profile"),
    path(
        "profile/feed-token/reset/",
        profile.FeedTokenResetView.as_view(),
        name="feed_token_reset",
    ),
]
