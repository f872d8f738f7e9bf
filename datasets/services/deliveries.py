"""Webhook deliveries: what a receiver gets for an event, one attempt at a time.

`event_record` calls `webhook_deliveries_create` for the actions webhooks may choose:
the deliveries are written in the event's transaction and sent by a Celery task after
it commits (a rolled-back change is never announced). Each attempt is its own
WebhookDelivery row; a failed attempt that may succeed later (no answer, 429, 5xx) is
tried again with exponential backoff, up to WHARF_WEBHOOK_MAX_ATTEMPTS.

Below `events` (which calls it): nothing here records an event, so the history module
and this one never import each other. Managing webhooks is `services.webhooks`."""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from datasets import crypto, webhooks
from datasets.models import DeliveryState, JobState, Webhook, WebhookAction, WebhookDelivery
from datasets.versions import version_label, version_numbers
from portal.celery import enqueue

log = logging.getLogger(__name__)

ACTIONS = set(WebhookAction.values)
SWEEP_GRACE = timedelta(minutes=5)
DELIVER_TASK = "datasets.tasks.webhook_deliver"


def _link(name: str, pk: int) -> str:
    return settings.WHARF_BASE_URL.rstrip("/") + reverse(name, args=[pk])


def payload(event, delivery_id: str) -> dict:
    """What a receiver gets: the event, and the objects it is about as they were then."""
    dataset, submission, job = event.dataset, event.submission, event.job
    body = {
        "id": delivery_id,
        "event": event.action,
        "occurred_at": event.at.isoformat(),
        "lab": {"id": event.lab_id, "slug": event.lab.slug, "name": event.lab.name},
        "actor": event.actor.username if event.actor_id else None,
        "dataset": None,
        "submission": None,
        "job": None,
        "data": event.data,
    }
    if dataset is not None:
        latest, kaggle_version, kaggle_url = (
            dataset.latest_version,
            dataset.kaggle_version,
            dataset.kaggle_url,
        )
        if job is not None and job.state == JobState.PUBLISHED:
            # The event is written before the dataset row takes the new version.
            latest, kaggle_version = job.submission.number, job.kaggle_version
            kaggle_url = job.kaggle_url or kaggle_url
        body["dataset"] = {
            "id": dataset.pk, "ref": dataset.ref, "title": dataset.title,
            "status": dataset.status, "latest_version": latest,
            "kaggle_version": kaggle_version,
            "version_label": version_label(latest, kaggle_version),
            "kaggle_url": kaggle_url or None,
            "web_url": _link("datasets:dataset_detail", dataset.pk),
        }  # fmt: skip
    if submission is not None:
        body["submission"] = {
            "id": submission.pk, "number": submission.number, "state": submission.state,
            "version_notes": submission.version_notes,
            "approved_by_policy": submission.approved_by_policy or None,
            "web_url": _link("datasets:review", submission.pk),
        }  # fmt: skip
    if job is not None:
        body["job"] = {
            "id": job.pk, "state": job.state, "error_code": job.error_code or None,
            "error_message": job.error_message or None, "kaggle_url": job.kaggle_url or None,
            "kaggle_version": job.kaggle_version, "web_url": _link("datasets:job_detail", job.pk),
            **version_numbers(job), "differences": list(job.differences or []),
        }  # fmt: skip
    return body


def webhook_deliveries_create(event) -> None:
    """Called by event_record inside its transaction for the actions webhooks may choose."""
    if event.action not in ACTIONS or event.lab_id is None:
        return
    hooks = [
        hook
        for hook in Webhook.objects.filter(lab_id=event.lab_id, is_active=True)
        if event.action in hook.events
    ]
    for hook in hooks:
        delivery = WebhookDelivery(webhook=hook, event=event, action=event.action)
        delivery.body = json.dumps(payload(event, str(delivery.delivery_id)), sort_keys=True)
        delivery.save()
        delivery_enqueue(delivery.pk)


def delivery_enqueue(delivery_pk: int, countdown: float = 0) -> None:
    """Sends the attempt's task once the current transaction commits. A delivery the
    broker does not take stays pending; the sweep sends it later."""
    transaction.on_commit(lambda: enqueue(DELIVER_TASK, delivery_pk, countdown=countdown))


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: base, 2×base, 4×base, … up to the cap."""
    return min(
        settings.WHARF_WEBHOOK_RETRY_CAP, settings.WHARF_WEBHOOK_RETRY_BASE * 2 ** (attempt - 1)
    )


def webhook_attempt(delivery_pk: int) -> WebhookDelivery | None:
    """Sends one pending attempt and logs what happened on its row. Returns the next
    attempt when one is scheduled. A second run of the same task finds nothing pending.

    The claim is the `sent_at` it writes: the outcome is recorded only while that claim
    stands, so a worker that was given up for dead (webhook_deliveries_release_abandoned)
    and comes back late changes nothing."""
    claim = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_pk, state=DeliveryState.PENDING, sent_at__isnull=True
    ).update(sent_at=claim)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_pk)
    webhook = delivery.webhook
    try:
        secret = crypto.decrypt(webhook.secret_encrypted)
    except crypto.SecretUnreadable as exc:
        answer = webhooks.Answer(None, 0, error=str(exc))
    else:
        answer = webhooks.post(
            webhook.url, delivery.body.encode(), secret=secret, action=delivery.action,
            delivery_id=str(delivery.delivery_id), attempt=delivery.attempt,
        )  # fmt: skip
    retry = (
        not answer.ok
        and answer.transient
        and delivery.attempt < settings.WHARF_WEBHOOK_MAX_ATTEMPTS
        and webhook.is_active
    )
    if answer.ok:
        state = DeliveryState.DELIVERED
    else:
        state = DeliveryState.RETRYING if retry else DeliveryState.FAILED
    delay = backoff(delivery.attempt) if retry else None
    following = None
    with transaction.atomic():
        delivery.state = state
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay) if retry else None
        recorded = WebhookDelivery.objects.filter(
            pk=delivery.pk, state=DeliveryState.PENDING, sent_at=claim
        ).update(
            state=state,
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            response_excerpt=answer.excerpt[:500],
            error=answer.error[:500],
            next_attempt_at=delivery.next_attempt_at,
        )
        if not recorded:
            log.warning(
                "webhook delivery %s: claimed again by another worker; outcome not recorded",
                delivery.pk,
                extra={"webhook_id": webhook.pk, "delivery_id": str(delivery.delivery_id)},
            )
            return None
        if retry:
            following = WebhookDelivery.objects.create(
                webhook=webhook, event_id=delivery.event_id, action=delivery.action,
                delivery_id=delivery.delivery_id, attempt=delivery.attempt + 1, body=delivery.body,
                requested_by=delivery.requested_by, due_at=delivery.next_attempt_at,
            )  # fmt: skip
            delivery_enqueue(following.pk, countdown=delay)
    log.info(
        "webhook %s %s attempt %s: %s",
        webhook.pk,
        delivery.action,
        delivery.attempt,
        answer.status_code or answer.error,
        extra={"webhook_id": webhook.pk, "delivery_id": str(delivery.delivery_id)},
    )
    return following


def _claim_lifetime() -> timedelta:
    """How long a claimed attempt may go without its outcome before the worker that
    claimed it counts as dead: the connect and read timeouts, with room to spare."""
    return SWEEP_GRACE + timedelta(seconds=3 * settings.WHARF_WEBHOOK_TIMEOUT)


def webhook_deliveries_release_abandoned(now=None) -> list[int]:
    """Frees attempts claimed by a worker that died before recording what the receiver
    said (claimed long ago, still pending): they are sent again, with the same
    webhook-id, so a receiver that did get the first one can tell. The update names the
    claim it replaces, so an attempt whose worker finishes meanwhile is left alone."""
    now = now or timezone.now()
    abandoned = WebhookDelivery.objects.filter(
        state=DeliveryState.PENDING, sent_at__lt=now - _claim_lifetime()
    ).values_list("pk", "sent_at")
    released = []
    for pk, sent_at in abandoned:
        if not WebhookDelivery.objects.filter(
            pk=pk, state=DeliveryState.PENDING, sent_at=sent_at
        ).update(sent_at=None, due_at=now):
            continue
        released.append(pk)
        log.warning(
            "webhook delivery %s: its worker stopped before recording the answer; sent again",
            pk,
            extra={"delivery_pk": pk},
        )
    return released


def webhook_deliveries_sweep() -> dict:
    """Sends again what the broker lost (pending, never sent, due a while ago) and what a
    dead worker claimed, and deletes delivery logs older than
    WHARF_WEBHOOK_DELIVERY_RETENTION_DAYS."""
    now = timezone.now()
    released = webhook_deliveries_release_abandoned(now)
    lost = WebhookDelivery.objects.filter(
        state=DeliveryState.PENDING, sent_at__isnull=True, due_at__lt=now - SWEEP_GRACE
    ).values_list("pk", flat=True)
    resent = sum(1 for pk in [*released, *lost] if enqueue(DELIVER_TASK, pk))
    before = now - timedelta(days=settings.WHARF_WEBHOOK_DELIVERY_RETENTION_DAYS)
    pruned, _ = (
        WebhookDelivery.objects.filter(created_at__lt=before)
        .exclude(state=DeliveryState.PENDING)
        .delete()
    )
    return {"resent": resent, "released": len(released), "pruned": pruned}
