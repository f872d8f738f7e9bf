"""Runs client operations in a child process (datasets.kaggle.child) and maps what
happened into a result or a `KaggleError` with a stable code.

Why a child process: the client's configuration is process-wide (two labs' keys must
never meet), it reads the environment at import, it may `exit()`, and it has no
timeouts. A child serves one account (its credentials arrive on stdin), has a private
config and temp folder and the sandbox proxy when one is configured, and is killed when
a call goes silent. A job keeps one child for all its calls (`ClientProcess`); a warm
spare, started before it is needed, takes the client's import off the job's time."""

import contextlib
import itertools
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
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


def child_environment(config_dir: Path, tmp_dir: Path) -> dict:
    """The child's environment: none of the worker's KAGGLE_* or proxy variables, a
    private config and temp folder, and the sandbox proxy when one is configured. No
    credentials: they come on stdin once the child is assigned to one account."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k not in _PROXY_VARS
    }
    env.update(KAGGLE_CONFIG_DIR=str(config_dir), TMPDIR=str(tmp_dir), PYTHONUNBUFFERED="1")
    if settings.KAGGLE_SANDBOX_URL:
        # The client's only way to another server: LOCALHOST + a proxy (kaggle-protocol.md).
        env["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        env["HTTP_PROXY"] = env["http_proxy"] = settings.KAGGLE_SANDBOX_URL
    return env


def _credential_variables(credentials: Credentials) -> dict:
    if credentials.kind == "token":
        return {"KAGGLE_API_TOKEN": credentials.secret}
    return {"KAGGLE_USERNAME": credentials.username, "KAGGLE_KEY": credentials.secret}


# --- one child process ------------------------------------------------------------------


class _Child:
    """A started `python -m datasets.kaggle.child`: it imports the client at once, then
    waits for one account's credentials (the first line on stdin) and serves requests
    until its stdin closes. Its events come back on a pipe; the client's own prints go
    to a temporary file (kept for the log when it dies without an answer)."""

    def __init__(self):
        self.signature = _signature()
        self.config_dir = Path(tempfile.mkdtemp(prefix="wharf-kaggle-"))
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="wharf-kaggle-tmp-"))
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 - closed in discard()
        self.calls: dict[int, queue.SimpleQueue] = {}
        self.ended_why: KaggleError | OperationStopped | None = None
        self.eof = False  # its events pipe closed: it answers nothing more
        read_fd, write_fd = os.pipe()
        env = child_environment(self.config_dir, self.tmp_dir)
        env["WHARF_KAGGLE_EVENTS_FD"] = str(write_fd)
        env["WHARF_KAGGLE_PARENT_PID"] = str(os.getpid())
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "datasets.kaggle.child"],
                cwd=settings.BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=self.output,
                stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(write_fd)
        self.read_fd = read_fd
        self._write_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.ended_why is None and not self.eof and self.process.poll() is None

    def send(self, message: dict) -> None:
        with self._write_lock:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()

    def start_reading(self) -> None:
        threading.Thread(target=self._read, daemon=True, name="kaggle-client-events").start()

    def _read(self) -> None:
        buffer = b""
        try:
            while chunk := os.read(self.read_fd, 65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    target = self.calls.get(event.pop("id", None))
                    if target is not None:
                        target.put(event)
        except (OSError, ValueError):
            log.exception("reading the kaggle client's events failed")
        finally:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            self.eof = True  # before the calls are told: a call added now sees it
            for target in list(self.calls.values()):
                target.put({"ended": True})

    def kill(self, why: KaggleError | OperationStopped) -> None:
        if self.ended_why is None:
            self.ended_why = why
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def tail(self, credentials: Credentials) -> str:
        self.output.seek(0, os.SEEK_END)
        self.output.seek(max(0, self.output.tell() - 2000))
        return _scrub(self.output.read().decode(errors="replace"), credentials)

    def discard(self) -> None:
        """Ends the child and removes its folders. Every call has its answer by now (or
        was given up), so nothing the child could still do is wanted: it is killed
        rather than left to shut the client down (~0.2 s) on the job's time."""
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()
        self.kill(OperationStopped())
        shutil.rmtree(self.config_dir, ignore_errors=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.output.close()


def _signature() -> tuple:
    """What a child fixes when it starts (its environment): a spare started under other
    settings (another sandbox) is not used."""
    return (sys.executable, str(settings.BASE_DIR), settings.KAGGLE_SANDBOX_URL)


class _Spawner:
    """Starts every child of this process from one long-lived thread, and keeps one
    spare child warm when asked (KAGGLE_WARM_CLIENT): the client's import (~0.4 s) is
    then paid before a job needs it, not by the job.

    One thread, because a child's PR_SET_PDEATHSIG fires when the *thread* that started
    it ends: a child started by an upload thread would die with that thread."""

    def __init__(self):
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._spare: _Child | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="kaggle-spawner")
        self._thread.start()

    def _run(self) -> None:
        while True:
            done = self._requests.get()
            if done is None and self._has_spare():
                continue
            try:
                child = _Child()
            except BaseException as exc:  # handed to the caller
                if done is not None:
                    done.set_exception(exc)
                continue
            if done is not None:
                done.set_result(child)
            else:
                with self._lock:
                    old, self._spare = self._spare, child
                if old is not None:
                    old.discard()

    def child(self, *, refill: bool) -> _Child:
        """A child with no credentials yet: the warm spare when it suits, else a new one."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and not (spare.alive and spare.signature == _signature()):
            spare.discard()
            spare = None
        if spare is None:
            done: Future = Future()
            self._requests.put(done)
            spare = done.result()
        if refill:
            self.want_spare()
        return spare

    def want_spare(self) -> None:
        self._requests.put(None)

    def _has_spare(self) -> bool:
        with self._lock:
            spare = self._spare
        return spare is not None and spare.alive and spare.signature == _signature()

    def drop_spare(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def _get_spawner() -> _Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = _Spawner()
        return _spawner


def _forget_spawner_after_fork() -> None:
    # A forked process (a prefork worker) owns neither the parent's thread nor its spare.
    global _spawner, _spawner_lock
    _spawner, _spawner_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_spawner_after_fork)


# --- the client of one job ------------------------------------------------------------


class ClientProcess:
    """One account's Kaggle client for the length of a job: one child process serving
    every call (status polls cost milliseconds, not a process start), calls in parallel
    (the child runs each in a thread). Still one account's credentials per process, and
    still killed when a call goes silent (KAGGLE_STALL_TIMEOUT), when `should_stop()`
    says so (a cancel, a lost job) or when the caller is interrupted (a time limit);
    the next call then starts a new child.

    Use it as a context manager; `warm=True` (publishing) keeps a spare child ready for
    the next job."""

    def __init__(self, credentials: Credentials, *, warm: bool = False):
        self.credentials = credentials
        self._warm = warm and settings.KAGGLE_WARM_CLIENT
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._ids = itertools.count(1)
        self.started = 0  # children started (a test and the bench read it)

    @property
    def pid(self) -> int | None:
        """The current child's process id (None before the first call or after close)."""
        child = self._child
        return child.process.pid if child is not None else None

    def __enter__(self) -> "ClientProcess":
        with self._lock:  # the child gets ready while the caller stages
            self._current()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.discard()

    def _current(self) -> _Child:
        if self._child is not None and not self._child.alive:
            self._child.discard()
            self._child = None
        if self._child is None:
            child = _get_spawner().child(refill=self._warm)
            child.start_reading()
            with contextlib.suppress(OSError, ValueError):  # died at once: the call says so
                child.send({"credentials": _credential_variables(self.credentials)})
            self._child = child
            self.started += 1
        return self._child

    def call(
        self,
        request: dict,
        *,
        on_progress: Callable[[int], None] | None = None,
        stall_timeout: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_event: Callable[[dict], None] | None = None,
    ) -> dict:
        """Runs `request` ({"op": ..., ...}); returns its result dict. `should_stop()` is
        asked four times a second: True kills the child and raises OperationStopped."""
        stall_timeout = stall_timeout or settings.KAGGLE_STALL_TIMEOUT
        events: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            child = self._current()
            call_id = next(self._ids)
            child.calls[call_id] = events
            try:
                child.send({"id": call_id, **request})
            except (OSError, ValueError):
                events.put({"ended": True})  # it died just now: reported below
            if child.eof:  # it ended before this call was registered
                events.put({"ended": True})
        try:
            return self._wait(child, events, on_progress, stall_timeout, should_stop, on_event)
        except (KaggleError, OperationStopped):
            raise
        except BaseException:
            # A time limit or an interrupt: the client must not go on uploading (or
            # creating) on its own.
            child.kill(OperationStopped())
            raise
        finally:
            child.calls.pop(call_id, None)

    def _wait(self, child, events, on_progress, stall_timeout, should_stop, on_event) -> dict:
        last_sign = time.monotonic()
        while True:
            if should_stop is not None and should_stop():
                child.kill(OperationStopped())
                raise OperationStopped
            try:
                event = events.get(timeout=0.25)
            except queue.Empty:
                if time.monotonic() - last_sign > stall_timeout:
                    why = KaggleError(
                        "timeout",
                        f"Kaggle did not answer for {int(stall_timeout)} s; the call was "
                        "abandoned.",
                        transient=True,
                    )
                    child.kill(why)
                    raise why from None
                continue
            last_sign = time.monotonic()
            if "progress" in event:
                if on_progress:
                    on_progress(event["progress"])
            elif "result" in event:
                return event["result"]
            elif "error" in event:
                raise error_from(event["error"], self.credentials)
            elif "ended" in event:
                raise self._ended(child, should_stop)
            elif on_event:
                on_event(event)

    def _ended(self, child: _Child, should_stop) -> Exception:
        if should_stop is not None and should_stop():
            return OperationStopped()
        if child.ended_why is not None:  # killed for another call (a stall, a stop)
            why = child.ended_why
            if isinstance(why, KaggleError):
                return KaggleError(why.code, why.message, transient=True)
            return KaggleError(
                "client_stopped", "The Kaggle client was stopped mid-call.", transient=True
            )
        child.process.wait(timeout=30)
        log.warning("kaggle client exited %s without an answer: %s",
                    child.process.returncode, child.tail(self.credentials))  # fmt: skip
        return KaggleError(
            "client_crashed",
            f"The Kaggle client stopped without an answer (exit {child.process.returncode}).",
            transient=True,
        )


def run_operation(credentials: Credentials, request: dict, **options) -> dict:
    """One call in a client of its own (calls outside a job: a connection test, a
    person's make-public or delete, the drift watch)."""
    with ClientProcess(credentials) as client:
        return client.call(request, **options)


def prewarm() -> None:
    """Starts the spare child now (a worker at start), so even the first job finds one."""
    if settings.KAGGLE_WARM_CLIENT:
        _get_spawner().want_spare()


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
    if kind == "source_mismatch":  # not Kaggle's: the file to send is not the one staged
        return KaggleError("source_mismatch", message)
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
