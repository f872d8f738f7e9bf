"""The checks behind /healthz: liveness (this web process can serve: database and
broker answer) and readiness (work gets done: a worker consumes each queue).

They are split because they answer to different people. A container orchestrator
restarts the web container when liveness fails, which helps only when the web process
itself is the problem; restarting every web container because the workers are down
would take the portal away and start nothing. Readiness is for the dashboard and for
monitoring, which page a person."""

import redis
from django.conf import settings
from django.db import connection

from portal.celery import app

QUEUES = ("default", "publish")


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ok"; the page says which part
        return f"error: {type(exc).__name__}"
    return "ok"


def check_broker() -> str:
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def worker_queues() -> dict[str, set[str]]:
    """Each worker that answers, with the queues it consumes (one bounded broadcast)."""
    try:
        replies = app.control.inspect(timeout=settings.HEALTH_WORKER_PING_TIMEOUT).active_queues()
    except Exception:  # broker unreachable: the broker check already says so
        return {}
    return {
        worker: {queue.get("name") for queue in queues or []}
        for worker, queues in (replies or {}).items()
    }


def _with_failing(report: dict, failing: list[str]) -> tuple[dict, bool]:
    if failing:
        report["failing"] = failing
    return report, not failing


def liveness_report() -> tuple[dict, bool]:
    report = {"database": check_database(), "broker": check_broker()}
    return _with_failing(report, [part for part, value in report.items() if value != "ok"])


def readiness_report() -> tuple[dict, bool]:
    report, _ = liveness_report()
    failing = list(report.pop("failing", []))
    workers = worker_queues() if report["broker"] == "ok" else {}
    report["workers"] = len(workers)
    report["queues"] = {name: sum(name in q for q in workers.values()) for name in QUEUES}
    if not workers:
        failing.append("workers")
    else:
        failing += [f"queue {name}" for name, n in report["queues"].items() if n == 0]
    return _with_failing(report, failing)


# The full picture (readiness) stays at /healthz for monitors that already watch it.
health_report = readiness_report
