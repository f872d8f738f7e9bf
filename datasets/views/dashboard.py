"""The engineers' dashboard: what waits for them, what runs, what failed, and how much
the lab publishes. A fixed handful of queries whatever the volume."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.views.generic import TemplateView

from datasets.models import JobState
from datasets.selectors import jobs_for, labs_where_engineer, review_queue

from .mixins import MemberRequiredMixin

WEEKS = 12


class DashboardView(MemberRequiredMixin, TemplateView):
    template_name = "datasets/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        now = timezone.now()
        queue = review_queue(user).aggregate(count=Count("id"), oldest=Min("submitted_at"))
        jobs = jobs_for(user).filter(dataset__lab__in=labs_where_engineer(user))
        running = list(jobs.filter(state__in=JobState.active()).order_by("created_at")[:20])
        stale = now - timedelta(seconds=settings.JOB_STALE_AFTER)
        slow_processing = now - timedelta(minutes=30)
        for job in running:
            job.stuck = (job.state in JobState.running() and job.heartbeat_at
                         and job.heartbeat_at < stale)  # fmt: skip
            started = (job.phases or {}).get(JobState.PROCESSING, {}).get("started")
            job.waiting_on_kaggle = bool(
                job.state == JobState.PROCESSING
                and started
                and started < slow_processing.isoformat()
            )
        week_ago = now - timedelta(days=7)
        failures = list(
            jobs.filter(state=JobState.FAILED, finished_at__gte=week_ago).order_by(
                "-finished_at", "-id"
            )[:20]
        )
        failure_codes = (
            jobs.filter(state=JobState.FAILED, finished_at__gte=week_ago)
            .values("error_code")
            .annotate(n=Count("id"))
            .order_by("-n", "error_code")
        )
        kwargs.update(
            queue_count=queue["count"],
            queue_oldest=queue["oldest"],
            running=running,
            failures=failures,
            failure_codes=list(failure_codes),
            weeks=self._per_week(jobs, now),
        )
        return super().get_context_data(**kwargs)

    def _per_week(self, jobs, now) -> list[dict]:
        start = (now - timedelta(weeks=WEEKS - 1)).date()
        start -= timedelta(days=start.weekday())
        counts = {
            row["week"].date() if hasattr(row["week"], "date") else row["week"]: row["n"]
            for row in jobs.filter(state=JobState.PUBLISHED, finished_at__date__gte=start)
            .annotate(week=TruncWeek("finished_at"))
            .values("week")
            .annotate(n=Count("id"))
            .order_by()
        }
        top = max(counts.values(), default=0) or 1
        weeks = []
        for i in range(WEEKS):
            week = start + timedelta(weeks=i)
            n = counts.get(week, 0)
            height = round(80 * n / top)
            weeks.append({"week": week, "n": n, "x": i * 40 + 10, "h": height, "y": 90 - height})
        return weeks
