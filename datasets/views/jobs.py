"""A publish job's page (live while it runs), and the engineers' cancel and retry."""

from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView

from datasets.models import Event, JobState, PublishJob
from datasets.selectors import is_engineer
from datasets.services import jobs

from .mixins import LabScopedMixin, ServiceActionView


def phase_rows(job: PublishJob) -> list[dict]:
    """Each phase the job went through, with its start and duration (so far)."""
    rows = []
    for state in JobState.running():
        times = (job.phases or {}).get(state)
        if not times:
            continue
        started = datetime.fromisoformat(times["started"])
        ended = datetime.fromisoformat(times["ended"]) if times.get("ended") else None
        running = ended is None and job.state == state
        end = ended or (timezone.now() if running else job.finished_at)
        rows.append(
            {
                "state": state,
                "label": JobState(state).label,
                "started": started,
                "seconds": (end - started).total_seconds() if end else None,
                "running": running,
            }
        )
    return rows


class JobDetailView(LabScopedMixin, DetailView):
    model = PublishJob
    lab_path = "dataset__lab"
    template_name = "datasets/publishjob_detail.html"
    context_object_name = "job"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("dataset__lab", "submission__reviewed_by", "created_by")
        )

    def get_template_names(self):
        # htmx polls the live part only.
        if self.request.headers.get("HX-Request"):
            return ["datasets/includes/job_live.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        job = self.object
        kwargs.update(
            phases=phase_rows(job),
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
        return (
            "Cancelling: the worker stops the upload within seconds; nothing is created on Kaggle."
        )

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
