"""The Celery application. Configuration lives in Django settings (CELERY_* names)."""

import logging
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.demo")

app = Celery("wharf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs):
    # Without this receiver Celery installs its own handlers; with it, the worker logs
    # through the LOGGING dict like the web process does.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def enqueue(task, *args, **options) -> str | None:
    """Sends `task` and returns its id, or None when the broker does not take it.

    Work is sent after a transaction commits: a broker that is down must not turn the
    committed change into an error page. What was not sent is recoverable: publish jobs
    stay queued and the sweep sends them again; the caller says what else applies."""
    try:
        return task.apply_async(args=args, retry=False, **options).id
    except Exception:  # kombu raises transport-specific errors; all mean "not sent"
        logging.getLogger(__name__).warning(
            "the broker did not take %s%r; it was not sent", task.name, args, exc_info=True
        )
        return None
