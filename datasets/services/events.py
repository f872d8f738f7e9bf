"""Writing the history. Every service records its change with `event_record` inside the
same transaction, which also keeps the dataset's status and last event current."""

import re

from django.utils import timezone

from datasets.models import Dataset, Event, WebhookAction

from .deliveries import webhook_deliveries_create

# Keys whose values never reach the history, whatever the caller passed.
_SECRET_KEY_RE = re.compile(r"(secret|password|token|key|credential)", re.IGNORECASE)
MASK = "••••"
# The actions a lab's webhooks may subscribe to.
WEBHOOK_ACTIONS = frozenset(WebhookAction.values)


def mask_secrets(data):
    if isinstance(data, dict):
        return {
            k: (MASK if _SECRET_KEY_RE.search(str(k)) and v else mask_secrets(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data


def event_record(
    action: str,
    *,
    lab=None,
    dataset: Dataset | None = None,
    submission=None,
    job=None,
    actor=None,
    data: dict | None = None,
    status: str | None = None,
) -> Event:
    """Appends an event. With `status`, the dataset's status changes in the same write."""
    if dataset is None and submission is not None:
        dataset = submission.dataset
    if dataset is None and job is not None:
        dataset = job.dataset
    lab = lab or (dataset.lab if dataset else None)
    event = Event.objects.create(
        lab=lab,
        dataset=dataset,
        submission=submission,
        job=job,
        actor=actor if (actor is not None and actor.is_authenticated) else None,
        action=action,
        data=mask_secrets(data or {}),
    )
    if dataset is not None:
        fields = {
            "last_event_at": event.at,
            "last_event_action": action,
            "updated_at": timezone.now(),
        }
        if status is not None:
            fields["status"] = status
            dataset.status = status
        Dataset.objects.filter(pk=dataset.pk).update(**fields)
        dataset.last_event_at, dataset.last_event_action = event.at, action
    if action in WEBHOOK_ACTIONS:
        # The lab's webhooks: deliveries written now, sent once this transaction commits.
        webhook_deliveries_create(event)
    return event
