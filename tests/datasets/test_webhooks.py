"""Lab webhooks: signed JSON deliveries of chosen events, retried with backoff, logged
attempt by attempt, and never sent into Wharf's own network."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from datasets import crypto, webhooks
from datasets.models import DeliveryState, Webhook, WebhookDelivery
from datasets.services import deliveries
from datasets.services import webhooks as services
from datasets.services.errors import Forbidden, ServiceError
from tests.builders import Team

pytestmark = pytest.mark.django_db

SECRET = "a-receivers-shared-secret-0042"


class Receiver:
    """A real HTTP server on loopback that records what it gets and answers from a
    script: (status, body, headers) per request, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, text, headers = (
                    receiver.answers.pop(0) if receiver.answers else (200, "thanks", {})
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                data = text.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WHARF_WEBHOOK_RETRY_BASE = 2
    settings.WHARF_WEBHOOK_MAX_ATTEMPTS = 4
    return Team(tmp_path / "storage")


@pytest.fixture
def sent(monkeypatch):
    """Runs the delivery task in-process when it is queued; records its countdowns."""
    countdowns = []

    def enqueue(name, delivery_pk, countdown=0, **options):
        assert name == "datasets.tasks.webhook_deliver"
        countdowns.append(countdown)
        deliveries.webhook_attempt(delivery_pk)
        return "in-process"

    monkeypatch.setattr(deliveries, "enqueue", enqueue)
    return countdowns


def hook_for(team, url, events=("submission.submitted",)):
    webhook, _secret = services.webhook_create(
        team.lab, actor=team.grace, url=url, events=list(events), secret=SECRET, name="CI"
    )
    return webhook


def submit_a_version(team, on_commit):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    with on_commit(execute=True):
        return team.submit(dataset)


def attempts(webhook) -> list[WebhookDelivery]:
    return list(webhook.deliveries.order_by("created_at", "id"))


# --- signing and the loopback receiver ------------------------------------------------


def test_the_signature_follows_standard_webhooks_over_id_timestamp_and_body():
    body = b'{"event": "job.published"}'
    headers = webhooks.signature_headers(SECRET, "msg_1", body)
    assert headers["webhook-signature"].startswith("v1,")
    assert webhooks.verify(SECRET, body, headers)
    assert not webhooks.verify("another-secret-entirely", body, headers)
    assert not webhooks.verify(SECRET, body + b" ", headers)
    assert not webhooks.verify(SECRET, body, {**headers, "webhook-id": "msg_2"})


def test_a_loopback_receiver_gets_a_signed_delivery_that_verifies(
    team, receiver, sent, django_capture_on_commit_callbacks
):
    webhook = hook_for(team, receiver.url)
    submission = submit_a_version(team, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = request["headers"]
    assert webhooks.verify(SECRET, request["body"], headers)
    assert headers["webhook-id"] == headers["X-Wharf-Delivery"]
    assert headers["X-Wharf-Event"] == "submission.submitted"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(request["body"])
    assert payload["id"] == headers["X-Wharf-Delivery"]
    assert payload["event"] == "submission.submitted" and payload["actor"] == team.ada.username
    assert payload["submission"]["number"] == submission.number == 1
    assert payload["dataset"]["ref"] == "demo-lab/ocean-temps"
    assert payload["dataset"]["web_url"].endswith(f"/datasets/{submission.dataset_id}/")
    (delivery,) = attempts(webhook)
    assert delivery.state == DeliveryState.DELIVERED and delivery.status_code == 200
    assert delivery.response_excerpt == "thanks" and delivery.duration_ms is not None
    assert sent == [0]


def test_only_the_chosen_events_are_sent(team, receiver, sent, django_capture_on_commit_callbacks):
    webhook = hook_for(team, receiver.url, events=["job.published", "job.failed"])
    submit_a_version(team, django_capture_on_commit_callbacks)
    assert receiver.requests == [] and attempts(webhook) == []


def test_nothing_is_sent_for_a_change_that_rolled_back(team, receiver, sent):
    from django.db import transaction

    hook_for(team, receiver.url)
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    with pytest.raises(RuntimeError), transaction.atomic():
        team.submit(dataset)
        raise RuntimeError("the request failed later")
    assert WebhookDelivery.objects.count() == 0 and receiver.requests == []


# --- retries ------------------------------------------------------------------------


def test_a_500_is_retried_with_exponential_backoff_then_delivered(
    team, receiver, sent, django_capture_on_commit_callbacks
):
    receiver.answers = [(500, "oops", {}), (503, "busy", {})]
    webhook = hook_for(team, receiver.url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    rows = attempts(webhook)
    assert [(r.attempt, r.state, r.status_code) for r in rows] == [
        (1, "retrying", 500), (2, "retrying", 503), (3, "delivered", 200),
    ]  # fmt: skip
    assert sent == [0, 2, 4]  # the first at once, then base × 2^(n-1)
    assert len({r.delivery_id for r in rows}) == 1 and len({r.body for r in rows}) == 1
    assert rows[0].next_attempt_at is not None and rows[0].response_excerpt == "oops"
    ids = {r["headers"]["X-Wharf-Delivery"] for r in receiver.requests}
    assert ids == {str(rows[0].delivery_id)}
    assert [r["headers"]["X-Wharf-Attempt"] for r in receiver.requests] == ["1", "2", "3"]


def test_retries_stop_after_the_last_attempt(
    team, receiver, sent, django_capture_on_commit_callbacks
):
    receiver.answers = [(502, "down", {})] * 10
    webhook = hook_for(team, receiver.url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    rows = attempts(webhook)
    assert [r.state for r in rows] == ["retrying", "retrying", "retrying", "failed"]
    assert sent == [0, 2, 4, 8]


def test_a_client_error_is_not_retried_and_the_excerpt_is_capped(
    team, receiver, sent, django_capture_on_commit_callbacks
):
    receiver.answers = [(400, "x" * 5000, {})]
    webhook = hook_for(team, receiver.url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    (row,) = attempts(webhook)
    assert row.state == DeliveryState.FAILED and row.status_code == 400
    assert len(row.response_excerpt) == 500 and "answered 400" in row.error


def test_redirects_are_not_followed(team, receiver, sent, django_capture_on_commit_callbacks):
    receiver.answers = [(302, "", {"Location": receiver.url.replace("/hook", "/elsewhere")})]
    webhook = hook_for(team, receiver.url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    assert [r["path"] for r in receiver.requests] == ["/hook"]
    (row,) = attempts(webhook)
    assert row.state == DeliveryState.FAILED and row.status_code == 302
    assert "Redirects are not followed" in row.error


# --- targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "ftp://93.184.216.34/hook",
        "file:///etc/passwd",
        "http://user:pw@93.184.216.34/hook",
        "not a url",
    ],
)
def test_private_or_odd_targets_are_refused_when_saved(team, url):
    with pytest.raises(ServiceError) as caught:
        services.webhook_create(team.lab, actor=team.grace, url=url, events=["job.failed"])
    assert caught.value.field == "url"
    assert not Webhook.objects.exists()


def test_a_host_name_that_resolves_privately_is_refused(team, monkeypatch):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["10.20.30.40"])
    with pytest.raises(ServiceError, match=r"resolves to 10\.20\.30\.40"):
        services.webhook_create(
            team.lab, actor=team.grace, url="https://hooks.example.org/x", events=["job.failed"]
        )


def test_a_public_address_is_accepted_and_the_secret_is_encrypted(team):
    webhook, secret = services.webhook_create(
        team.lab, actor=team.grace, url="https://93.184.216.34/hook", events=["job.failed"]
    )
    assert len(secret) >= 32 and secret not in webhook.secret_encrypted
    assert crypto.decrypt(webhook.secret_encrypted) == secret
    assert webhook.masked_secret.endswith(secret[-4:])


def test_the_target_is_checked_again_at_send_time_against_dns_rebinding(
    team, receiver, sent, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["93.184.216.34"])
    webhook = hook_for(team, "http://hooks.example.org/hook")
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["10.0.0.7"])
    submit_a_version(team, django_capture_on_commit_callbacks)
    (row,) = attempts(webhook)
    assert row.state == DeliveryState.FAILED and "Refused" in row.error and "10.0.0.7" in row.error


def test_the_address_actually_reached_is_checked_too(
    team, receiver, sent, settings, monkeypatch, django_capture_on_commit_callbacks
):
    webhook = hook_for(team, receiver.url)
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = []
    # Even if the name check before sending were fooled, the connection's peer is checked.
    monkeypatch.setattr(webhooks, "check_target", lambda url: url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    assert receiver.requests == []
    (row,) = attempts(webhook)
    assert row.state == DeliveryState.FAILED and "127.0.0.1" in row.error


# --- managing webhooks --------------------------------------------------------------


def test_only_engineers_manage_webhooks(team):
    with pytest.raises(Forbidden):
        services.webhook_create(
            team.lab, actor=team.ada, url="https://93.184.216.34/", events=["job.failed"]
        )


def test_an_engineer_adds_a_webhook_and_sees_its_secret_once(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:webhook_add", args=[team.lab.slug]),
        {"url": "https://93.184.216.34/hook", "events": ["job.published", "job.failed"]},
    )
    webhook = Webhook.objects.get()
    secret = crypto.decrypt(webhook.secret_encrypted)
    assert secret in response.content.decode() and response["Cache-Control"]
    page = client.get(reverse("datasets:lab_settings", args=[team.lab.slug])).content.decode()
    assert "https://93.184.216.34/hook" in page and secret not in page

    client.force_login(team.ada)
    page = client.get(reverse("datasets:lab_settings", args=[team.lab.slug])).content.decode()
    assert "93.184.216.34" not in page
    assert client.get(reverse("datasets:webhook_detail", args=[webhook.pk])).status_code == 403


def test_a_refused_target_shows_on_the_form(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:webhook_add", args=[team.lab.slug]),
        {"url": "http://10.0.0.1/", "events": ["job.failed"]},
    )
    assert response.status_code == 200
    assert "url" in response.context["webhook_form"].errors


def test_a_delivery_is_resent_from_the_log(
    client, team, receiver, sent, django_capture_on_commit_callbacks
):
    receiver.answers = [(400, "no", {})]
    webhook = hook_for(team, receiver.url)
    submit_a_version(team, django_capture_on_commit_callbacks)
    (failed,) = attempts(webhook)
    client.force_login(team.grace)
    detail = client.get(reverse("datasets:webhook_detail", args=[webhook.pk])).content.decode()
    assert "Re-send" in detail and "HTTP 400" in detail
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:webhook_resend", args=[failed.pk]))
    again = attempts(webhook)[-1]
    assert again.state == DeliveryState.DELIVERED and again.requested_by == team.grace
    assert again.delivery_id == failed.delivery_id and again.body == failed.body
    client.force_login(team.ada)
    assert client.post(reverse("datasets:webhook_resend", args=[failed.pk])).status_code == 403


def test_editing_keeps_the_secret_unless_a_new_one_is_given(team):
    webhook = hook_for(team, "https://93.184.216.34/hook")
    services.webhook_update(
        webhook, actor=team.grace, url="https://93.184.216.35/hook", events=["job.failed"]
    )
    webhook.refresh_from_db()
    assert crypto.decrypt(webhook.secret_encrypted) == SECRET
    assert webhook.url.endswith("35/hook") and webhook.events == ["job.failed"]
    services.webhook_update(
        webhook, actor=team.grace, url=webhook.url, events=["job.failed"], secret="n" * 20
    )
    webhook.refresh_from_db()
    assert crypto.decrypt(webhook.secret_encrypted) == "n" * 20


def test_the_sweep_sends_what_the_broker_lost_and_prunes_old_logs(
    team, receiver, sent, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    webhook = hook_for(team, receiver.url)
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    with django_capture_on_commit_callbacks(execute=False):  # the broker never got it
        team.submit(dataset)
    old = WebhookDelivery.objects.create(
        webhook=webhook, action="job.failed", body="{}", state=DeliveryState.DELIVERED
    )
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=31))
    WebhookDelivery.objects.exclude(pk=old.pk).update(due_at=now - timedelta(minutes=6))

    assert deliveries.webhook_deliveries_sweep() == {"resent": 1, "released": 0, "pruned": 1}
    assert len(receiver.requests) == 1
    assert [d.state for d in attempts(webhook)] == [DeliveryState.DELIVERED]
    assert deliveries.webhook_deliveries_sweep() == {"resent": 0, "released": 0, "pruned": 0}
