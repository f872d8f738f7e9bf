from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response

from datasets.api.permissions import IsLabEngineer
from datasets.api.serializers import (
    ApprovalSerializer,
    ApproveSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    ReturnSerializer,
    SubmissionDetailSerializer,
    SubmissionFilterSerializer,
    SubmissionSerializer,
    SubmitSerializer,
)
from datasets.models import SubmissionState
from datasets.services.review import (
    comment_add,
    submission_approve,
    submission_return,
    submission_submit,
    submission_withdraw,
)

from .base import ScopedAPIView


class DatasetSubmissionListView(ScopedAPIView):
    """A dataset's submitted versions, newest first; POST submits the next version."""

    serializer_class = SubmissionSerializer

    @extend_schema(responses=SubmissionSerializer(many=True))
    def get(self, request, pk):
        dataset = self.get_dataset(pk)
        submissions = self.submissions().filter(dataset=dataset).order_by("-submitted_at", "-id")
        page = self.paginate_queryset(submissions)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=SubmitSerializer, responses={201: SubmissionDetailSerializer})
    def post(self, request, pk):
        dataset = self.get_dataset(pk)
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = submission_submit(
            dataset,
            actor=request.user,
            version_notes=serializer.validated_data.get("version_notes", ""),
            delete_old_versions=serializer.validated_data["delete_old_versions"],
        )
        return Response(self.detail(submission.pk), status=status.HTTP_201_CREATED)

    def detail(self, pk):
        return SubmissionDetailSerializer(
            self.get_submission(pk), context=self.get_serializer_context()
        ).data


class SubmissionListView(ScopedAPIView):
    """Submissions of your labs. `?state=pending_review` is the review queue, oldest first."""

    serializer_class = SubmissionSerializer

    @extend_schema(
        parameters=[SubmissionFilterSerializer], responses=SubmissionSerializer(many=True)
    )
    def get(self, request):
        filters = self.query(SubmissionFilterSerializer)
        self.check_lab_filter(filters.get("lab"))
        self.check_dataset_filter(filters.get("dataset"))
        submissions = self.submissions()
        if "lab" in filters:
            submissions = submissions.filter(dataset__lab_id=filters["lab"])
        if "dataset" in filters:
            submissions = submissions.filter(dataset_id=filters["dataset"])
        if "state" in filters:
            submissions = submissions.filter(state=filters["state"])
        if filters.get("state") == SubmissionState.PENDING_REVIEW:
            submissions = submissions.order_by("submitted_at", "id")
        else:
            submissions = submissions.order_by("-submitted_at", "-id")
        page = self.paginate_queryset(submissions)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class SubmissionDetailView(ScopedAPIView):
    """One submission with its frozen metadata, the diff against the last published
    version, the content scan and the comments."""

    serializer_class = SubmissionDetailSerializer

    def get(self, request, pk):
        return Response(self.get_serializer(self.get_submission(pk)).data)


class SubmissionActionView(ScopedAPIView):
    serializer_class = SubmissionDetailSerializer

    def answer(self, pk, serializer_class=SubmissionDetailSerializer, **extra):
        submission = self.get_submission(pk)
        for name, value in extra.items():
            setattr(submission, name, value)
        return Response(serializer_class(submission, context=self.get_serializer_context()).data)


class EngineerActionView(SubmissionActionView):
    # A researcher is refused (403) before the body is looked at, not told it is invalid.
    permission_classes = [permissions.IsAuthenticated, IsLabEngineer]

    def get_engineers_submission(self, pk):
        submission = self.get_submission(pk)
        self.check_object_permissions(self.request, submission)
        return submission


class SubmissionApproveView(EngineerActionView):
    """Approves the submission and creates its publish job. Data engineers only."""

    @extend_schema(request=ApproveSerializer, responses=ApprovalSerializer)
    def post(self, request, pk):
        submission = self.get_engineers_submission(pk)
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = submission_approve(submission, actor=request.user, **serializer.validated_data)
        return self.answer(pk, ApprovalSerializer, job=job.pk)


class SubmissionReturnView(EngineerActionView):
    """Returns the submission to the researcher with a reason. Data engineers only."""

    @extend_schema(request=ReturnSerializer, responses=SubmissionDetailSerializer)
    def post(self, request, pk):
        submission = self.get_engineers_submission(pk)
        serializer = ReturnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission_return(
            submission, actor=request.user, reason=serializer.validated_data["reason"]
        )
        return self.answer(pk)


class SubmissionWithdrawView(SubmissionActionView):
    """Withdraws the submission before it is reviewed. The researcher who submitted it."""

    @extend_schema(request=None, responses=SubmissionDetailSerializer)
    def post(self, request, pk):
        submission_withdraw(self.get_submission(pk), actor=request.user)
        return self.answer(pk)


class SubmissionCommentListView(ScopedAPIView):
    """The comment thread on a submission, oldest first."""

    serializer_class = CommentSerializer
    pagination_class = None

    @extend_schema(responses=CommentSerializer(many=True))
    def get(self, request, pk):
        submission = self.get_submission(pk)
        return Response(
            self.get_serializer(submission.comments.select_related("author"), many=True).data
        )

    @extend_schema(request=CommentCreateSerializer, responses={201: CommentSerializer})
    def post(self, request, pk):
        submission = self.get_submission(pk)
        serializer = CommentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comment = comment_add(
            submission, actor=request.user, text=serializer.validated_data["text"]
        )
        return Response(self.get_serializer(comment).data, status=status.HTTP_201_CREATED)
