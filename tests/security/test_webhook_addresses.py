"""Webhook addresses: an IPv6 address can carry an IPv4 address inside it (IPv4-mapped,
IPv4-compatible, 6to4, NAT64, Teredo), and a network that routes those forms delivers to
the IPv4 address. Every such form that carries a loopback, private, link-local or
otherwise non-global IPv4 address is refused, by the one function (webhooks.
check_address) used when a webhook is saved and again on the address a connection
actually reached."""

import ipaddress

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from datasets import webhooks
from datasets.models import DeliveryState, Webhook, WebhookDelivery
from datasets.services import deliveries
from datasets.services import webhooks as services
from datasets.services.errors import ServiceError
from tests.builders import Team
from tests.datasets.test_webhooks import Receiver

pytestmark = pytest.mark.django_db


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0::/32, the server's IPv4 address, flags, then
    the client's port and IPv4 address, both obfuscated (every bit inverted)."""
    s = int(ipaddress.IPv4Address(server))
    c = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    port = 0x1234 ^ 0xFFFF
    value = (0x20010000 << 96) | (s << 64) | (0x8000 << 48) | (port << 32) | c
    return str(ipaddress.IPv6Address(value))


# Each carries a non-global IPv4 address (loopback, RFC 1918, link-local metadata, CGNAT,
# "this network") in one of the embedded forms.
HIDDEN = {
    "mapped-loopback": "::ffff:127.0.0.1",
    "mapped-private": "::ffff:10.1.2.3",
    "mapped-hex": "::ffff:7f00:1",
    "compatible-loopback": "::127.0.0.1",
    "compatible-private": "::10.0.0.1",
    "compatible-metadata": "::169.254.169.254",
    "6to4-loopback": "2002:7f00:1::1",
    "6to4-private": "2002:c0a8:101::",
    "6to4-metadata": "2002:a9fe:a9fe::1",
    "6to4-cgnat": "2002:6440:1::1",
    "nat64-loopback": "64:ff9b::127.0.0.1",
    "nat64-private": "64:ff9b::10.0.0.1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "nat64-this-network": "64:ff9b::0.0.0.1",
    "nat64-local-use": "64:ff9b:1::a00:1",
    "nat64-local-use-public": "64:ff9b:1:ffff::8.8.8.8",
    "teredo-client-loopback": teredo("65.54.227.120", "127.0.0.1"),
    "teredo-client-private": teredo("65.54.227.120", "192.168.0.10"),
    "teredo-server-private": teredo("10.0.0.1", "93.184.216.34"),
}
PUBLIC = {
    "v4": "93.184.216.34",
    "v6": "2606:4700:4700::1111",
    "6to4-public": "2002:808:808::1",
    "nat64-public": "64:ff9b::8.8.8.8",
}


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = []
    return Team(tmp_path / "storage")


def test_the_teredo_helper_builds_what_the_stdlib_reads():
    server, client = ipaddress.IPv6Address(teredo("65.54.227.120", "127.0.0.1")).teredo
    assert (str(server), str(client)) == ("65.54.227.120", "127.0.0.1")


@pytest.mark.parametrize("address", HIDDEN.values(), ids=HIDDEN.keys())
def test_every_embedded_private_ipv4_is_refused(address):
    with pytest.raises(webhooks.TargetRefused) as refused:
        webhooks.check_address("hooks.example.org", address)
    assert "hooks.example.org resolves to" in str(refused.value)


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_addresses_and_public_embedded_ones_pass(address):
    webhooks.check_address("hooks.example.org", address)


@pytest.mark.parametrize(
    "address, carried",
    [
        ("2002:7f00:1::1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("::10.0.0.1", "10.0.0.1"),
    ],
)
def test_the_refusal_names_the_embedded_address(address, carried):
    with pytest.raises(webhooks.TargetRefused, match=f"carries {carried}"):
        webhooks.check_address("h.example.org", address)


@pytest.mark.parametrize(
    "key",
    ["mapped-loopback", "compatible-metadata", "6to4-loopback", "nat64-private",
     "nat64-local-use", "teredo-client-loopback"],
)  # fmt: skip
def test_an_ipv6_literal_carrying_a_private_address_is_refused_when_saved(team, key):
    url = f"http://[{HIDDEN[key]}]:8080/hook"
    with pytest.raises(ServiceError) as refused:
        services.webhook_create(team.lab, actor=team.grace, url=url, events=["job.failed"])
    assert refused.value.field == "url"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("key", ["6to4-private", "nat64-loopback", "teredo-client-private"])
def test_a_host_name_resolving_to_an_embedded_form_is_refused_when_saved(team, key, monkeypatch):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: [HIDDEN[key]])
    with pytest.raises(ServiceError, match="resolves to"):
        services.webhook_create(
            team.lab, actor=team.grace, url="https://hooks.example.org/x", events=["job.failed"]
        )


@pytest.mark.parametrize("key", ["6to4-loopback", "nat64-metadata", "teredo-client-loopback"])
def test_a_dns_answer_changed_to_an_embedded_form_is_refused_at_send_time(team, key, monkeypatch):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["93.184.216.34"])
    webhook, secret = services.webhook_create(
        team.lab, actor=team.grace, url="https://hooks.example.org/x", events=["job.failed"]
    )
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: [HIDDEN[key]])
    answer = webhooks.post(
        webhook.url, b"{}", secret=secret, action="job.failed", delivery_id="d1", attempt=1
    )
    assert not answer.ok and not answer.transient and answer.error.startswith("Refused")


def test_the_address_a_connection_reached_is_checked_in_its_embedded_form(team, monkeypatch):
    """Through an IPv4-mapped literal, the socket's peer is '::ffff:127.0.0.1': the
    connect-time check unwraps it like the save-time one."""
    receiver = Receiver()
    try:
        port = receiver.server.server_address[1]
        monkeypatch.setattr(webhooks, "check_target", lambda url: url)  # fool the first check
        answer = webhooks.post(
            f"http://[::ffff:127.0.0.1]:{port}/hook", b"{}", secret="s" * 20,
            action="job.failed", delivery_id="d1", attempt=1,
        )  # fmt: skip
    finally:
        receiver.close()
    assert receiver.requests == []
    assert answer.error.startswith("Refused") and "::ffff:127.0.0.1" in answer.error


def test_one_function_checks_at_save_and_at_connect(team, settings, monkeypatch):
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = Receiver()
    seen = []
    real = webhooks.check_address

    def spy(host, address):
        seen.append(address)
        return real(host, address)

    monkeypatch.setattr(webhooks, "check_address", spy)
    try:
        answer = webhooks.post(
            receiver.url, b"{}", secret="s" * 20, action="job.failed", delivery_id="d",
            attempt=1,
        )  # fmt: skip
    finally:
        receiver.close()
    assert answer.ok
    assert seen == ["127.0.0.1", "127.0.0.1"]  # the resolved name, then the peer


def test_an_allowed_host_may_be_private_in_any_form(settings):
    settings.WHARF_WEBHOOK_ALLOWED_HOSTS = ["hooks.internal"]
    for address in HIDDEN.values():
        webhooks.check_address("hooks.internal", address)
        webhooks.check_address("HOOKS.internal.", address)


def test_a_delivery_into_an_embedded_private_address_is_logged_as_refused(team, monkeypatch):
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: ["93.184.216.34"])
    webhook, _ = services.webhook_create(
        team.lab, actor=team.grace, url="https://hooks.example.org/x", events=["job.failed"]
    )
    monkeypatch.setattr(webhooks, "_resolve", lambda host, port: [HIDDEN["6to4-metadata"]])
    delivery = WebhookDelivery.objects.create(webhook=webhook, action="job.failed", body="{}")
    assert deliveries.webhook_attempt(delivery.pk) is None  # refused: not retried
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and "169.254.169.254" in delivery.error


@pytest.mark.parametrize("key", ["6to4-loopback", "nat64-metadata", "compatible-private"])
def test_the_admin_refuses_an_embedded_private_address_too(team, key):
    admin = get_user_model().objects.create_superuser("hook-admin", "a@example.org", "pw-x-1")
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("admin:datasets_webhook_add"),
        {"lab": team.lab.pk, "name": "x", "url": f"http://[{HIDDEN[key]}]/h",
         "events": '["job.failed"]', "secret_last4": "", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200 and "resolves to" in response.content.decode()
    assert not Webhook.objects.exists()
