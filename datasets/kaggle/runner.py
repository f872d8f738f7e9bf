"""Runs one client operation in a child process (datasets.kaggle.child) and maps what
happened into a result or a `KaggleError` with a stable code.

Why a process per call: the client's configuration is process-wide (two labs' keys must
never meet), it reads the environment at import, it may `exit()`, and it has no
timeouts. The child gets only the account's credentials, a private config folder, and
the sandbox proxy when one is configured; the parent kills it when it goes silent."""

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


class KaggleError(Exception):
    """A failed Kaggle call. `transient` ones (429, 5xx, timeouts, dropped connections)
    are worth retrying; the others need a person."""

    def __init__(self, code: str, message: str, *, transient=False, retry_after=None):
        super().__init__(message)
        self.code, self.message = code, message
        self.transient, self.retry_after = transient, retry_after


class OperationStopped(Exception):
    """The caller's `should_stop()` said stop: the client child was killed mid-call."""


@dataclass(frozen=True)
class Credentials:
    owner_slug: str
    username: str
    secret: str
    kind: str  # "key" or "token"

    def __repr__(self):  # never let the secret reach a log through a repr
        return f"Credentials(owner_slug={self.owner_slug!r}, username={self.username!r})"


def child_environment(credentials: Credentials, config_dir: Path, tmp_dir: Path) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k not in _PROXY_VARS
    }
    env.update(KAGGLE_CONFIG_DIR=str(config_dir), TMPDIR=str(tmp_dir), PYTHONUNBUFFERED="1")
    if credentials.kind == "token":
        env["KAGGLE_API_TOKEN"] = credentials.secret
    else:
        env["KAGGLE_USERNAME"] = credentials.username
        env["KAGGLE_KEY"] = credentials.secret
    if settings.KAGGLE_SANDBOX_URL:
        # The client's only way to another server: LOCALHOST + a proxy (kaggle-protocol.md).
        env["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        env["HTTP_PROXY"] = env["http_proxy"] = settings.KAGGLE_SANDBOX_URL
    return env


def run_operation(
    credentials: Credentials,
    request: dict,
    *,
    tmp_dir: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    stall_timeout: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> dict:
    """Runs `request` ({"op": ..., ...}) with these credentials; returns the result dict.
    `should_stop()` is asked four times a second: True kills the child (its process
    group) and raises OperationStopped, so a cancelled or fenced-off job stops at once."""
    stall_timeout = stall_timeout or settings.KAGGLE_STALL_TIMEOUT
    config_dir = Path(tempfile.mkdtemp(prefix="wharf-kaggle-"))
    own_tmp = tmp_dir is None
    tmp_dir = Path(tempfile.mkdtemp(prefix="wharf-kaggle-tmp-")) if own_tmp else tmp_dir
    tmp_dir.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    env = child_environment(credentials, config_dir, tmp_dir)
    env["WHARF_KAGGLE_EVENTS_FD"] = str(write_fd)
    env["WHARF_KAGGLE_PARENT_PID"] = str(os.getpid())
    output = tempfile.TemporaryFile()  # noqa: SIM115 - closed on every path below
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "datasets.kaggle.child"],
            cwd=settings.BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=output,
            stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
        )  # fmt: skip
        os.close(write_fd)
        write_fd = None
        process.stdin.write(json.dumps(request).encode())
        process.stdin.close()
        try:
            outcome = _read_events(
                process, read_fd, on_progress, stall_timeout, should_stop, on_event
            )
        except BaseException:
            # A time limit or a cancel interrupts the wait: the client must not go on
            # uploading (or creating) on its own.
            _kill(process)
            raise
        process.wait(timeout=30)
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)
        shutil.rmtree(config_dir, ignore_errors=True)
        if own_tmp:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    if "result" in outcome:
        output.close()
        return outcome["result"]
    output.seek(0)
    tail = _scrub(output.read()[-2000:].decode(errors="replace"), credentials)
    output.close()
    if "error" not in outcome:
        log.warning("kaggle client exited %s without an answer: %s", process.returncode, tail)
        raise KaggleError(
            "client_crashed",
            f"The Kaggle client stopped without an answer (exit {process.returncode}).",
            transient=True,
        )
    raise error_from(outcome["error"], credentials)


def _read_events(
    process, read_fd, on_progress, stall_timeout, should_stop=None, on_event=None
) -> dict:
    buffer = b""
    last_sign = time.monotonic()
    outcome: dict = {}
    while True:
        if should_stop is not None and should_stop():
            _kill(process)
            raise OperationStopped
        ready, _, _ = select.select([read_fd], [], [], 0.25)
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                return outcome
            last_sign = time.monotonic()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = json.loads(line)
                if "progress" in event:
                    if on_progress:
                        on_progress(event["progress"])
                elif "result" in event or "error" in event:
                    outcome = event
                elif on_event:
                    on_event(event)
        elif time.monotonic() - last_sign > stall_timeout:
            _kill(process)
            raise KaggleError(
                "timeout",
                f"Kaggle did not answer for {int(stall_timeout)} s; the call was abandoned.",
                transient=True,
            )


def _kill(process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _scrub(text: str, credentials: Credentials) -> str:
    return text.replace(credentials.secret, "••••") if credentials.secret else text


def _retry_after(value) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def error_from(error: dict, credentials: Credentials) -> KaggleError:
    kind, status = error.get("kind"), error.get("status")
    message = _scrub(error.get("message") or "", credentials)
    owner = credentials.owner_slug
    if kind == "credentials" or status == 401:
        return KaggleError(
            "credentials_rejected",
            f"The Kaggle key for owner {owner} was rejected. An engineer should check the "
            "lab's Kaggle account (Lab settings → Test connection).",
        )
    if status == 403:
        return KaggleError(
            "forbidden",
            f"Kaggle refused the account {credentials.username} access to owner {owner}: "
            "it may not publish there.",
        )
    if status == 404:
        return KaggleError("not_found", f"Kaggle does not know this dataset. ({message})")
    if status == 429:
        return KaggleError(
            "rate_limited", "Kaggle asked us to slow down (429).", transient=True,
            retry_after=_retry_after(error.get("retry_after")),
        )  # fmt: skip
    if status is not None and status >= 500:
        return KaggleError("kaggle_unavailable", f"Kaggle answered {status}.", transient=True)
    if kind == "connection":
        return KaggleError(
            "connection", f"The connection to Kaggle failed: {message}", transient=True
        )
    if kind == "value" and message.startswith("Upload unsuccessful"):
        return KaggleError("upload_failed", message, transient=True)
    if kind == "value" or status == 400:
        return KaggleError("rejected", f"Kaggle refused the request: {message}")
    return KaggleError("client_error", message or "The Kaggle client failed.", transient=True)
