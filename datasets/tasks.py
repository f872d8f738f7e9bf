"""Celery tasks: thin wrappers that take ids and hand over to the code that does the work.
`job_*` tasks are routed to the `publish` queue (CELERY_TASK_ROUTES)."""

import logging
import socket

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(bind=True, name="datasets.tasks.job_publish", acks_late=True)
def job_publish(self, job_id: int) -> str:
    from datasets.publishing import job_run

    worker = self.request.hostname or socket.gethostname()
    return job_run(job_id, task_id=self.request.id or "", worker=worker)


@shared_task(name="datasets.tasks.jobs_sweep", ignore_result=True)
def jobs_sweep() -> dict:
    """Every minute (beat): recover jobs whose worker died, resend forgotten ones, and
    remove staging folders that are no longer needed."""
    from datasets.publishing import staging_cleanup
    from datasets.services.jobs import jobs_sweep as sweep

    counts = sweep()
    counts["staging_removed"] = staging_cleanup()
    if any(counts.values()):
        log.info("jobs sweep: %s", counts)
    return counts
