"""Talking to webhook receivers: the only module that does. Checks a target, signs a
body, posts it once and says what happened.

A webhook must not become a way to probe the network Wharf runs in: only http and
https, no redirects followed, and a host that resolves to a private, loopback,
link-local, multicast or otherwise non-global address is refused unless it is listed in
WHARF_WEBHOOK_ALLOWED_HOSTS. An IPv6 address that carries an IPv4 address inside it
(IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo) is judged by that IPv4 address too.
The check (check_address) runs when a webhook is saved and again at every send, on the
address the connection actually reached (so a DNS answer that changes between the check
and the connect, "DNS rebinding", is caught too).

Deliveries are signed the Standard Webhooks way (standardwebhooks.com, with its
reference library): `webhook-id` (the same for every attempt of one delivery),
`webhook-timestamp` (this attempt, in Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). A receiver that checks the
timestamp is recent and remembers the ids it has seen cannot be fooled by a captured
delivery sent again."""

import base64
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
import standardwebhooks
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
KEY_PREFIX = "whsec_"
EVENT_HEADER = "X-Wharf-Event"
DELIVERY_HEADER = "X-Wharf-Delivery"
ATTEMPT_HEADER = "X-Wharf-Attempt"
EXCERPT_CHARS = 500
USER_AGENT = "Wharf-Webhooks/1"


class TargetRefused(Exception):
    """The URL is not one Wharf sends to; the message says why."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status, or an error before any."""

    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: a Standard Webhooks secret (`whsec_<base64>`, what Wharf
    makes) is its decoded bytes, as every Standard Webhooks library reads it; a secret an
    engineer typed in another form is its UTF-8 bytes."""
    if secret.startswith(KEY_PREFIX):
        try:
            return base64.b64decode(secret[len(KEY_PREFIX) :], validate=True)
        except ValueError:
            pass
    return secret.encode()


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return KEY_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_headers(secret: str, delivery_id: str, body: bytes, at: datetime | None = None):
    """The three Standard Webhooks headers for one attempt (signed now unless `at`)."""
    at = at or datetime.now(UTC)
    signer = standardwebhooks.Webhook(signing_key(secret))
    return {
        ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(int(at.timestamp())),
        SIGNATURE_HEADER: signer.sign(delivery_id, at, body.decode()),
    }


def verify(secret: str, body: bytes, headers: dict) -> bool:
    """What a receiver does (documented here, used by the tests): the signature matches
    and the timestamp is within five minutes. Remembering seen ids is the receiver's."""
    try:
        standardwebhooks.Webhook(signing_key(secret)).verify(body, headers, json_parse=False)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def _allowed_hosts() -> set[str]:
    return {h.strip().lower().rstrip(".") for h in settings.WHARF_WEBHOOK_ALLOWED_HOSTS if h}


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
# RFC 8215 local-use translation: where the IPv4 address sits depends on a prefix length
# only the operator knows, and IANA marks it not globally reachable. Refused whole.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291's deprecated ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries: IPv4-mapped, 6to4, Teredo (server and
    the de-obfuscated client, both from the stdlib), NAT64 and IPv4-compatible."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _refusal(ip) -> str:
    """Why a webhook may not reach `ip`, or "" when it may."""
    if not ip.is_global or ip.is_multicast:
        return str(ip)
    if ip.version == 6:
        if ip in _NAT64_LOCAL:
            return f"{ip} (a local-use NAT64 address)"
        for v4 in embedded_ipv4(ip):
            if not v4.is_global or v4.is_multicast:
                return f"{ip} (it carries {v4})"
    return ""


def check_address(host: str, address: str) -> None:
    """Refuses a non-global address, or an IPv6 address carrying a non-global IPv4
    address, unless the host is allowed. The one check, at save and at connect."""
    if host.lower().rstrip(".") in _allowed_hosts():
        return
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise TargetRefused(f"{host} resolves to {address!r}, not an IP address.") from None
    refused = _refusal(ip)
    if refused:
        raise TargetRefused(
            f"{host} resolves to {refused}, a private, loopback, link-local or multicast "
            "address; Wharf does not send webhooks into its own network (an administrator "
            "can allow the host with WHARF_WEBHOOK_ALLOWED_HOSTS)."
        )


def check_target(url: str) -> str:
    """The URL, cleaned, if Wharf may send to it; TargetRefused otherwise."""
    url = (url or "").strip()
    if len(url) > 500:
        raise TargetRefused("Keep the URL under 500 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("That is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Webhook URLs must start with http:// or https://.")
    if not parts.hostname:
        raise TargetRefused("The URL needs a host name.")
    if parts.username or parts.password:
        raise TargetRefused("Put no user name or password in the URL; the signature is the proof.")
    if any(ord(c) < 33 for c in url):
        raise TargetRefused("The URL may not contain spaces or control characters.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError):
        raise TargetRefused(f"The host {host} cannot be resolved.") from None
    for address in addresses:
        check_address(host, address)
    return url


# --- sending --------------------------------------------------------------------------


class _CheckedConnect:
    """Checks the address a new connection actually reached."""

    def _new_conn(self):
        sock = super()._new_conn()
        try:
            check_address(self.host, sock.getpeername()[0])
        except TargetRefused:
            sock.close()
            raise
        return sock


class _HTTPConnection(_CheckedConnect, HTTPConnection):
    pass


class _HTTPSConnection(_CheckedConnect, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we check who we reach
    adapter = _CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _excerpt(response) -> str:
    raw = response.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def post(url: str, body: bytes, *, secret: str, action: str, delivery_id: str, attempt: int):
    """Sends one signed delivery; never raises for what the receiver does."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(secret, delivery_id, body),
        EVENT_HEADER: action,
        DELIVERY_HEADER: delivery_id,
        ATTEMPT_HEADER: str(attempt),
    }
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_target(url)
        with _session() as session:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=(min(5.0, settings.WHARF_WEBHOOK_TIMEOUT), settings.WHARF_WEBHOOK_TIMEOUT),
                allow_redirects=False,
                stream=True,
            )
            with response:
                excerpt = _excerpt(response)
    except TargetRefused as exc:
        return Answer(None, took(), error=f"Refused: {exc}")
    except requests.Timeout:
        return Answer(None, took(), error="The receiver did not answer in time.", transient=True)
    except requests.RequestException as exc:
        return Answer(None, took(), error=f"Could not connect: {exc}"[:500], transient=True)
    code = response.status_code
    error = ""
    if 300 <= code < 400:
        error = f"Redirects are not followed (to {response.headers.get('Location', '?')})"[:500]
    elif not 200 <= code < 300:
        error = f"The receiver answered {code}."
    transient = code == 429 or code >= 500
    return Answer(code, took(), excerpt=excerpt, error=error, transient=transient)
