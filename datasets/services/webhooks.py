"""A lab's webhooks: created, changed, deleted and re-sent by its engineers. Sending
them is `services.deliveries`."""

import base64
import binascii

from django.db import transaction

from datasets import crypto, webhooks
from datasets.models import Lab, Webhook, WebhookDelivery

from .deliveries import ACTIONS, delivery_enqueue
from .errors import ServiceError
from .events import event_record
from .roles import require_engineer

WHAT = "manage its webhooks"


def _clean(url: str, events, name: str) -> tuple[str, list[str], str]:
    try:
        url = webhooks.check_target(url)
    except webhooks.TargetRefused as exc:
        raise ServiceError(str(exc), code="webhook_target", field="url") from None
    events = sorted(set(events or []))
    if not events or not set(events) <= ACTIONS:
        raise ServiceError("Choose at least one event to send.", field="events")
    name = (name or "").strip()
    if len(name) > 80:
        raise ServiceError("Keep the name under 80 characters.", field="name")
    return url, events, name


def _standard_secret(secret: str) -> bool:
    """A `whsec_` secret must decode the way every Standard Webhooks library decodes it."""
    try:
        key = base64.b64decode(secret.removeprefix(webhooks.KEY_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def _clean_secret(secret: str) -> str:
    secret = (secret or "").strip()
    if len(secret) < 16 or len(secret) > 200 or any(c.isspace() for c in secret):
        raise ServiceError(
            "A secret has 16 to 200 characters and no spaces (or leave it empty and Wharf "
            "makes one).",
            field="secret",
        )
    if secret.startswith(webhooks.KEY_PREFIX) and not _standard_secret(secret):
        raise ServiceError(
            "A Standard Webhooks secret is 'whsec_' and 24 to 64 bytes in base64 (or leave "
            "it empty and Wharf makes one).",
            field="secret",
        )
    return secret


def webhook_create(
    lab: Lab, *, actor, url: str, events, name: str = "", secret: str = ""
) -> tuple[Webhook, str]:
    """Returns the webhook and its secret (shown once; generated when none is given)."""
    require_engineer(actor, lab, WHAT)
    url, events, name = _clean(url, events, name)
    secret = _clean_secret(secret) if secret else webhooks.new_secret()
    with transaction.atomic():
        webhook = Webhook.objects.create(
            lab=lab,
            name=name,
            url=url,
            events=events,
            **crypto.sealed(secret),
            created_by=actor,
        )
        event_record(
            "webhook.created",
            lab=lab,
            actor=actor,
            data={"webhook": webhook.pk, "url": url, "events": events},
        )
    return webhook, secret


def webhook_update(
    webhook: Webhook, *, actor, url: str, events, name: str = "", is_active: bool = True,
    secret: str = "",
) -> Webhook:  # fmt: skip
    """Changes the webhook; an empty `secret` keeps the current one."""
    require_engineer(actor, webhook.lab, WHAT)
    url, events, name = _clean(url, events, name)
    with transaction.atomic():
        webhook.url, webhook.events, webhook.name = url, events, name
        webhook.is_active = is_active
        if secret:
            secret = _clean_secret(secret)
            for field, value in crypto.sealed(secret).items():
                setattr(webhook, field, value)
        webhook.save()
        event_record(
            "webhook.updated",
            lab=webhook.lab,
            actor=actor,
            data={"webhook": webhook.pk, "url": url, "events": events, "active": is_active,
                  "rotated": bool(secret)},
        )  # fmt: skip
    return webhook


def webhook_delete(webhook: Webhook, *, actor) -> None:
    require_engineer(actor, webhook.lab, WHAT)
    with transaction.atomic():
        event_record(
            "webhook.deleted",
            lab=webhook.lab,
            actor=actor,
            data={"webhook": webhook.pk, "url": webhook.url},
        )
        webhook.delete()


def webhook_resend(delivery: WebhookDelivery, *, actor) -> WebhookDelivery:
    """Sends the same body again (same delivery id, so receivers can tell) as a new
    series of attempts. Engineers of the lab."""
    webhook = delivery.webhook
    require_engineer(actor, webhook.lab, WHAT)
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            webhook=webhook, event_id=delivery.event_id, action=delivery.action,
            delivery_id=delivery.delivery_id, attempt=1, body=delivery.body, requested_by=actor,
        )  # fmt: skip
        delivery_enqueue(again.pk)
    return again
