"""A realistic, deterministic volume of history for performance work (bench/web, the
query-count tests): labs with years of datasets, submissions, jobs and events.

    manage.py seed_volume                       # 10,000 datasets, 100,000 events, 2,000 jobs
    manage.py seed_volume --datasets 500 --events 5000 --jobs 200 --seed 7

Timestamps are spread over three years, so the seeded rows are written with their own
times (the models' auto_now fields are bypassed for the duration of the command)."""

import contextlib
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from datasets.models import (
    Dataset,
    DatasetStatus,
    Event,
    JobState,
    Lab,
    Membership,
    PublishJob,
    Role,
    Submission,
    SubmissionState,
)

BATCH = 2000
ACTIONS = [
    "dataset.updated", "file.added", "submission.submitted", "submission.commented",
    "submission.returned", "submission.approved", "job.queued", "job.staging.started",
    "job.uploading.started", "job.processing.started", "job.published", "job.failed",
]  # fmt: skip
ERRORS = ["kaggle_unavailable", "credentials_rejected", "source_changed", "timeout", "rejected"]


@contextlib.contextmanager
def own_timestamps(*models):
    """Lets bulk_create keep the given created/updated times."""
    fields = [
        f
        for m in models
        for f in m._meta.fields
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, now, now_add in saved:
            f.auto_now, f.auto_now_add = now, now_add


class Command(BaseCommand):
    help = "Seeds a large deterministic volume of datasets, jobs and events (not for production)."

    def add_arguments(self, parser):
        parser.add_argument("--datasets", type=int, default=10_000)
        parser.add_argument("--events", type=int, default=100_000)
        parser.add_argument("--jobs", type=int, default=2_000)
        parser.add_argument("--labs", type=int, default=8)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **opts):
        if Lab.objects.filter(slug__startswith="volume-").exists():
            raise CommandError(
                "Volume data is already seeded (labs volume-*); use a fresh database."
            )
        rng = random.Random(opts["seed"])
        self.quiet = opts["quiet"]
        now = timezone.now().replace(microsecond=0)
        start = now - timedelta(days=3 * 365)
        with transaction.atomic(), own_timestamps(Dataset, Submission, PublishJob, Event):
            labs, engineers = self._labs(opts["labs"])
            datasets = self._datasets(rng, labs, opts["datasets"], start, now)
            jobs = self._jobs(rng, datasets, engineers, opts["jobs"], start, now)
            self._events(rng, datasets, jobs, opts["events"], start, now)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(labs)} labs, {len(datasets)} datasets, {len(jobs)} jobs, "
                f"{opts['events']} events."
            )
        )

    def _progress(self, iterable, total, desc):
        return tqdm(iterable, total=total, desc=desc, disable=self.quiet, unit="rows")

    def _labs(self, n):
        users = get_user_model().objects
        labs, engineers = [], []
        for i in range(n):
            lab = Lab.objects.create(name=f"Volume Lab {i}", slug=f"volume-{i}")
            engineer = users.create_user(f"volume-engineer-{i}", f"e{i}@volume.example")
            researcher = users.create_user(f"volume-researcher-{i}", f"r{i}@volume.example")
            Membership.objects.create(user=engineer, lab=lab, role=Role.ENGINEER)
            Membership.objects.create(user=researcher, lab=lab, role=Role.RESEARCHER)
            labs.append(lab)
            engineers.append(engineer)
        return labs, engineers

    def _datasets(self, rng, labs, n, start, now):
        # Weights by status; a status added later (e.g. archived) is rare.
        weight_of = {"draft": 10, "in_review": 3, "returned": 2, "approved": 1,
                     "publishing": 1, "published": 20, "failed": 3}  # fmt: skip
        statuses = [s for s, _ in DatasetStatus.choices]
        weights = [weight_of.get(s, 1) for s in statuses]
        span = (now - start).total_seconds()
        rows = []
        for i in self._progress(range(n), n, "datasets"):
            created = start + timedelta(seconds=rng.random() * span * 0.9)
            status = rng.choices(statuses, weights)[0]
            rows.append(
                Dataset(
                    lab=labs[i % len(labs)],
                    owner_slug=f"volume-{i % len(labs)}",
                    slug=f"dataset-{i:06d}",
                    title=f"Dataset {i:06d} {rng.choice(['ocean', 'soil', 'cells', 'stars'])}",
                    subtitle="Seeded for performance measurements only",
                    license="CC-BY-4.0",
                    keywords=[rng.choice(["biology", "physics", "earth"])],
                    status=status,
                    latest_version=rng.randint(1, 12) if status == "published" else None,
                    created_at=created,
                    updated_at=created,
                )
            )
        return Dataset.objects.bulk_create(rows, batch_size=BATCH)

    def _jobs(self, rng, datasets, engineers, n, start, now):
        span = (now - start).total_seconds()
        chosen = rng.sample(datasets, min(n, len(datasets)))
        submissions = []
        for dataset in chosen:
            at = start + timedelta(seconds=rng.random() * span)
            submissions.append(
                Submission(
                    dataset=dataset,
                    number=dataset.latest_version or 1,
                    metadata={
                        "title": dataset.title,
                        "slug": dataset.slug,
                        "owner_slug": dataset.owner_slug,
                        "is_private": True,
                    },
                    files=[{"path": "data.csv", "kind": "file", "size": 1000}],
                    total_bytes=rng.randint(10**3, 10**10),
                    file_count=rng.randint(1, 40),
                    state=SubmissionState.APPROVED,
                    submitted_at=at,
                    reviewed_at=at + timedelta(hours=2),
                    reviewed_by=engineers[dataset.lab_id % len(engineers)],
                )
            )
        submissions = Submission.objects.bulk_create(submissions, batch_size=BATCH)
        jobs = []
        for submission in self._progress(submissions, len(submissions), "jobs"):
            state = rng.choices(
                [JobState.PUBLISHED, JobState.FAILED, JobState.SKIPPED, JobState.CANCELLED],
                [80, 14, 4, 2],
            )[0]
            created = submission.reviewed_at
            jobs.append(
                PublishJob(
                    dataset=submission.dataset,
                    submission=submission,
                    state=state,
                    error_code=rng.choice(ERRORS) if state == JobState.FAILED else "",
                    error_message="Seeded failure." if state == JobState.FAILED else "",
                    bytes_total=submission.total_bytes,
                    bytes_done=submission.total_bytes,
                    created_at=created,
                    started_at=created,
                    finished_at=created + timedelta(minutes=rng.randint(1, 90)),
                    kaggle_version=submission.number if state == JobState.PUBLISHED else None,
                    manifest=[{"path": "data.csv", "size": 1000, "sha256": "0" * 64}],
                )
            )
        return PublishJob.objects.bulk_create(jobs, batch_size=BATCH)

    def _events(self, rng, datasets, jobs, n, start, now):
        # Skewed: a few datasets carry a long history (10,000+ events each).
        busy = datasets[:3]
        per_busy = min(12_000, n // 4)
        plan = [(d, per_busy) for d in busy]
        rest = n - per_busy * len(busy)
        span = (now - start).total_seconds()
        rows, last = [], {}
        with self._progress(None, n, "events") as bar:
            for dataset, count in [*plan, (None, rest)]:
                for _ in range(count):
                    target = dataset or datasets[int(len(datasets) * rng.random() ** 2)]
                    at = start + timedelta(seconds=rng.random() * span)
                    action = rng.choice(ACTIONS)
                    rows.append(Event(lab_id=target.lab_id, dataset=target, action=action, at=at,
                                      dataset_ref=target.ref, data={"seeded": True}))  # fmt: skip
                    if target.pk not in last or last[target.pk][0] < at:
                        last[target.pk] = (at, action)
                    if len(rows) >= BATCH:
                        Event.objects.bulk_create(rows)
                        bar.update(len(rows))
                        rows = []
            Event.objects.bulk_create(rows)
            bar.update(len(rows))
        for dataset in datasets:
            if dataset.pk in last:
                dataset.last_event_at, dataset.last_event_action = last[dataset.pk]
                dataset.updated_at = max(dataset.updated_at, dataset.last_event_at)
        Dataset.objects.bulk_update(
            datasets, ["last_event_at", "last_event_action", "updated_at"], batch_size=BATCH
        )
