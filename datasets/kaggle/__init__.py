"""Wharf's Kaggle adapter: every call to Kaggle goes through these functions.

They run the official client in a child process (see runner.py and child.py, the only
module that imports it) with one account's credentials, and raise `KaggleError` with a
stable code. Retrying transient errors is the caller's choice (datasets.publishing)."""

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from datasets import crypto

from .runner import Credentials, KaggleError, run_operation

__all__ = [
    "Credentials",
    "KaggleError",
    "credentials_for",
    "dataset_create",
    "dataset_files",
    "dataset_state",
    "dataset_version",
    "test_connection",
]


def _quick(limit: float = 60) -> float:
    """Silence allowed for a call that moves no data."""
    return min(limit, settings.KAGGLE_STALL_TIMEOUT)


def credentials_for(account) -> Credentials:
    return Credentials(
        owner_slug=account.owner_slug,
        username=account.username,
        secret=crypto.decrypt(account.secret_encrypted),
        kind=account.credential_kind,
    )


def test_connection(account) -> tuple[bool, str]:
    """Lists the account's datasets through the client: (ok, a message for a person)."""
    try:
        credentials = credentials_for(account)
        result = run_operation(credentials, {"op": "test"}, stall_timeout=_quick(30))
    except KaggleError as exc:
        return False, exc.message
    except crypto.SecretUnreadable as exc:
        return False, str(exc)
    return True, (
        f"Connected as {result['username'] or account.username}; "
        f"the account sees {result['count']} dataset(s) of its own."
    )


def dataset_state(credentials: Credentials, ref: str) -> dict:
    """{"exists": bool, "status": "ready"|"pending"|..., "current_version_number": int}."""
    return run_operation(credentials, {"op": "status", "ref": ref}, stall_timeout=_quick())


def dataset_files(credentials: Credentials, ref: str) -> list[dict]:
    return run_operation(credentials, {"op": "files", "ref": ref}, stall_timeout=_quick())["files"]


def _publish(credentials, request, tmp_dir, on_progress) -> dict:
    result = run_operation(credentials, request, tmp_dir=tmp_dir, on_progress=on_progress)
    if "refused" in result:
        reason = result["refused"]
        if "already in use" in reason:
            raise KaggleError(
                "slug_taken",
                f"{reason} Wharf did not create that dataset: edit the slug or title and "
                "submit again, or ask the dataset's owner.",
            )
        raise KaggleError("rejected", f"Kaggle refused the dataset: {reason}")
    return result


def dataset_create(
    credentials: Credentials,
    folder: Path,
    *,
    public: bool,
    tmp_dir: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict:
    """Uploads `folder` (files + dataset-metadata.json) as a new dataset: {ref, url}."""
    request = {"op": "create", "folder": str(folder), "public": bool(public)}
    return _publish(credentials, request, tmp_dir, on_progress)


def dataset_version(
    credentials: Credentials,
    folder: Path,
    *,
    notes: str,
    tmp_dir: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict:
    request = {"op": "version", "folder": str(folder), "notes": notes}
    return _publish(credentials, request, tmp_dir, on_progress)
