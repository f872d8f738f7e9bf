"""Celery tasks: thin wrappers that take ids and hand over to the code that does the work.
`job_*` tasks are routed to the `publish` queue (CELERY_TASK_ROUTES)."""

import logging
import socket

from celery import current_app, shared_task
from celery.signals import worker_process_init

log = logging.getLogger(__name__)


@worker_process_init.connect
def warm_kaggle_client(**_) -> None:
    """A process of a worker that takes publish jobs starts its spare Kaggle client at
    once (kaggle.prewarm): its first job then does not wait for the client's import
    either. Workers on other queues (-Q) keep none."""
    from django.conf import settings

    from datasets import kaggle

    publish_queue = settings.CELERY_TASK_ROUTES[settings.PUBLISH_TASKS]["queue"]
    consumed = current_app.amqp.queues.consume_from  # None: every queue
    if consumed is None or publish_queue in consumed:
        kaggle.prewarm()


@shared_task(bind=True, name="datasets.tasks.job_publish", acks_late=True)
def job_publish(self, job_id: int) -> str:
    from datasets.publishing import job_run

    worker = self.request.hostname or socket.gethostname()
    return job_run(job_id, task_id=self.request.id or "", worker=worker)


@shared_task(name="datasets.tasks.jobs_sweep", ignore_result=True)
def jobs_sweep() -> dict:
    """Every JOB_SWEEP_SECONDS (beat): recover jobs whose worker died, resend forgotten
    ones, and remove staging folders that are no longer needed."""
    from datasets.publishing import staging_cleanup
    from datasets.services.jobs import jobs_sweep as sweep
    from datasets.uploads_tus import tus_sweep

    counts = sweep()
    counts["staging_removed"] = staging_cleanup()
    counts["tus_expired"] = tus_sweep()  # browser uploads abandoned past their expiry
    if any(counts.values()):
        log.info("jobs sweep: %s", counts)
    return counts


# --- continuous data (datasets/services/continuous.py, webhooks.py) -----------------


@shared_task(name="datasets.tasks.dataset_check_changes", ignore_result=True)
def dataset_check_changes(dataset_id: int, manual: bool = False) -> str:
    """A dataset's schedule (a django-celery-beat PeriodicTask) runs this."""
    from datasets.services.continuous import dataset_check_changes as check

    return check(dataset_id, manual=manual)


@shared_task(name="datasets.tasks.submission_auto_approve", ignore_result=True)
def submission_auto_approve(submission_id: int, attempt: int = 1) -> str:
    """Asks again whether the content scan cleared a version the policy approves."""
    from datasets.services.continuous import auto_approve_recheck

    return auto_approve_recheck(submission_id, attempt)


@shared_task(
    name="datasets.tasks.webhook_deliver", ignore_result=True, soft_time_limit=120, time_limit=150
)
def webhook_deliver(delivery_id: int) -> None:
    """One attempt of a webhook delivery; the service schedules the next with backoff."""
    from datasets.services.deliveries import webhook_attempt

    webhook_attempt(delivery_id)


@shared_task(name="datasets.tasks.webhook_deliveries_sweep", ignore_result=True)
def webhook_deliveries_sweep() -> dict:
    """Every few minutes (beat): resend deliveries the broker lost, prune old logs."""
    from datasets.services.deliveries import webhook_deliveries_sweep as sweep

    return sweep()


@shared_task(
    name="datasets.tasks.scan_submission",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3600,
    time_limit=3660,
)
def scan_submission(submission_id: int) -> str:
    """Scans a submitted version's files for personal data (issue 9). Safe to run twice:
    a finished scan is left alone."""
    from datasets.services.scans import scan_run

    return scan_run(submission_id)


# --- what is on Kaggle outside a publish job (datasets/services/lifecycle.py) ----------


@shared_task(name="datasets.tasks.dataset_make_public", acks_late=True, ignore_result=True)
def dataset_make_public(dataset_id: int) -> str:
    """An engineer's confirmed request: UpdateDatasetMetadata with isPrivate false."""
    from datasets.services.lifecycle import dataset_make_public_run

    return dataset_make_public_run(dataset_id)


@shared_task(name="datasets.tasks.dataset_remove_from_kaggle", acks_late=True, ignore_result=True)
def dataset_remove_from_kaggle(dataset_id: int) -> str:
    """An engineer's confirmed request: DeleteDataset, then the dataset is archived."""
    from datasets.services.lifecycle import dataset_remove_from_kaggle_run

    return dataset_remove_from_kaggle_run(dataset_id)


@shared_task(name="datasets.tasks.datasets_watch", ignore_result=True)
def datasets_watch() -> dict:
    """Beat (WHARF_WATCH_INTERVAL, daily by default): reads every published dataset back
    from Kaggle and records what changed outside Wharf."""
    from datasets.services.lifecycle import datasets_watch as watch

    counts = watch()
    log.info("watch: %s", counts)
    return counts


@shared_task(
    name="datasets.tasks.check_submission_data",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3600,
    time_limit=3660,
)
def check_submission_data(submission_id: int) -> str:
    """Frictionless data checks of a submitted version's tabular files (issue 19)."""
    from datasets.services.data_checks import data_checks_run

    return data_checks_run(submission_id)


@shared_task(name="datasets.tasks.kaggle_requests_sweep", ignore_result=True)
def kaggle_requests_sweep() -> int:
    """Every few minutes (beat): sends again a make-public or removal request whose task
    never reported."""
    from datasets.services.lifecycle import requests_resend

    return requests_resend()
