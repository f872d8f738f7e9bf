"""Personal API tokens: only a sha256 of the token is kept, and the token itself is
shown once, when it is made. Tokens are high-entropy random strings, so a plain hash
is enough (no slow password hash needed to resist guessing).

A token may carry an expiry, chosen when it is made (UI and API); after it the API
answers 401 saying so. Without one it lives until revoked."""

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from datasets import rules
from datasets.models import ApiToken
from datasets.services.errors import Forbidden, ServiceError

NAME_MAX = 80
# last_used_at is for people ("is this token still in use?"), not an audit trail:
# writing it at most once a minute keeps a busy pipeline from writing on every call.
TOUCH_INTERVAL = timedelta(minutes=1)
EXPIRY_MAX_DAYS = 3650
# What the token page offers (days; None: never). The UI's default is 90 days.
EXPIRY_CHOICES = [(7, "in 7 days"), (30, "in 30 days"), (90, "in 90 days"),
                  (365, "in a year"), (None, "never (until revoked)")]  # fmt: skip


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError("Name the token, e.g. 'nightly pipeline'.", field="name")
    if len(name) > NAME_MAX:
        raise ServiceError(f"Keep the name under {NAME_MAX} characters.", field="name")
    try:
        rules.check_no_control_characters(name, "The name")
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], field="name") from None
    return name


def expiry_after(days: int | None):
    """The expiry `days` from now (None: never), or ServiceError for a bad number."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= EXPIRY_MAX_DAYS:
        raise ServiceError(
            f"A token expires in 1 to {EXPIRY_MAX_DAYS} days (or never: leave it out).",
            field="expires_in_days",
        )
    return timezone.now() + timedelta(days=days)


def token_create(user, name: str, *, expires_at=None) -> tuple[ApiToken, str]:
    """Makes a token for `user`; returns it with the raw token, which is never stored.
    `expires_at` (optional) must lie in the future."""
    name = _clean_name(name)
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("Choose an expiry in the future.", field="expires_in_days")
    raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:8], key_hash=token_hash(raw), expires_at=expires_at
    )
    return token, raw


def token_revoke(token: ApiToken, actor) -> ApiToken:
    """Revokes a token; revoking a revoked token changes nothing."""
    if token.user_id != actor.pk and not actor.is_superuser:
        raise Forbidden("You may revoke only your own tokens.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def token_find(raw: str) -> ApiToken | None:
    """The token `raw` stands for if it is not revoked and its user is active, expired or
    not (so the caller can say which), or None."""
    if not raw or len(raw) > 200:
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def token_find_active(raw: str) -> ApiToken | None:
    """The live token `raw` stands for (not revoked, not expired, its user active)."""
    token = token_find(raw)
    return None if token is None or token.is_expired else token


def token_touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at and now - token.last_used_at < TOUCH_INTERVAL:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    ).update(last_used_at=now)
    token.last_used_at = now
