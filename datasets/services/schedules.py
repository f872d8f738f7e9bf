"""A dataset's schedule: when Wharf checks its files on lab storage (a django-celery-beat
PeriodicTask, written in the same transaction) and what it does with a change."""

import json

from django.conf import settings
from django.db import transaction

from datasets.models import Dataset, DatasetSchedule, SchedulePolicy, Source
from portal.celery import enqueue

from .errors import ServiceError
from .events import event_record
from .roles import require_engineer

CHECK_TASK = "datasets.tasks.dataset_check_changes"
INTERVAL_MAX_MINUTES = 30 * 24 * 60
QUIET_MAX_SECONDS = 24 * 3600
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def periodic_task_name(dataset_id: int) -> str:
    return f"wharf: check dataset {dataset_id} for changes"


def periodic_task_forget(dataset_id: int) -> None:
    """Removes the beat entry of a dataset that has no schedule any more."""
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=periodic_task_name(dataset_id), task=CHECK_TASK).delete()


def parse_cron(expression: str) -> dict:
    """The five fields of a cron expression, checked the way celery beat reads them."""
    from celery.schedules import crontab
    from django.core.exceptions import ValidationError
    from django_celery_beat import validators

    parts = (expression or "").split()
    if len(parts) != 5:
        raise ServiceError(
            "Give five cron fields: minute hour day-of-month month day-of-week, "
            "e.g. '*/15 * * * *'.",
            field="cron",
        )
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    checks = (
        validators.minute_validator,
        validators.hour_validator,
        validators.day_of_month_validator,
        validators.month_of_year_validator,
        validators.day_of_week_validator,
    )
    try:
        for check, value in zip(checks, parts, strict=True):
            check(value)
        crontab(**fields)
    except (ValidationError, ValueError) as exc:
        message = " ".join(getattr(exc, "messages", [str(exc)]))
        raise ServiceError(f"That cron expression is not valid: {message}", field="cron") from None
    return fields


def _clean(interval_minutes, cron: str, policy: str, quiet_period_seconds) -> tuple:
    cron = " ".join((cron or "").split())
    if bool(interval_minutes) == bool(cron):
        raise ServiceError(
            "Give either an interval in minutes or a cron expression.", field="interval_minutes"
        )
    if interval_minutes and not 1 <= interval_minutes <= INTERVAL_MAX_MINUTES:
        raise ServiceError(
            "The interval must be between 1 minute and 30 days.", field="interval_minutes"
        )
    if cron:
        parse_cron(cron)
    if policy not in SchedulePolicy.values:
        raise ServiceError("Choose 'needs review' or 'auto-approve'.", field="policy")
    if quiet_period_seconds is not None and not 0 <= quiet_period_seconds <= QUIET_MAX_SECONDS:
        raise ServiceError(
            "The quiet period must be between 0 seconds and a day.", field="quiet_period_seconds"
        )
    return (interval_minutes or None), cron


def _sync_periodic_task(schedule: DatasetSchedule) -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    dataset = schedule.dataset
    interval = crontab = None
    if schedule.interval_minutes:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=schedule.interval_minutes, period=IntervalSchedule.MINUTES
        )
    else:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **parse_cron(schedule.cron), timezone=settings.TIME_ZONE
        )
    task, _ = PeriodicTask.objects.update_or_create(
        name=periodic_task_name(dataset.pk),
        defaults={
            "task": CHECK_TASK,
            "args": json.dumps([dataset.pk]),
            "interval": interval,
            "crontab": crontab,
            "enabled": schedule.enabled,
            "description": f"Checks {dataset.ref} on lab storage for changed files (Wharf).",
        },
    )
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        DatasetSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)


def schedule_save(
    dataset: Dataset,
    *,
    actor,
    interval_minutes: int | None = None,
    cron: str = "",
    policy: str = SchedulePolicy.NEEDS_REVIEW,
    quiet_period_seconds: int | None = None,
    enabled: bool = True,
) -> DatasetSchedule:
    """Creates or changes the dataset's schedule (engineers; storage-backed datasets)."""
    require_engineer(actor, dataset.lab, "schedule datasets")
    if dataset.source != Source.STORAGE:
        raise ServiceError(
            "Only a dataset whose files are on lab storage can be watched; this one takes "
            "browser uploads.",
            code="not_storage",
        )
    interval_minutes, cron = _clean(interval_minutes, cron, policy, quiet_period_seconds)
    with transaction.atomic():
        schedule = DatasetSchedule.objects.select_for_update().filter(dataset=dataset).first()
        created = schedule is None
        if created:
            schedule = DatasetSchedule(dataset=dataset, created_by=actor)
        schedule.interval_minutes = interval_minutes
        schedule.cron = cron
        schedule.policy = policy
        schedule.quiet_period_seconds = quiet_period_seconds
        schedule.enabled = enabled
        if policy != SchedulePolicy.AUTO_APPROVE:
            schedule.awaiting_submission = None
        schedule.save()
        _sync_periodic_task(schedule)
        event_record(
            "schedule.created" if created else "schedule.updated",
            dataset=dataset,
            actor=actor,
            data={
                "schedule": schedule.describe,
                "policy": policy,
                "quiet_period_seconds": schedule.quiet_period,
                "enabled": enabled,
            },
        )
    return schedule


def schedule_delete(dataset: Dataset, *, actor) -> None:
    require_engineer(actor, dataset.lab, "schedule datasets")
    with transaction.atomic():
        schedule = DatasetSchedule.objects.select_for_update().filter(dataset=dataset).first()
        if schedule is None:
            raise ServiceError("This dataset has no schedule.", code="no_schedule")
        task = schedule.periodic_task
        event_record(
            "schedule.deleted", dataset=dataset, actor=actor, data={"schedule": schedule.describe}
        )
        schedule.delete()
        if task is not None:
            task.delete()


def schedule_check_now(dataset: Dataset, *, actor) -> None:
    """Queues a check at once (engineers), e.g. after fixing a file the check refused."""
    require_engineer(actor, dataset.lab, "schedule datasets")
    if not DatasetSchedule.objects.filter(dataset=dataset).exists():
        raise ServiceError("This dataset has no schedule.", code="no_schedule")

    def send():
        enqueue(CHECK_TASK, dataset.pk, True)  # manual: even when paused

    transaction.on_commit(send)
