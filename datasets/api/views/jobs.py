from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response

from datasets.api.permissions import IsLabEngineer
from datasets.api.serializers import JobFilterSerializer, JobRetrySerializer, JobSerializer
from datasets.selectors import jobs_for

from .base import ScopedAPIView


class JobListView(ScopedAPIView):
    """Publish history of your labs, newest first."""

    serializer_class = JobSerializer

    @extend_schema(parameters=[JobFilterSerializer], responses=JobSerializer(many=True))
    def get(self, request):
        filters = self.query(JobFilterSerializer)
        self.check_lab_filter(filters.get("lab"))
        self.check_dataset_filter(filters.get("dataset"))
        jobs = jobs_for(request.user).select_related("created_by")
        if "dataset" in filters:
            jobs = jobs.filter(dataset_id=filters["dataset"])
        if "lab" in filters:
            jobs = jobs.filter(dataset__lab_id=filters["lab"])
        if "state" in filters:
            jobs = jobs.filter(state=filters["state"])
        page = self.paginate_queryset(jobs.order_by("-created_at", "-id"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class JobDetailView(ScopedAPIView):
    """One publish attempt: its state, progress, what Kaggle answered and the manifest."""

    serializer_class = JobSerializer

    def get(self, request, pk):
        return Response(self.get_serializer(self.get_job(pk)).data)


class JobActionView(ScopedAPIView):
    serializer_class = JobSerializer
    permission_classes = [permissions.IsAuthenticated, IsLabEngineer]

    def get_engineers_job(self, pk):
        job = self.get_job(pk)
        self.check_object_permissions(self.request, job)
        return job


class JobCancelView(JobActionView):
    """Cancels a queued or running job. Data engineers only."""

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk):
        from datasets.services.jobs import job_cancel

        job_cancel(self.get_engineers_job(pk), actor=request.user)
        return Response(self.get_serializer(self.get_job(pk)).data)


class JobRetryView(JobActionView):
    """Publishes the same approved submission again as a new job. Data engineers only."""

    @extend_schema(request=JobRetrySerializer, responses={201: JobSerializer})
    def post(self, request, pk):
        from datasets.services.jobs import job_retry

        job = self.get_engineers_job(pk)
        serializer = JobRetrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new_job = job_retry(job, actor=request.user, force=serializer.validated_data["force"])
        return Response(
            self.get_serializer(self.get_job(new_job.pk)).data, status=status.HTTP_201_CREATED
        )
