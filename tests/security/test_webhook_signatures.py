"""Webhook deliveries are signed the Standard Webhooks way (webhook-id, webhook-timestamp,
webhook-signature over "id.timestamp.body"), checked here with the reference library as a
receiver would, so a captured delivery cannot be replayed later or with another body; and
an attempt claimed by a worker that died is sent again by the sweep, while a late answer
from the worker given up for dead changes nothing."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
from django.utils import timezone

from datasets import crypto, webhooks
from datasets.models import DeliveryState, WebhookDelivery
from datasets.services import deliveries
from datasets.services import webhooks as services
from datasets.services.errors import ServiceError
from tests.builders import Team
from tests.datasets.test_webhooks import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def receiver(settings):
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def sent(monkeypatch):
    queued = []

    def enqueue(name, delivery_pk, countdown=0, **options):
        assert name == "datasets.tasks.webhook_deliver"
        queued.append(delivery_pk)
        deliveries.webhook_attempt(delivery_pk)
        return "in-process"

    monkeypatch.setattr(deliveries, "enqueue", enqueue)
    return queued


def make_hook(team, url, secret=""):
    return services.webhook_create(
        team.lab, actor=team.grace, url=url, events=["job.failed"], secret=secret
    )


def deliver(webhook, body=b'{"event": "job.failed"}') -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, action="job.failed", body=body.decode()
    )
    deliveries.webhook_attempt(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_generated_secret_is_a_standard_webhooks_secret(team):
    _, secret = make_hook(team, "https://93.184.216.34/hook")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_a_delivery_verifies_with_the_reference_library(team, receiver):
    webhook, secret = make_hook(team, receiver.url)
    delivery = deliver(webhook)
    assert delivery.state == DeliveryState.DELIVERED
    (request,) = receiver.requests
    payload = standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])
    assert payload == {"event": "job.failed"}
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["webhook-id"] == str(delivery.delivery_id)
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert "x-wharf-signature" not in headers  # the replayable signature is gone


def test_a_captured_delivery_replayed_later_is_refused(team, receiver):
    _webhook, secret = make_hook(team, receiver.url)
    body = b'{"event": "job.failed"}'
    old = datetime.now(UTC) - timedelta(minutes=10)
    captured = webhooks.signature_headers(secret, "msg_1", body, at=old)
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(secret).verify(body, captured)
    # Bumping the timestamp without the secret breaks the signature.
    bumped = {**captured, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching"):
        standardwebhooks.Webhook(secret).verify(body, bumped)
    assert not webhooks.verify(secret, body, captured)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: (h, b + b" "),
        lambda h, b: (h, b.replace(b"failed", b"published")),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, b),
    ],
    ids=["other-id", "extra-byte", "other-body", "no-timestamp", "forged"],
)
def test_a_tampered_delivery_does_not_verify(tamper):
    secret = webhooks.new_secret()
    body = b'{"event": "job.failed"}'
    headers, body2 = tamper(webhooks.signature_headers(secret, "msg_1", body), body)
    assert not webhooks.verify(secret, body2, headers)


def test_retries_keep_the_id_and_sign_each_attempt_afresh(
    team, receiver, sent, settings, django_capture_on_commit_callbacks
):
    settings.WHARF_WEBHOOK_RETRY_BASE = 0
    receiver.answers = [(503, "busy", {})]
    webhook, secret = make_hook(team, receiver.url)
    delivery = WebhookDelivery.objects.create(webhook=webhook, action="job.failed", body="{}")
    with django_capture_on_commit_callbacks(execute=True):
        deliveries.webhook_attempt(delivery.pk)
    assert len(receiver.requests) == 2
    first, second = ({k.lower(): v for k, v in r["headers"].items()} for r in receiver.requests)
    assert first["webhook-id"] == second["webhook-id"] == str(delivery.delivery_id)
    for request in receiver.requests:
        assert webhooks.verify(secret, request["body"], request["headers"])


def test_a_typed_secret_in_another_form_signs_with_its_bytes(team, receiver):
    typed = "a-receivers-shared-secret-0042"
    webhook, _ = make_hook(team, receiver.url, secret=typed)
    deliver(webhook)
    (request,) = receiver.requests
    standardwebhooks.Webhook(typed.encode()).verify(request["body"], request["headers"])


@pytest.mark.parametrize(
    "secret", ["whsec_" + "!" * 40, "whsec_" + base64.b64encode(b"short").decode() + "A" * 10]
)
def test_a_malformed_standard_secret_is_refused(team, secret):
    with pytest.raises(ServiceError) as refused:
        make_hook(team, "https://93.184.216.34/hook", secret=secret)
    assert refused.value.field == "secret" and "whsec_" in refused.value.message


# --- a worker that died holding a delivery ------------------------------------------------


def _claimed(webhook, minutes_ago) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, action="job.failed", body=json.dumps({"event": "job.failed"})
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        sent_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return delivery


def test_the_sweep_sends_again_what_a_dead_worker_claimed(team, receiver, sent):
    webhook, secret = make_hook(team, receiver.url)
    abandoned = _claimed(webhook, minutes_ago=30)
    result = deliveries.webhook_deliveries_sweep()
    assert result["released"] == 1 and result["resent"] == 1
    abandoned.refresh_from_db()
    assert abandoned.state == DeliveryState.DELIVERED
    (request,) = receiver.requests
    assert webhooks.verify(secret, request["body"], request["headers"])
    assert deliveries.webhook_deliveries_sweep()["released"] == 0


def test_the_sweep_leaves_a_claim_in_progress_alone(team, receiver, sent):
    webhook, _ = make_hook(team, receiver.url)
    busy = _claimed(webhook, minutes_ago=0)
    assert deliveries.webhook_deliveries_sweep()["released"] == 0
    busy.refresh_from_db()
    assert busy.state == DeliveryState.PENDING and busy.sent_at is not None
    assert receiver.requests == []


def test_a_worker_given_up_for_dead_cannot_record_a_late_answer(team, monkeypatch):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["93.184.216.34"])
    webhook, _ = make_hook(team, "https://hooks.example.org/x")
    delivery = WebhookDelivery.objects.create(webhook=webhook, action="job.failed", body="{}")

    def slow_post(url, body, **kwargs):
        # While this worker waits on the receiver, the sweep gives its claim away and
        # another worker delivers.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now())
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.DELIVERED, status_code=200
        )
        return webhooks.Answer(503, 10, error="The receiver answered 503.", transient=True)

    monkeypatch.setattr(webhooks, "post", slow_post)
    assert deliveries.webhook_attempt(delivery.pk) is None  # no retry scheduled
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.status_code == 200
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 1


def test_a_secret_never_appears_in_a_delivery(team, receiver):
    webhook, secret = make_hook(team, receiver.url)
    deliver(webhook)
    (request,) = receiver.requests
    everything = request["body"].decode() + json.dumps(request["headers"])
    assert secret not in everything and secret.removeprefix("whsec_") not in everything
    assert crypto.decrypt(webhook.secret_encrypted) == secret
