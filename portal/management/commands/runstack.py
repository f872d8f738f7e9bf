"""`make run`: the whole portal on one machine, in the foreground.

Starts the embedded Redis (unless REDIS_URL is set), the Kaggle sandbox (unless real
Kaggle credentials are configured), a Celery worker, Celery beat and the web server.
Ctrl-C (or SIGTERM) stops every one of them; if one dies, the others are stopped too.
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

from portal.embedded_redis import port_is_open, redis_command, wait_for_port
from portal.processes import die_with_parent

STOP_GRACE_SECONDS = 15


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int | None = None
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None


class Command(BaseCommand):
    help = "Runs the whole portal (Redis, sandbox, worker, beat, web) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("WHARF_PORT", 8000)))

    def handle(self, *args, **options):
        self.services: list[Service] = []
        self.stopping = threading.Event()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._start_all(options["port"])
            self._announce(options["port"])
            self._watch()
        finally:
            self._stop_all()

    # --- starting -----------------------------------------------------------------
    def _services(self, web_port: int) -> list[Service]:
        python = sys.executable
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        data_dir = Path(settings.DATA_DIR)
        services = []
        if settings.EMBEDDED_REDIS:
            port = settings.EMBEDDED_REDIS_PORT
            if port_is_open(port):
                raise CommandError(
                    f"Port {port} is taken: is another Wharf running? Stop it, or set "
                    "WHARF_EMBEDDED_REDIS_PORT or REDIS_URL."
                )
            (data_dir / "redis").mkdir(parents=True, exist_ok=True)
            services.append(Service("redis", redis_command(port, data_dir / "redis"), port))
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
                )
            )
        celery = [python, "-m", "celery", "-A", "portal"]
        services += [
            Service(
                "worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "default,publish",
                    "-c",
                    "2",
                    "-n",
                    "wharf@%h",
                    "--loglevel",
                    "INFO",
                ],
            ),
            Service(
                "beat",
                [
                    *celery,
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
            ),
        ]
        return services

    def _start_all(self, web_port: int):
        env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE"))
        for service in self._services(web_port):
            if self.stopping.is_set():
                return
            self.stdout.write(f"starting {service.name}: {' '.join(service.argv[:6])} ...")
            service.process = subprocess.Popen(
                service.argv,
                cwd=settings.BASE_DIR,  # `-m kaggle_sandbox`, `-A portal` import from here
                env={**env, **service.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
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
