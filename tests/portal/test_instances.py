"""Two copies of Wharf on one machine, each moved by one variable (WHARF_PORT), never
cross: each `make run` stack (runstack) has its own web, sandbox, Redis, workers, base
URL and sandbox URL, and a `manage.py` command run in "another terminal" with none of
the first terminal's exports talks to the stack of its own folder."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from portal.embedded_redis import port_is_open
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHOW_SETTINGS = (
    "import json; from django.conf import settings as s; print(json.dumps({'redis': s.REDIS_URL,"
    " 'base': s.WHARF_BASE_URL, 'sandbox': s.KAGGLE_SANDBOX_URL, 'port': s.WHARF_PORT}))"
)


def free_base() -> int:
    """A port with its two neighbours free: web, sandbox, Redis."""
    for base in range(18100, 19000, 10):
        if not any(port_is_open(base + i) for i in range(3)):
            return base
    pytest.skip("no three free ports in 18100-19000")


def clean_env(data_dir: Path, **extra) -> dict:
    """A fresh terminal in the clone whose var/ is `data_dir`: no instance variables."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("WHARF_", "DJANGO_"))}
    keep.pop("REDIS_URL", None)
    return {**keep, "WHARF_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}


def manage(data_dir: Path, *args, **extra) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=clean_env(data_dir, **extra), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def ready(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/ready", timeout=5) as r:
            return json.loads(r.read())
    except Exception:
        return None


@pytest.fixture
def two_instances(tmp_path):
    stacks = []
    for name in ("first", "second"):
        data_dir = tmp_path / name
        base = free_base()
        manage(data_dir, "migrate", "--noinput", WHARF_PORT=str(base))
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runstack"],
            cwd=ROOT, env=clean_env(data_dir, WHARF_PORT=str(base)), stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        stacks.append({"dir": data_dir, "port": base, "process": process, "log": log})
        # The next one's ports are chosen once these are taken.
        wait_until(lambda b=base: port_is_open(b), timeout=180, message=f"{name} web never up")
    yield stacks
    for stack in stacks:
        stack["process"].send_signal(signal.SIGINT)
    for stack in stacks:
        try:
            stack["process"].wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack["process"].kill()
        stack["log"].close()


def test_two_instances_side_by_side_never_cross(two_instances):
    first, second = two_instances
    assert first["port"] != second["port"]
    for stack in (first, second):
        report = wait_until(lambda s=stack: ready(s["port"]) if ready(s["port"]) and ready(
            s["port"]).get("workers") == 2 else None, timeout=180, interval=1,
            message=f"instance on {stack['port']} never ready")  # fmt: skip
        # Its own two pools answer on its own broker: the other's workers are not here.
        assert report["queues"] == {"default": 1, "publish": 1}, report

        # Another terminal in this clone: no exports, only its folder.
        seen = json.loads(manage(stack["dir"], "shell", "-c", SHOW_SETTINGS).splitlines()[-1])
        port = stack["port"]
        assert seen == {
            "redis": f"redis://127.0.0.1:{port + 2}/0",
            "base": f"http://127.0.0.1:{port}",
            "sandbox": f"http://127.0.0.1:{port + 1}",
            "port": port,
        }
        env_file = (stack["dir"] / "instance.env").read_text()
        assert f"WHARF_PORT={port}\n" in env_file
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/", timeout=5) as sandbox:
            assert sandbox.status < 500

    # A third start of the first instance is refused before anything starts, naming
    # the variables to change.
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "runstack"],
        cwd=ROOT, env=clean_env(first["dir"]), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "WHARF_EMBEDDED_REDIS_PORT" in result.stderr and "WHARF_PORT=" in result.stderr
