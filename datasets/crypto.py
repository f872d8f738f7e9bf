"""Secrets at rest: Kaggle credentials are encrypted with Fernet (cryptography).

WHARF_CREDENTIALS_KEY holds one or more Fernet keys, comma-separated, newest first.
Encryption uses the first; decryption tries each, so a key can be rotated: put the new
key in front, run `manage.py rotate_credentials_key`, then drop the old one. Without
the variable (demo and tests only) a key is derived from SECRET_KEY."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with any configured key."""


def _keys() -> list[bytes]:
    configured = [k.strip() for k in settings.CREDENTIALS_KEYS if k.strip()]
    if configured:
        return [k.encode() for k in configured]
    if not settings.WHARF_DEMO:
        raise ImproperlyConfigured(
            "WHARF_CREDENTIALS_KEY is not set: generate one with python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    digest = hashlib.sha256(b"wharf-credentials:" + settings.SECRET_KEY.encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"WHARF_CREDENTIALS_KEY holds an invalid key: {exc}") from None


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def sealed(secret: str) -> dict:
    """The stored form of a secret: encrypted, and the last four characters that are
    all a page ever shows of it."""
    return {"secret_encrypted": encrypt(secret), "secret_last4": secret[-4:]}


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored credential cannot be decrypted with WHARF_CREDENTIALS_KEY; "
            "was the key changed without rotating?"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypts with the newest key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored credential cannot be decrypted with any key.") from None
