"""Publishes a new version of a dataset from the shell, e.g. from cron on the storage
host once new data has landed:

    manage.py publish_dataset demo-lab/ocean-temps --notes "March readings" \\
        --approve --approver grace

Submits the dataset's files as they are now (as --user, or as the system when no user
is given), optionally approves it as an engineer, then waits for the publish job with a
progress bar. Exits non-zero, with the job's error, when the job does not publish."""

import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets.changes import human_size
from datasets.models import Dataset, JobState, PublishJob
from datasets.selectors import is_engineer, role_in
from datasets.services.errors import ServiceError
from datasets.services.review import submission_approve, submission_submit


class Command(BaseCommand):
    help = (
        "Submits a new version of a dataset (id or owner/slug), optionally approves it, and "
        "waits for its publish job; exits non-zero when the job fails."
    )
    poll_seconds = 1.0

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="The dataset's id or owner/slug.")
        parser.add_argument("--notes", default="", help="Version notes (required after v1).")
        parser.add_argument(
            "--user", help="Submit as this member of the lab (default: Wharf itself)."
        )
        parser.add_argument(
            "--approve", action="store_true", help="Approve the version at once (an engineer)."
        )
        parser.add_argument(
            "--approver", help="The engineer who approves (default: --user when an engineer)."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="Seconds to wait for the job (default: the worker's longest publish).",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="Do not wait for the job to finish."
        )

    def handle(self, *args, **options):
        dataset = self.find_dataset(options["dataset"])
        user = self.find_user(options["user"]) if options["user"] else None
        if user is not None and role_in(user, dataset.lab) is None:
            raise CommandError(f"{user.username} is not a member of {dataset.lab.name}.")
        approver = None
        if options["approve"]:
            approver = self.find_user(options["approver"]) if options["approver"] else user
            if approver is None or not is_engineer(approver, dataset.lab):
                raise CommandError(
                    "--approve needs a data engineer of the lab: give --approver USERNAME "
                    "(or --user as an engineer)."
                )
        try:
            submission = submission_submit(
                dataset,
                actor=user,
                version_notes=options["notes"],
                system="" if user else "command",
            )
        except ServiceError as exc:
            raise CommandError(f"Not submitted: {exc.message}") from None
        self.stdout.write(
            f"Submitted version {submission.number} of {dataset.ref}: {submission.file_count} "
            f"file(s), {human_size(submission.total_bytes)}."
        )
        if approver is None:
            self.stdout.write("It waits for review by a data engineer of the lab.")
            return
        try:
            job = submission_approve(submission, actor=approver)
        except ServiceError as exc:
            raise CommandError(
                f"Version {submission.number} was submitted but not approved: {exc.message}"
            ) from None
        self.stdout.write(f"Approved by {approver.username}; publish job {job.pk} is queued.")
        if options["no_wait"]:
            return
        timeout = options["timeout"]
        if timeout is None:
            timeout = settings.PUBLISH_TIME_LIMIT + settings.KAGGLE_PROCESSING_DEADLINE
        job = self.wait(job, timeout)
        if job.state == JobState.PUBLISHED:
            self.stdout.write(
                self.style.SUCCESS(f"Published version {job.kaggle_version}: {job.kaggle_url}")
            )
        elif job.state == JobState.SKIPPED:
            self.stdout.write(
                self.style.WARNING("Nothing changed since the last published version: skipped.")
            )
        else:
            detail = f"{job.error_code}: {job.error_message}" if job.error_code else job.state
            raise CommandError(f"Publish job {job.pk} {job.state}. {detail}")

    def find_dataset(self, ref: str) -> Dataset:
        query = {"pk": int(ref)} if ref.isdigit() else None
        if query is None:
            owner, _, slug = ref.partition("/")
            if not owner or not slug:
                raise CommandError("Give the dataset's id or owner/slug, e.g. demo-lab/ocean.")
            query = {"owner_slug": owner, "slug": slug}
        try:
            return Dataset.objects.select_related("lab").get(**query)
        except Dataset.DoesNotExist:
            raise CommandError(f"No dataset {ref} in Wharf.") from None

    def find_user(self, username: str):
        try:
            return get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {username}.") from None

    def pause(self) -> None:
        time.sleep(self.poll_seconds)

    def wait(self, job: PublishJob, timeout: float) -> PublishJob:
        deadline = time.monotonic() + timeout
        stream = getattr(self.stderr, "_out", sys.stderr)
        with tqdm(
            total=None, unit="B", unit_scale=True, unit_divisor=1024, file=stream,
            desc=f"job {job.pk}", dynamic_ncols=True,
        ) as bar:  # fmt: skip
            while True:
                job.refresh_from_db()
                if job.bytes_total and bar.total != job.bytes_total:
                    bar.total = job.bytes_total
                bar.n = min(job.bytes_done, job.bytes_total or job.bytes_done)
                bar.set_postfix_str(job.state, refresh=False)
                bar.refresh()
                if job.state in JobState.final():
                    return job
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"Gave up waiting after {timeout:g} s: publish job {job.pk} is still "
                        f"{job.state}. It goes on without this command."
                    )
                self.pause()
