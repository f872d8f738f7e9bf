"""Wharf's Kaggle adapter: every call to Kaggle goes through these functions.

They run the official client in a child process (see runner.py and child.py, the only
module that imports it) with one account's credentials, and raise `KaggleError` with a
stable code. Each takes a `client`: a job's `ClientProcess` (`open_client`), whose one
child serves all the job's calls, or bare `Credentials` for a call in a child of its
own. Retrying transient errors is the caller's choice (datasets.publishing)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from datasets import crypto

from .runner import (
    ClientProcess,
    Credentials,
    KaggleError,
    OperationStopped,
    prewarm,
    run_operation,
)

Client = ClientProcess | Credentials

__all__ = [
    "Client",
    "ClientProcess",
    "Credentials",
    "KaggleError",
    "OperationStopped",
    "SentBytes",
    "credentials_for",
    "dataset_create",
    "dataset_delete",
    "dataset_files",
    "dataset_read",
    "dataset_state",
    "dataset_update_metadata",
    "dataset_upload_file",
    "dataset_version",
    "open_client",
    "prewarm",
    "test_connection",
]


@dataclass(frozen=True)
class SentBytes:
    """What one upload sent, hashed by the client process as the client read it: the
    sha256 of the whole file, and the identity of the file it read taken at its end."""

    sha256: str
    size: int
    device: int
    inode: int
    mtime_ns: int
    ctime_ns: int


def _quick(limit: float = 60) -> float:
    """Silence allowed for a call that moves no data."""
    return min(limit, settings.KAGGLE_STALL_TIMEOUT)


def _call(client: Client, request: dict, **options) -> dict:
    if isinstance(client, ClientProcess):
        return client.call(request, **options)
    return run_operation(client, request, **options)


def open_client(credentials: Credentials) -> ClientProcess:
    """The client of one job: `with kaggle.open_client(credentials) as client: ...`."""
    return ClientProcess(credentials, warm=True)


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


def dataset_state(client: Client, ref: str) -> dict:
    """{"exists": bool, "status": kagglesdk's DatabundleVersionStatus name in lower case
    ("ready", "blobs_received", ..., "failed", "deleted", "reprocessing"),
    "current_version_number": int (moves only when a version is ready)}."""
    return _call(client, {"op": "status", "ref": ref}, stall_timeout=_quick())


def dataset_files(client: Client, ref: str) -> list[dict]:
    return _call(client, {"op": "files", "ref": ref}, stall_timeout=_quick())["files"]


def dataset_read(client: Client, ref: str) -> dict:
    """What Kaggle holds: {"exists", "status" (kagglesdk's DatabundleVersionStatus name,
    lower case), "current_version_number", "files": [{"name", "size"}] (every page),
    "metadata": {"title", "subtitle", "description", "licenses", "keywords", "isPrivate",
    "resources", ...}, "url"}."""
    return _call(client, {"op": "read", "ref": ref}, stall_timeout=_quick())


def _refusal(reason: str) -> KaggleError:
    if "already in use" in reason:
        return KaggleError(
            "slug_taken",
            f"{reason} Wharf did not create that dataset: edit the slug or title and "
            "submit again, or ask the dataset's owner.",
        )
    return KaggleError("rejected", f"Kaggle refused the dataset: {reason}")


def dataset_upload_file(
    client: Client,
    path: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    session: dict | None = None,
    on_session: Callable[[dict], None] | None = None,
    on_expired: Callable[[], None] | None = None,
    on_sent: Callable[[SentBytes | None], None] | None = None,
    expect: list[int] | None = None,
) -> str:
    """Uploads one staged file (StartBlobUpload + the client's resumable PUT) and returns
    its upload token. Nothing exists on Kaggle until a create/version names the token,
    so stopping here (should_stop) leaves nothing behind.

    With `on_sent`, the client process also hashes the bytes as the client reads them
    to send them, and hands the result to `on_sent` before the token is returned (None:
    the file changed size while it was read): a file sent straight from lab storage is
    checked by what was sent. `expect` is that file's identity (device, inode, size,
    mtime_ns, ctime_ns) as staged: a file the client opens that differs is not read at
    all (KaggleError `source_mismatch`).

    `session` is one an earlier call reported through `on_session` (for the same bytes,
    same account): the upload resumes it, on any machine, from the bytes Kaggle holds,
    or reuses its token when it was complete. When Kaggle no longer knows it (expired),
    `on_expired()` is called and the upload starts afresh (a new `on_session`)."""

    def event(item: dict) -> None:
        if "session" in item and on_session:
            on_session(item["session"])
        elif item.get("expired") and on_expired:
            on_expired()

    request = {"op": "upload", "path": str(path), "session": session,
               "hash_sent": on_sent is not None, "expect": expect}  # fmt: skip
    result = _call(
        client, request, on_progress=on_progress, should_stop=should_stop, on_event=event
    )
    if on_sent is not None:
        on_sent(SentBytes(**result["sent"]) if result.get("sent") else None)
    return result["token"]


def _commit(client: Client, request, should_stop) -> dict:
    # The request carries no file data: silence means Kaggle (or the network) hangs.
    result = _call(client, request, stall_timeout=_quick(), should_stop=should_stop)
    if "refused" in result:
        raise _refusal(result["refused"])
    return result


def dataset_create(
    client: Client,
    metadata: dict,
    files: list[dict],
    *,
    public: bool,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """CreateDataset naming uploaded files ([{"name", "token"}]) with the whole approved
    `metadata` (kaggle_metadata): {"ref", "url", "invalid_tags"}. The one call where
    Kaggle acts; sent once (never the client's re-send with the same tokens)."""
    request = {"op": "create", "metadata": metadata, "files": files, "public": bool(public)}
    return _commit(client, request, should_stop)


def dataset_version(
    client: Client,
    metadata: dict,
    files: list[dict],
    *,
    notes: str,
    delete_old_versions: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """CreateDatasetVersion (files, notes, subtitle, description, keywords): {"ref",
    "url", "invalid_tags"}. Title, license and privacy need dataset_update_metadata."""
    request = {"op": "version", "metadata": metadata, "files": files, "notes": notes,
               "delete_old_versions": bool(delete_old_versions)}  # fmt: skip
    return _commit(client, request, should_stop)


def dataset_update_metadata(client: Client, ref: str, metadata: dict) -> None:
    """UpdateDatasetMetadata through the client. `metadata` must be the dataset's whole
    approved kaggle_metadata(...): the client sends every field, so a missing one is
    erased and a missing isPrivate means public. Refusals raise KaggleError("rejected")
    with Kaggle's own message (the client exit(1)s on them)."""
    if "isPrivate" not in metadata:
        raise ValueError("dataset_update_metadata needs the whole metadata, isPrivate included")
    result = _call(
        client, {"op": "update_metadata", "ref": ref, "metadata": metadata},
        stall_timeout=_quick(),
    )  # fmt: skip
    if "refused" in result:
        raise KaggleError("rejected", f"Kaggle refused the metadata update: {result['refused']}")


def dataset_delete(client: Client, ref: str) -> None:
    """DeleteDataset. Kaggle keeps the slug and title reserved afterwards."""
    result = _call(client, {"op": "delete", "ref": ref}, stall_timeout=_quick())
    if "refused" in result:
        raise KaggleError("rejected", f"Kaggle refused to delete {ref}: {result['refused']}")
