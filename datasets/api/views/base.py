from django.shortcuts import get_object_or_404
from rest_framework import generics
from rest_framework.exceptions import NotFound

from datasets.models import Submission
from datasets.selectors import datasets_for, jobs_for, labs_of, scope_to_user


class ScopedAPIView(generics.GenericAPIView):
    # Looks objects up only among the user's labs, so others' ids are simply not found.
    # (A comment, not a docstring: the schema would show it for every endpoint.)

    def get_dataset(self, pk):
        return get_object_or_404(datasets_for(self.request.user), pk=pk)

    def submissions(self):
        return scope_to_user(
            Submission.objects.select_related("dataset__lab", "submitted_by", "reviewed_by"),
            self.request.user,
            "dataset__lab",
        )

    def get_submission(self, pk):
        return get_object_or_404(self.submissions().prefetch_related("comments__author"), pk=pk)

    def get_job(self, pk):
        return get_object_or_404(
            jobs_for(self.request.user).select_related("dataset__lab", "created_by"), pk=pk
        )

    def query(self, serializer_class) -> dict:
        """The validated query string: bad filter values answer 400, not a 500."""
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def check_lab_filter(self, lab_id):
        if lab_id is not None and not labs_of(self.request.user).filter(pk=lab_id).exists():
            raise NotFound("No such lab among yours.")

    def check_dataset_filter(self, dataset_id):
        if dataset_id is not None:
            self.get_dataset(dataset_id)
