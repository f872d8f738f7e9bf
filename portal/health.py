"""The checks behind /healthz: database, broker, and at least one Celery worker."""

import redis
from django.conf import settings
from django.db import connection

from portal.celery import app


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


def count_workers() -> int:
    try:
        replies = app.control.ping(timeout=settings.HEALTH_WORKER_PING_TIMEOUT)
    except Exception:  # broker unreachable: the broker check already says so
        return 0
    return len(replies or [])


def health_report() -> tuple[dict, bool]:
    report = {"database": check_database(), "broker": check_broker(), "workers": 0}
    if report["broker"] == "ok":
        report["workers"] = count_workers()
    healthy = report["database"] == "ok" and report["broker"] == "ok" and report["workers"] > 0
    if not healthy:
        report["failing"] = [
            part
            for part, bad in (
                ("database", report["database"] != "ok"),
                ("broker", report["broker"] != "ok"),
                ("workers", report["workers"] == 0),
            )
            if bad
        ]
    return report, healthy
