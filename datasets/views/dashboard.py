"""The home page (what each person has on their plate) and the engineers' dashboard:
what waits for them, what runs, what failed, and how much the lab publishes. A fixed
handful of queries whatever the volume."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.views.generic import TemplateView

from datasets.models import JobState, Submission, SubmissionState
from datasets.selectors import (
    datasets_for,
    drift_recent,
    jobs_for,
    labs_where_engineer,
    memberships_of,
    review_queue,
)

from .mixins import MemberRequiredMixin

WEEKS = 12
HOME_ROWS = 8


class HomeView(TemplateView):
    """Logged out: what Wharf is. Logged in: my datasets and where each stands, my
    versions waiting for review or returned to me, (engineers) the review queue and
    the running jobs, and what my labs published lately."""

    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if not user.is_authenticated:
            return context
        engineer_labs = labs_where_engineer(user)
        is_engineer = user.is_superuser or engineer_labs.exists()
        mine = datasets_for(user).filter(created_by=user).order_by("-last_event_at", "-id")
        # A returned version counts only while no newer version of its dataset exists.
        submissions = (
            Submission.objects.filter(
                submitted_by=user,
                state__in=[SubmissionState.PENDING_REVIEW, SubmissionState.RETURNED],
                dataset__in=datasets_for(user),
            )
            .select_related("dataset", "reviewed_by")
            .order_by("-submitted_at", "-id")
        )
        latest = {}
        for submission in Submission.objects.filter(
            dataset__in={s.dataset_id for s in submissions}
        ).values("dataset_id", "number"):
            latest[submission["dataset_id"]] = max(
                latest.get(submission["dataset_id"], 0), submission["number"]
            )
        waiting = [s for s in submissions if s.number == latest.get(s.dataset_id)]
        context.update(
            memberships=memberships_of(user),
            is_engineer=is_engineer,
            my_datasets=list(mine[:HOME_ROWS]),
            my_dataset_count=mine.count(),
            my_waiting=[s for s in waiting if s.state == SubmissionState.PENDING_REVIEW],
            my_returned=[s for s in waiting if s.state == SubmissionState.RETURNED],
            recent_published=list(
                jobs_for(user)
                .filter(state=JobState.PUBLISHED)
                .select_related("dataset__lab")
                .order_by("-finished_at", "-id")[:HOME_ROWS]
            ),
        )
        if is_engineer:
            queue = review_queue(user)
            context.update(
                queue=list(queue[:HOME_ROWS]),
                queue_count=queue.count(),
                running=list(
                    jobs_for(user)
                    .filter(dataset__lab__in=engineer_labs, state__in=JobState.active())
                    .select_related("dataset")
                    .order_by("created_at")[:HOME_ROWS]
                ),
            )
        return context


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
            drift=drift_recent(labs_where_engineer(user), now - timedelta(days=30)),
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


class WorkersPanelView(MemberRequiredMixin, TemplateView):
    """htmx: the dashboard's workers panel, from the readiness check (a worker on each
    queue). Its own request: the check waits up to a second for workers to answer."""

    template_name = "datasets/includes/workers_panel.html"

    def get_context_data(self, **kwargs):
        from portal.health import readiness_report

        report, ready = readiness_report()
        kwargs.update(report=report, ready=ready)
        return super().get_context_data(**kwargs)
