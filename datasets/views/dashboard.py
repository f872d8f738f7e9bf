"""The home page (what each person has on their plate) and the engineers' dashboard:
what waits for them, what runs, what failed, and how much the lab publishes. A fixed
handful of queries whatever the volume."""

from datetime import timedelta

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    When,
    Window,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.views.generic import TemplateView

from datasets.models import JobState, Submission, SubmissionState
from datasets.selectors import (
    access_of,
    datasets_for,
    drift_recent,
    jobs_for,
    memberships_of,
)

from .mixins import MemberRequiredMixin

WEEKS = 12
# Rows per list on the dashboard (running jobs, recent failures).
LISTED = 20
HOME_ROWS = 8


class HomeView(TemplateView):
    """Logged out: what Wharf is. Logged in: my datasets and where each stands, my
    versions waiting for review or returned to me, (engineers) the review queue and
    the running jobs, and what my labs published lately. Three queries of its own: my
    datasets (with their count), the versions (mine and the queue's), the jobs (running
    and recently published)."""

    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if not user.is_authenticated:
            return context
        access = access_of(user)
        is_engineer = user.is_superuser or access.is_engineer_anywhere
        mine = list(
            datasets_for(user)
            .filter(created_by=user)
            .annotate(total=Window(Count("id")))
            .order_by("-last_event_at", "-id")[:HOME_ROWS]
        )
        waiting, queue = self._versions(user, access, is_engineer)
        running, published = self._jobs(user, access, is_engineer)
        context.update(
            # (A superuser's access is every lab: their own memberships are read apart.)
            memberships=memberships_of(user) if user.is_superuser else access.labs,
            is_engineer=is_engineer,
            my_datasets=mine,
            my_dataset_count=mine[0].total if mine else 0,
            my_waiting=[s for s in waiting if s.state == SubmissionState.PENDING_REVIEW],
            my_returned=[s for s in waiting if s.state == SubmissionState.RETURNED],
            recent_published=published,
        )
        if is_engineer:
            context.update(queue=queue, queue_count=access.pending_reviews, running=running)
        return context

    def _versions(self, user, access, is_engineer) -> tuple[list, list]:
        """My versions waiting for review or returned to me (a returned one only while no
        newer version of its dataset exists), newest first; and the review queue's
        HOME_ROWS oldest: one query."""
        mine = Q(
            submitted_by=user,
            state__in=[SubmissionState.PENDING_REVIEW, SubmissionState.RETURNED],
        )
        queue = Q(state=SubmissionState.PENDING_REVIEW)
        if not user.is_superuser:
            mine &= Q(dataset__lab_id__in=access.lab_ids)
            queue &= Q(dataset__lab_id__in=access.engineer_lab_ids)
        wanted = mine
        if is_engineer:
            wanted |= Q(pk__in=first_ids(Submission.objects.filter(queue), "submitted_at", "id"))
        newer = Submission.objects.filter(
            dataset=OuterRef("dataset"), number__gt=OuterRef("number")
        )
        rows = list(
            Submission.objects.filter(wanted)
            .annotate(latest=~Exists(newer))
            .select_related("dataset__lab", "submitted_by", "reviewed_by")
            .defer(*UNSHOWN_SUBMISSION_FIELDS)
            .order_by("submitted_at", "id")
        )
        waiting = [
            s for s in reversed(rows) if s.latest and s.submitted_by_id == user.pk
            and s.state in (SubmissionState.PENDING_REVIEW, SubmissionState.RETURNED)
        ]  # fmt: skip
        # The queue's first rows are all here (and, at most, later ones of mine).
        pending = [s for s in rows if s.state == SubmissionState.PENDING_REVIEW and (
            user.is_superuser or s.dataset.lab_id in access.engineer_lab_ids)]  # fmt: skip
        return waiting, pending[:HOME_ROWS]

    def _jobs(self, user, access, is_engineer) -> tuple[list, list]:
        """The HOME_ROWS oldest active jobs of the labs where I review and the HOME_ROWS
        newest published ones of my labs, in one query."""
        jobs = jobs_for(user).select_related(None)
        wanted = Q(pk__in=first_ids(jobs.filter(state=JobState.PUBLISHED), "-finished_at", "-id"))
        if is_engineer:
            active = jobs.filter(state__in=JobState.active())
            if not user.is_superuser:
                active = active.filter(dataset__lab_id__in=access.engineer_lab_ids)
            wanted |= Q(pk__in=first_ids(active, "created_at", "id"))
        rows = list(
            # (Scoped again: it leads PostgreSQL to the lab's datasets, not all of them.)
            jobs.filter(wanted)
            .select_related("dataset__lab")
            .only(*HOME_JOB_FIELDS)
            .order_by("created_at", "id")
        )
        published = [j for j in rows if j.state == JobState.PUBLISHED]
        published.sort(key=lambda j: (j.finished_at, j.pk), reverse=True)
        return [j for j in rows if j.state != JobState.PUBLISHED], published


def first_ids(queryset, *order, n: int = HOME_ROWS) -> Subquery:
    """The ids of the queryset's first n rows in that order, as a subquery: lists of
    several kinds come back in one query (`pk IN (first ids) OR pk IN (...)`), each kind
    cut to its own first rows by the database (cheaper to build than a window ranking,
    which the ORM wraps in a query of its own)."""
    return Subquery(queryset.order_by(*order).values("pk")[:n])


# What the dashboard's job lists show (the manifests and upload sessions stay in the
# database).
DASHBOARD_JOB_FIELDS = (
    "state", "error_code", "error_message", "bytes_done", "bytes_total", "heartbeat_at",
    "phases", "created_at", "finished_at", "kaggle_version", "plan", "differences",
    "dataset__title", "submission__number",
)  # fmt: skip
# What the home page shows of a version and of a job: the frozen metadata, file lists and
# manifests stay in the database.
UNSHOWN_SUBMISSION_FIELDS = ("metadata", "files", "data_checks")
HOME_JOB_FIELDS = (
    "state", "kaggle_version", "created_at", "finished_at", "dataset__title", "dataset__lab__name",
)  # fmt: skip


class DashboardView(MemberRequiredMixin, TemplateView):
    """Three queries of its own whatever the volume: the listed jobs (running and recent
    failures, one query), the counts (published per week and failures per code,
    one GROUP BY), and the drift; the review queue's count comes with the user's access."""

    template_name = "datasets/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        now = timezone.now()
        access = access_of(user)
        jobs = jobs_for(user).filter(dataset__lab__in=access.engineer_lab_ids)
        week_ago = now - timedelta(days=7)
        listed = jobs.select_related(None).select_related("dataset", "submission")
        running, failures = self._listed(listed.only(*DASHBOARD_JOB_FIELDS), week_ago)
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
        each kind's ids cut to its first LISTED by the database."""
        active = jobs.filter(state__in=JobState.active())
        failed = jobs.filter(state=JobState.FAILED, finished_at__gte=week_ago)
        rows = list(
            jobs.filter(
                Q(pk__in=first_ids(active, "created_at", "-id", n=LISTED))
                | Q(pk__in=first_ids(failed, "-finished_at", "-id", n=LISTED))
            ).order_by("created_at", "-id")
        )
        failures = [j for j in rows if j.state == JobState.FAILED]
        failures.sort(key=lambda j: (j.finished_at, j.pk), reverse=True)
        return [j for j in rows if j.state != JobState.FAILED], failures

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
