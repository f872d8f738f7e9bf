"""A publish job's page (live while it runs), and the engineers' cancel and retry."""

from django.urls import reverse
from django.views.generic import DetailView

from datasets.models import Event, PublishJob
from datasets.selectors import is_engineer
from datasets.services import jobs

from .mixins import LabScopedMixin, ServiceActionView


class JobDetailView(LabScopedMixin, DetailView):
    model = PublishJob
    lab_path = "dataset__lab"
    template_name = "datasets/publishjob_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("dataset", "submission", "created_by")

    def get_template_names(self):
        # htmx polls the live part only.
        if self.request.headers.get("HX-Request"):
            return ["datasets/includes/job_live.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        job = self.object
        kwargs.update(
            dataset=job.dataset,
            events=Event.objects.filter(job=job).select_related("actor").order_by("at", "id"),
            can_manage=is_engineer(self.request.user, job.dataset.lab),
        )
        return super().get_context_data(**kwargs)


class JobCancelView(ServiceActionView):
    model = PublishJob
    lab_path = "dataset__lab"
    engineer_only = True
    engineer_what = "cancel publishing"

    def perform(self, job):
        return jobs.job_cancel(job, actor=self.request.user)

    def success_message(self, job, result) -> str:
        if result.state == "cancelled":
            return "The job was cancelled."
        return "Cancel requested: the worker stops at its next safe point."

    def get_success_url(self):
        return reverse("datasets:job_detail", args=[self.object.pk])


class JobRetryView(ServiceActionView):
    model = PublishJob
    lab_path = "dataset__lab"
    engineer_only = True
    engineer_what = "retry publishing"

    def perform(self, job):
        self.new_job = jobs.job_retry(
            job, actor=self.request.user, force=self.request.POST.get("force") == "1"
        )
        return self.new_job

    def success_message(self, job, result) -> str:
        return f"Job {result.pk} is queued."

    def get_success_url(self):
        job = getattr(self, "new_job", None) or self.object
        return reverse("datasets:job_detail", args=[job.pk])
