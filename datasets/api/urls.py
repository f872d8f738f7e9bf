"""The REST API (see shared API.md), mounted at /api/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework import permissions

from .views import accounts, datasets, docs, files, jobs, labs, review

app_name = "api"

v1 = [
    path("auth/token/", accounts.TokenObtainView.as_view(), name="token"),
    path("labs/", accounts.LabListView.as_view(), name="labs"),
    # Lab administration (issue 20): members, storage roots, Kaggle accounts.
    path("labs/<int:pk>/members/", labs.MemberListView.as_view(), name="lab_members"),
    path(
        "labs/<int:pk>/members/<int:member_pk>/",
        labs.MemberDetailView.as_view(),
        name="lab_member",
    ),
    path(
        "labs/<int:pk>/storage-roots/", labs.StorageRootListView.as_view(), name="lab_storage_roots"
    ),
    path(
        "labs/<int:pk>/storage-roots/<int:root_pk>/",
        labs.StorageRootDetailView.as_view(),
        name="lab_storage_root",
    ),
    path(
        "labs/<int:pk>/kaggle-accounts/",
        labs.KaggleAccountListView.as_view(),
        name="lab_kaggle_accounts",
    ),
    path(
        "labs/<int:pk>/kaggle-accounts/<int:account_pk>/",
        labs.KaggleAccountDetailView.as_view(),
        name="lab_kaggle_account",
    ),
    path("datasets/", datasets.DatasetListView.as_view(), name="datasets"),
    path("datasets/<int:pk>/", datasets.DatasetDetailView.as_view(), name="dataset"),
    path("datasets/<int:pk>/files/", files.DatasetFileListView.as_view(), name="files"),
    path(
        "datasets/<int:pk>/files/<int:file_pk>/",
        files.DatasetFileDetailView.as_view(),
        name="file",
    ),
    path(
        "datasets/<int:pk>/files/<int:file_pk>/entries/",
        files.DatasetFileEntriesView.as_view(),
        name="file_entries",
    ),
    path("datasets/<int:pk>/cover/", datasets.DatasetCoverView.as_view(), name="dataset_cover"),
    path(
        "datasets/<int:pk>/kaggle-metadata/",
        datasets.DatasetKaggleMetadataView.as_view(),
        name="kaggle_metadata",
    ),
    path("datasets/<int:pk>/history/", datasets.DatasetHistoryView.as_view(), name="history"),
    path(
        "datasets/<int:pk>/make-public/",
        datasets.DatasetMakePublicView.as_view(),
        name="dataset_make_public",
    ),
    path(
        "datasets/<int:pk>/remove-from-kaggle/",
        datasets.DatasetRemoveFromKaggleView.as_view(),
        name="dataset_remove_from_kaggle",
    ),
    path(
        "datasets/<int:pk>/submissions/",
        review.DatasetSubmissionListView.as_view(),
        name="dataset_submissions",
    ),
    path("submissions/", review.SubmissionListView.as_view(), name="submissions"),
    path("submissions/<int:pk>/", review.SubmissionDetailView.as_view(), name="submission"),
    path("submissions/<int:pk>/approve/", review.SubmissionApproveView.as_view(), name="approve"),
    path("submissions/<int:pk>/return/", review.SubmissionReturnView.as_view(), name="return"),
    path(
        "submissions/<int:pk>/withdraw/", review.SubmissionWithdrawView.as_view(), name="withdraw"
    ),
    path(
        "submissions/<int:pk>/comments/",
        review.SubmissionCommentListView.as_view(),
        name="comments",
    ),
    path("jobs/", jobs.JobListView.as_view(), name="jobs"),
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="job"),
    path("jobs/<int:pk>/cancel/", jobs.JobCancelView.as_view(), name="job_cancel"),
    path("jobs/<int:pk>/retry/", jobs.JobRetryView.as_view(), name="job_retry"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[permissions.AllowAny]),
        name="schema",
    ),
    path("docs/", docs.ApiDocsView.as_view(), name="docs"),
]
