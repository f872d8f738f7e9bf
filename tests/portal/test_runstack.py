"""`manage.py runstack` (make run) supervises its children: in order, all or nothing,
and nothing is left behind. The supervisor runs for real in a process of its own; its
plan is replaced by small Python children that listen on ports, so each test takes
seconds instead of starting Redis, the sandbox and Celery."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portal import instance
from portal.management.commands.runstack import Service, check_ports, plan
from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent.parent

# A child: waits `delay`, listens on `port` (if any), writes its pid, then lives until
# told to stop (or exits with `exit_after`), and starts a grandchild of its own, as
# Celery's pool does.
CHILD = textwrap.dedent("""
    import os, socket, subprocess, sys, time
    name, port, delay, exit_after, pids = sys.argv[1:6]
    time.sleep(float(delay))
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    if int(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(port))); s.listen()
    with open(pids, "a") as f:
        f.write(f"{name} {os.getpid()} {grandchild.pid} {time.monotonic()}\\n")
    print(f"{name} ready", flush=True)
    if float(exit_after) > 0:
        time.sleep(float(exit_after)); sys.exit(3)
    time.sleep(600)
""")

SUPERVISOR = textwrap.dedent("""
    import json, os, sys
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    django.setup()
    from portal.management.commands import runstack
    specs = json.loads(sys.argv[1])
    runstack.plan = lambda web_port: [runstack.Service(**spec) for spec in specs]
    runstack.STOP_GRACE_SECONDS = 5
    from django.core.management import call_command
    call_command("runstack")
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


class Stack:
    def __init__(self, tmp_path: Path, children: list[dict]):
        self.pids_file = tmp_path / "pids.txt"
        self.pids_file.touch()
        child = tmp_path / "child.py"
        child.write_text(CHILD)
        specs = []
        for c in children:
            port = c.get("port") or 0
            specs.append({
                "name": c["name"],
                "argv": [sys.executable, str(child), c["name"], str(port), str(c.get("delay", 0)),
                         str(c.get("exit_after", 0)), str(self.pids_file)],
                "port": port or None,
                "port_variable": "WHARF_TEST_PORT",
            })  # fmt: skip
        env = {**os.environ, "WHARF_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
        self.log = open(tmp_path / "runstack.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, json.dumps(specs)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.log_path = tmp_path / "runstack.log"

    def started(self) -> list[tuple[str, int, int, float]]:
        rows = []
        for line in self.pids_file.read_text().splitlines():
            name, pid, grandchild, at = line.split()
            rows.append((name, int(pid), int(grandchild), float(at)))
        return rows

    def all_pids(self) -> list[int]:
        return [pid for _n, child, grand, _t in self.started() for pid in (child, grand)]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.all_pids():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def stack(tmp_path):
    stacks = []

    def start(children):
        s = Stack(tmp_path, children)
        stacks.append(s)
        return s

    yield start
    for s in stacks:
        s.stop()


def test_services_start_in_order_each_after_the_port_of_the_one_before(stack):
    first, second = free_port(), free_port()
    s = stack([
        {"name": "first", "port": first, "delay": 1.0},
        {"name": "second", "port": second},
        {"name": "third"},
    ])  # fmt: skip
    wait_until(lambda: len(s.started()) == 3, timeout=60, message="not all three started")
    order = [name for name, *_ in sorted(s.started(), key=lambda row: row[3])]
    assert order == ["first", "second", "third"]
    assert s.process.poll() is None


def test_a_child_that_dies_stops_the_whole_stack(stack):
    s = stack([{"name": "steady"}, {"name": "fragile", "exit_after": 1.0}])
    wait_until(lambda: len(s.started()) == 2, timeout=60, message="children did not start")
    pids = s.all_pids()
    s.process.wait(timeout=60)
    wait_until(lambda: not any(alive(p) for p in pids), timeout=20, message="children live on")
    assert "fragile exited with code 3; stopping everything." in s.log_path.read_text()


def test_ctrl_c_leaves_no_process_behind(stack):
    s = stack([{"name": "a", "port": free_port()}, {"name": "b"}])
    wait_until(lambda: len(s.started()) == 2, timeout=60, message="children did not start")
    pids = s.all_pids()
    s.process.send_signal(signal.SIGINT)
    assert s.process.wait(timeout=60) == 0
    wait_until(lambda: not any(alive(p) for p in pids), timeout=20, message="children live on")
    assert "Wharf stopped." in s.log_path.read_text()


def test_children_die_with_a_supervisor_killed_outright(stack):
    s = stack([{"name": "a"}, {"name": "b"}])
    wait_until(lambda: len(s.started()) == 2, timeout=60, message="children did not start")
    children = [pid for _n, pid, _g, _t in s.started()]
    s.process.kill()  # SIGKILL: no handler runs, the kernel's parent-death signal does
    s.process.wait()
    wait_until(lambda: not any(alive(p) for p in children), timeout=20, message="orphans live")


def test_no_child_is_started_with_a_preexec_fn():
    source = (ROOT / "portal/management/commands/runstack.py").read_text()
    assert "preexec_fn" not in source.replace("# ", "")
    assert "start_new_session=True" in source


def test_a_taken_port_is_refused_before_anything_starts_naming_its_variable():
    import socket

    from django.core.management.base import CommandError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        services = [Service("sandbox", ["x"], port, "WHARF_KAGGLE_SANDBOX_PORT")]
        with pytest.raises(CommandError) as refused:
            check_ports(services, 8000)
    message = str(refused.value)
    assert f"port {port} (sandbox) is taken: set WHARF_KAGGLE_SANDBOX_PORT" in message
    assert "WHARF_PORT=8100" in message


def test_the_plan_runs_publishing_and_the_rest_in_separate_worker_pools(settings):
    settings.EMBEDDED_REDIS = False
    services = {s.name: s for s in plan(8000)}
    queues = {
        name: s.argv[s.argv.index("-Q") + 1] for name, s in services.items() if "-Q" in s.argv
    }
    assert queues == {"worker": "default", "publish": "publish"}
    assert services["web"].port_variable == "WHARF_PORT"


def test_the_instance_file_is_read_only_where_no_variable_says_otherwise(tmp_path):
    path = tmp_path / "instance.env"
    instance.write(
        {"DJANGO_SETTINGS_MODULE": "portal.settings.demo", "WHARF_PORT": "8100",
         "WHARF_EMBEDDED_REDIS_PORT": "8102", "WHARF_BASE_URL": "http://127.0.0.1:8100"},
        path,
    )  # fmt: skip
    environ = {"WHARF_BASE_URL": "https://wharf.lab.example"}
    instance.load(environ, path)
    assert environ["WHARF_PORT"] == "8100"
    assert environ["WHARF_BASE_URL"] == "https://wharf.lab.example"
    other = {"WHARF_PORT": "8200"}
    assert instance.load(other, path) == {}  # another instance: nothing of this one
    assert instance.load({"DJANGO_SETTINGS_MODULE": "portal.settings.test"}, path) == {}
