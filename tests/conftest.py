"""Shared fixtures: a real Redis for the whole session, a real Celery worker on demand."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from playwright.sync_api import Error, sync_playwright

from portal.celery import app as celery_app
from portal.embedded_redis import start_embedded_redis

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def broker_url(tmp_path_factory):
    """REDIS_URL when set (CI's Redis, flushed first), else an embedded redis-server."""
    url = os.environ.get("REDIS_URL")
    process = None
    if url:
        # Parallel runs (pytest-xdist gw0, gw1, ...) take the databases after REDIS_URL's.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        parsed = urlsplit(url)
        db = int(parsed.path.strip("/") or 0) + int(worker.removeprefix("gw") or 0)
        url = urlunsplit(parsed._replace(path=f"/{db}"))
        redis.Redis.from_url(url).flushdb()
    else:
        port = free_port()
        process = start_embedded_redis(
            port, tmp_path_factory.mktemp("redis"), stdout=subprocess.DEVNULL
        )
        url = f"redis://127.0.0.1:{port}/0"
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url
    celery_app.conf.broker_url = url
    yield url
    if process:
        process.terminate()
        process.wait(timeout=10)


# A sandbox user whose key no other test uses: tests/security publishes with it and
# greps every log for it (it must never appear).
SECRET_PROBE_USER = "wharf-secret-probe"
SECRET_PROBE_KEY = f"probe-{uuid.uuid4().hex}-key"


@pytest.fixture(scope="session")
def kaggle_sandbox(tmp_path_factory):
    """The Kaggle sandbox (kaggle_sandbox/), as its own process, for the whole session;
    the worker and this process point the official client at it."""
    from kaggle_sandbox.accounts import Accounts
    from kaggle_sandbox.testing import run_sandbox

    accounts = Accounts.default().to_dict()
    accounts["users"].append({"username": SECRET_PROBE_USER, "key": SECRET_PROBE_KEY})
    with run_sandbox(
        tmp_path_factory.mktemp("kaggle-sandbox"), processing_delay=0.3, mode="subprocess",
        accounts=accounts,
    ) as sandbox:  # fmt: skip
        settings.KAGGLE_SANDBOX_URL = sandbox.url
        yield sandbox


def _worker_env(broker: str, sandbox_url: str) -> dict:
    from django.db import connection

    env = {
        **os.environ,
        "WHARF_KAGGLE_SANDBOX_URL": sandbox_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "REDIS_URL": broker,
        "WHARF_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "WHARF_DATA_DIR": str(settings.DATA_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    return env


class WorkerProcess:
    """A real `celery worker` process on the test database. `env` overrides settings
    through their environment variables (time limits, staging folder, broker, ...)."""

    def __init__(self, broker: str, sandbox_url: str, *, env: dict | None = None,
                 queues: str = "default,publish", log_name: str = "celery-worker"):  # fmt: skip
        self.name = f"{log_name}-{uuid.uuid4().hex[:8]}@localhost"
        self.broker, self.sandbox_url, self.queues = broker, sandbox_url, queues
        self.extra_env = env or {}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        run = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.log_path = ARTIFACTS / f"{log_name}-{run}.log"
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout: float = 60) -> "WorkerProcess":
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", self.queues,
             "-c", "1", "-n", self.name, "--without-gossip", "--without-mingle",
             "--loglevel", "INFO", "--include", "tests.worker_tasks"],
            cwd=ROOT, env={**_worker_env(self.broker, self.sandbox_url), **self.extra_env},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        app = celery_app
        if self.broker != app.conf.broker_url:
            from celery import Celery

            app = Celery(broker=self.broker, set_as_current=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"celery worker exited with {self.process.returncode}; see {self.log_path}"
                )
            if app.control.ping(destination=[self.name], timeout=0.5):
                return self
        self.process.kill()
        pytest.fail(f"celery worker did not answer a ping within {timeout} s; see {self.log_path}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()]


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, broker_url, kaggle_sandbox):
    """A real `celery worker` process on the test database and the session's Redis.

    Tests that use it need `transactional_db`, so that what they write is committed
    and visible to the worker's own connection."""
    worker = WorkerProcess(broker_url, kaggle_sandbox.url).start()
    yield worker
    worker.stop()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = ""):
    """Polls `predicate` until it is truthy; fails the test with `message` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(message or f"condition not met within {timeout} s")


# --- the browser (tests/browser, and the hostile-input check in tests/security) -------
# One Playwright for the whole session: its sync API keeps an event loop on the main
# thread, and a second instance in the same process cannot start.

# Debian's /usr/bin/chromium is a shell wrapper around this binary; Playwright starts the
# binary itself, with its own flags.
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
)
HOW_TO_INSTALL = (
    "The browser tests (tests/browser) need Chromium. Install Debian's: "
    "`apt-get install -y chromium` (.ci/run does this), or point WHARF_CHROMIUM at a "
    "Chromium or Chrome binary."
)


def chromium_executable() -> str:
    wanted = os.environ.get("WHARF_CHROMIUM")
    if wanted:
        found = shutil.which(wanted)
        if not found:
            pytest.fail(f"WHARF_CHROMIUM={wanted} is not an executable. {HOW_TO_INSTALL}", False)
        return found
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(f"No Chromium found. {HOW_TO_INSTALL}", pytrace=False)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests
    # make between browser steps are plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable)
        except Error as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc}\n{HOW_TO_INSTALL}", False)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
