"""The home page (what each person has on their plate) and the engineers' dashboard:
what waits for them, what runs, what failed, and how much the lab publishes. A fixed
handful of queries whatever the volume."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, Count, F, IntegerField, Q, Value, When, Window
from django.db.models.functions import RowNumber, TruncWeek
from django.utils import timezone
from django.views.generic import TemplateView

from datasets.models import JobState, Submission, SubmissionState
from datasets.selectors import (
    access_of,
    datasets_for,
    drift_recent,
    jobs_for,
    memberships_of,
    review_queue,
)

from .mixins import MemberRequiredMixin

WEEKS = 12
# Rows per list on the dashboard (running jobs, recent failures).
LISTED = 20
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
        access = access_of(user)
        engineer_labs = access.engineer_lab_ids
        is_engineer = user.is_superuser or access.is_engineer_anywhere
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
            # (A superuser's access is every lab: their own memberships are read apart.)
            memberships=memberships_of(user) if user.is_superuser else access.labs,
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
                queue_count=access.pending_reviews,
                running=list(
                    jobs_for(user)
                    .filter(dataset__lab__in=engineer_labs, state__in=JobState.active())
                    .select_related("dataset")
                    .order_by("created_at")[:HOME_ROWS]
                ),
            )
        return context


class DashboardView(MemberRequiredMixin, TemplateView):
    """Three queries of its own whatever the volume: the listed jobs (running and recent
    failures, one window query), the counts (published per week and failures per code,
    one GROUP BY), and the drift; the review queue's count comes with the user's access."""

    template_name = "datasets/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        now = timezone.now()
        access = access_of(user)
        jobs = jobs_for(user).filter(dataset__lab__in=access.engineer_lab_ids)
        week_ago = now - timedelta(days=7)
        running, failures = self._listed(jobs, week_ago)
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
        weeks, failure_codes = self._counts(jobs, now, week_ago)
        kwargs.update(
            queue_count=access.pending_reviews,
            queue_oldest=access.oldest_pending,
            running=running,
            failures=failures,
            failure_codes=failure_codes,
            failure_total=sum(row["n"] for row in failure_codes),
            weeks=weeks,
            drift=drift_recent(access.engineer_lab_ids, now - timedelta(days=30)),
        )
        return super().get_context_data(**kwargs)

    def _listed(self, jobs, week_ago) -> tuple[list, list]:
        """The 20 oldest active jobs and the 20 newest failures of the week, in one query:
        each row is ranked within its group and only the first LISTED of each come back."""
        active = Q(state__in=JobState.active())
        failed = Q(state=JobState.FAILED, finished_at__gte=week_ago)
        group = Case(When(active, then=Value(0)), default=Value(1), output_field=IntegerField())
        rows = list(
            jobs.filter(active | failed)
            .annotate(
                group=group,
                rank=Window(
                    RowNumber(),
                    partition_by=[group],
                    order_by=[
                        Case(When(active, then=F("created_at"))).asc(),
                        Case(When(failed, then=F("finished_at"))).desc(),
                        F("id").desc(),
                    ],
                ),
            )
            .filter(rank__lte=LISTED)
            .order_by("group", "rank")
        )
        return [j for j in rows if j.group == 0], [j for j in rows if j.group == 1]

    def _counts(self, jobs, now, week_ago) -> tuple[list[dict], list[dict]]:
        """Published per week (the chart) and the week's failures per error code, from one
        GROUP BY over both."""
        start = (now - timedelta(weeks=WEEKS - 1)).date()
        start -= timedelta(days=start.weekday())
        published = Q(state=JobState.PUBLISHED, finished_at__date__gte=start)
        failed = Q(state=JobState.FAILED, finished_at__gte=week_ago)
        rows = (
            jobs.filter(published | failed)
            .annotate(
                week=Case(When(published, then=TruncWeek("finished_at"))),
                code=Case(When(failed, then=F("error_code"))),
            )
            .values("state", "week", "code")
            .annotate(n=Count("id"))
            .order_by()
        )
        counts, codes = {}, {}
        for row in rows:
            if row["state"] == JobState.PUBLISHED:
                week = row["week"].date() if hasattr(row["week"], "date") else row["week"]
                counts[week] = counts.get(week, 0) + row["n"]
            else:
                codes[row["code"]] = codes.get(row["code"], 0) + row["n"]
        top = max(counts.values(), default=0) or 1
        weeks = []
        for i in range(WEEKS):
            week = start + timedelta(weeks=i)
            n = counts.get(week, 0)
            height = round(80 * n / top)
            weeks.append({"week": week, "n": n, "x": i * 40 + 10, "h": height, "y": 90 - height})
        failure_codes = [
            {"error_code": code, "n": n}
            for code, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0] or ""))
        ]
        return weeks, failure_codes


class WorkersPanelView(MemberRequiredMixin, TemplateView):
    """htmx: the dashboard's workers panel, from the readiness check (a worker on each
    queue). Its own request: the check waits up to a second for workers to answer."""

    template_name = "datasets/includes/workers_panel.html"

    def get_context_data(self, **kwargs):
        from portal.health import readiness_report

        report, ready = readiness_report()
        kwargs.update(report=report, ready=ready)
        return super().get_context_data(**kwargs)
