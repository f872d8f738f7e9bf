"""The Celery application. Configuration lives in Django settings (CELERY_* names)."""

import fnmatch
import logging
import os
import threading
import time

from celery import Celery
from celery.signals import setup_logging

from portal import instance

instance.load()  # `celery -A portal ...` in another terminal: the running instance's broker
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.demo")

log = logging.getLogger(__name__)

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


def is_publishing_task(name: str) -> bool:
    """Tasks that publish to Kaggle (hours): their queue and their time limits."""
    from django.conf import settings

    return fnmatch.fnmatchcase(name, settings.PUBLISH_TASKS)


class TimeLimits:
    """CELERY_TASK_ANNOTATIONS: publishing tasks get the long limits; every other task
    keeps the short defaults (CELERY_TASK_*TIME_LIMIT) unless it sets its own."""

    def annotate(self, task):
        from django.conf import settings

        if is_publishing_task(task.name):
            return {
                "soft_time_limit": settings.PUBLISH_SOFT_TIME_LIMIT,
                "time_limit": settings.PUBLISH_TIME_LIMIT,
            }
        return None


class _BrokerBreaker:
    """After a send timed out, later sends fail at once for a while: a request that
    enqueues twice (a scan, then an e-mail) must not wait twice on a frozen broker, and
    neither must every other web process thread behind it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, seconds: float) -> None:
        with self._lock:
            self._open_until = time.monotonic() + seconds

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


breaker = _BrokerBreaker()


def _send_options() -> dict:
    from django.conf import settings

    timeout = settings.WHARF_ENQUEUE_TIMEOUT
    # kombu's redis transport hands these to redis-py: every command of the send is
    # bounded, including the connection's first handshake; no reconnect loop.
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0}


def enqueue(task, *args, **options) -> str | None:
    """Sends `task` (a task or its registered name) and returns its id, or None when the
    broker did not take it within WHARF_ENQUEUE_TIMEOUT seconds.

    Work is sent after a transaction commits: a broker that is down or frozen must not
    turn the committed change into an error page, nor hold a web worker for the length
    of the outage. What was not sent is recoverable: publish jobs stay queued and the
    sweep sends them again; the caller says what else applies."""
    from django.conf import settings

    name = task if isinstance(task, str) else task.name
    if breaker.is_open():
        log.warning("the broker timed out moments ago; %s%r was not sent", name, args)
        return None
    try:
        # Its own short-lived connection with bounded socket timeouts: the shared pool's
        # connections have none (workers need blocking reads), so a send through them
        # would wait as long as Redis stays frozen.
        with app.connection_for_write(transport_options=_send_options()) as connection:
            if isinstance(task, str):
                result = app.send_task(
                    task, args=args, connection=connection, retry=False, **options
                )
            else:
                result = task.apply_async(args=args, connection=connection, retry=False, **options)
            return result.id
    except Exception as exc:  # kombu raises transport-specific errors; all mean "not sent"
        if "timeout" in f"{type(exc).__name__} {exc}".lower():
            breaker.trip(settings.WHARF_ENQUEUE_BREAKER_SECONDS)
        # One line: a broker that is down is a known condition, not a bug to trace.
        log.warning("the broker did not take %s%r (%s); it was not sent", name, args, exc)
        return None
