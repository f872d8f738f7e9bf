"""One client process per job (issue 21): every call of a job goes to one child that holds
one account's credentials; a warm spare holds none; a silent call still kills the child
and the next call gets a new one; a stop kills it at once."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from datasets import kaggle
from datasets.kaggle import runner
from datasets.kaggle.child import CLIENT_NAME, SPARE_NAME
from tests.builders import finished
from tests.conftest import SECRET_PROBE_KEY, SECRET_PROBE_USER, WorkerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEMO = kaggle.Credentials(owner_slug="demo-lab", username="wharf-demo",
                          secret="wharf-demo-key", kind="key")  # fmt: skip
OTHER = kaggle.Credentials(owner_slug=SECRET_PROBE_USER, username=SECRET_PROBE_USER,
                           secret=SECRET_PROBE_KEY, kind="key")  # fmt: skip


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def _children(name: bytes) -> list[int]:
    """This process's Kaggle client children of one kind (from any of its threads)."""
    pids = []
    for path in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            found = [int(p) for p in path.read_text().split()]
        except FileNotFoundError:
            continue
        for pid in found:
            try:
                if _comm(pid) == name.decode():
                    pids.append(pid)
            except FileNotFoundError:
                continue
    return pids


def test_one_child_serves_every_call_and_parallel_calls(kaggle_sandbox, tmp_path):
    with kaggle.open_client(DEMO) as client:
        states = [kaggle.dataset_state(client, "demo-lab/no-such-dataset") for _ in range(5)]
        paths = []
        for i in range(3):
            paths.append(tmp_path / f"part{i}.bin")
            paths[-1].write_bytes(os.urandom(200_000))
        tokens = [None] * 3

        def upload(i):
            tokens[i] = kaggle.dataset_upload_file(client, paths[i])

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.started == 1
    assert all(s == {"exists": False} for s in states)
    assert all(tokens) and len(set(tokens)) == 3


def test_the_child_holds_one_accounts_credentials_and_a_spare_holds_none(kaggle_sandbox):
    runner.prewarm()
    wait_until(lambda: _children(SPARE_NAME), timeout=10, message="no warm spare")
    spare = _children(SPARE_NAME)[0]
    assert b"KAGGLE_KEY" not in _environ(spare)
    with kaggle.open_client(DEMO) as demo, kaggle.open_client(OTHER) as other:
        kaggle.dataset_state(demo, "demo-lab/x")
        kaggle.dataset_state(other, f"{SECRET_PROBE_USER}/x")
        clients = _children(CLIENT_NAME)
        assert len(clients) == 2
        # The credentials came on a pipe, never through the environment other processes
        # of this user can read in /proc.
        for pid in clients:
            assert b"wharf-demo-key" not in _environ(pid)
            assert SECRET_PROBE_KEY.encode() not in _environ(pid)
    wait_until(lambda: not _children(CLIENT_NAME), timeout=10,
               message="a client outlived its job")  # fmt: skip
    # A new spare is ready for the next job, and it holds nothing.
    wait_until(lambda: _children(SPARE_NAME), timeout=10, message="no new spare")
    assert all(b"KAGGLE_KEY" not in _environ(p) for p in _children(SPARE_NAME))


def test_a_silent_call_kills_the_child_and_the_next_call_gets_a_new_one(kaggle_sandbox, settings):
    settings.KAGGLE_STALL_TIMEOUT = 1
    kaggle_sandbox.inject_fault("GetDatasetStatus", "hang", 1, seconds=20)
    with kaggle.open_client(DEMO) as client:
        first = _children(CLIENT_NAME)
        with pytest.raises(kaggle.KaggleError) as raised:
            kaggle.dataset_state(client, "demo-lab/hangs")
        assert raised.value.code == "timeout" and raised.value.transient
        assert not set(first) & set(_children(CLIENT_NAME))  # that child is gone
        assert kaggle.dataset_state(client, "demo-lab/hangs") == {"exists": False}
        assert client.started == 2
    kaggle_sandbox.clear_faults()


def test_a_stop_kills_the_child_and_every_call_in_flight(kaggle_sandbox, tmp_path):
    kaggle_sandbox.set_upload_bandwidth(64 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    stop, moving = threading.Event(), threading.Event()
    outcomes = []

    def upload():
        try:
            kaggle.dataset_upload_file(
                client, big, should_stop=stop.is_set, on_progress=lambda n: moving.set()
            )
            outcomes.append("finished")
        except kaggle.OperationStopped:
            outcomes.append("stopped")

    try:
        with kaggle.open_client(DEMO) as client:
            threads = [threading.Thread(target=upload) for _ in range(2)]
            for t in threads:
                t.start()
            assert moving.wait(timeout=30), "the uploads never started"
            pid = client.pid
            assert _comm(pid) == CLIENT_NAME.decode()
            stop.set()
            for t in threads:
                t.join(timeout=10)
            assert outcomes == ["stopped", "stopped"]
            assert not Path(f"/proc/{pid}").exists() or _comm(pid) != CLIENT_NAME.decode()
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)


def test_a_published_job_used_one_client_process(team, kaggle_sandbox, own_workers):
    """Through a real worker: staging, three uploads, the status look, the create, the
    processing polls and the read-back all ran in one kaggle-client process."""
    worker = own_workers()
    dataset = team.dataset(slug="one-client-process")
    for name in ("a.csv", "b.csv", "c.csv"):
        team.upload(dataset, name, b"x,y\n" + b"1,2\n" * 40_000)
    kaggle_sandbox.set_upload_bandwidth(400 * 1024)
    seen: set[int] = set()
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid in worker.pool_children():
                for path in Path(f"/proc/{pid}/task").glob("*/children"):
                    try:
                        found = [int(p) for p in path.read_text().split()]
                        seen.update(p for p in found if _comm(p) == CLIENT_NAME.decode())
                    except (FileNotFoundError, ProcessLookupError):
                        continue
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        job = finished(team.approve(team.submit(dataset)), timeout=120)
    finally:
        done.set()
        sampler.join()
        kaggle_sandbox.set_upload_bandwidth(None)
    assert job.state == "published", job.error_message
    assert len(seen) == 1, f"client processes seen: {sorted(seen)}"


def test_a_client_that_dies_is_reported_and_replaced(kaggle_sandbox, tmp_path):
    """The child killed from outside (the OOM killer, a person): the call in flight fails
    as transient (the job retries it), and the next call gets a new child."""
    kaggle_sandbox.set_upload_bandwidth(64 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    moving = threading.Event()
    try:
        with kaggle.open_client(DEMO) as client:
            outcome = []

            def upload():
                try:
                    kaggle.dataset_upload_file(client, big, on_progress=lambda n: moving.set())
                except kaggle.KaggleError as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=upload)
            thread.start()
            assert moving.wait(timeout=30), "the upload never started"
            os.kill(client.pid, signal.SIGKILL)
            thread.join(timeout=10)
            [error] = outcome
            assert error.code == "client_crashed" and error.transient
            kaggle_sandbox.set_upload_bandwidth(None)
            assert kaggle.dataset_state(client, "demo-lab/after-a-crash") == {"exists": False}
            assert client.started == 2
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)


def _spares_under(worker) -> list[int]:
    found = []
    for pid in worker.pool_children():
        for path in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                children = [int(p) for p in path.read_text().split()]
            except FileNotFoundError:
                continue
            found += [c for c in children if _comm(c) == SPARE_NAME.decode()]
    return found


def test_a_publishing_worker_keeps_a_spare_from_its_start(
    kaggle_sandbox, broker_url, celery_worker
):
    """Each process of a worker on the publish queue starts its spare when it starts, so
    even its first job finds one; a worker on other queues keeps none."""
    publishing = WorkerProcess(broker_url, kaggle_sandbox.url, queues="publish",
                               log_name="spare-publish").start()  # fmt: skip
    other = WorkerProcess(broker_url, kaggle_sandbox.url, queues="default",
                          log_name="spare-default").start()  # fmt: skip
    try:
        wait_until(lambda: _spares_under(publishing), timeout=20,
                   message="the publishing worker has no spare client")  # fmt: skip
        assert all(b"KAGGLE_KEY" not in _environ(p) for p in _spares_under(publishing))
        time.sleep(2)
        assert _spares_under(other) == []
    finally:
        publishing.stop()
        other.stop()
