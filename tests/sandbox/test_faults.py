"""Injected faults, and what the official client does about them (as it would
against Kaggle: kaggle_api_extended.with_retry, upload_complete, _resume_upload)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import make_dataset, puts, rpc_calls

pytestmark = pytest.mark.integration

REF = "wharf-demo/fault-tests"


def stored_sha(sandbox, name: str) -> str:
    version = sandbox.dataset(REF)["versions"][-1]
    return hashlib.sha256((Path(version["path"]) / name).read_bytes()).hexdigest()


def test_upload_cut_off_half_way_resumes_where_it_stopped(sandbox, client, tmp_path):
    payload = os.urandom(1_000_000)
    folder = make_dataset(tmp_path / "ds", REF, files={"big.bin": payload})
    # The server keeps the first half, then answers 503 (the client's "incomplete").
    sandbox.inject_fault("Upload", "503", after_bytes=500_000)
    created = client.cli("datasets", "create", "-p", str(folder))
    assert created.returncode == 0, created.output
    assert "Already uploaded 499999 bytes. Will resume upload at 500000." in created.stdout
    ranges = [p["content_range"] for p in puts(sandbox)]
    assert ranges == [None, "bytes */1000000", "bytes 500000-999999/1000000"]
    assert len(rpc_calls(sandbox, "StartBlobUpload")) == 1
    assert stored_sha(sandbox, "big.bin") == hashlib.sha256(payload).hexdigest()


def test_killed_client_resumes_on_the_next_run(sandbox, client, tmp_path):
    # Bigger than what the kernel buffers for a killed sender, which it still delivers.
    payload = os.urandom(12_000_000)
    folder = make_dataset(tmp_path / "ds", REF, files={"big.bin": payload})
    sandbox.set_upload_bandwidth(2_000_000)
    process = client.popen("datasets", "create", "-p", str(folder))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        uploads = sandbox.state()["uploads"]
        if uploads and uploads[0]["received"] >= 1_000_000:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    sandbox.set_upload_bandwidth(None)
    while not puts(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the server has seen the connection end
    kept = sandbox.state()["uploads"][0]
    assert 1_000_000 <= kept["received"] < len(payload) - 1_000_000
    assert not kept["complete"]

    resumed = client.cli("datasets", "create", "-p", str(folder))
    assert resumed.returncode == 0, resumed.output
    received = kept["received"]
    assert (
        f"Already uploaded {received - 1} bytes. Will resume upload at {received}."
        in resumed.stdout
    )
    assert len(rpc_calls(sandbox, "StartBlobUpload")) == 1  # the same session, resumed
    last_put = puts(sandbox)[-1]
    assert last_put["content_range"] == f"bytes {received}-{len(payload) - 1}/{len(payload)}"
    assert last_put["content_length"] == len(payload) - received
    sandbox.wait_for_status(REF)
    assert stored_sha(sandbox, "big.bin") == hashlib.sha256(payload).hexdigest()


def test_503_on_create_fails_then_a_rerun_reuses_the_uploads(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    sandbox.inject_fault("CreateDataset", "503")
    failed = client.cli("datasets", "create", "-p", str(folder))
    # with_retry does not retry 5xx: one attempt, the CLI's 5xx hint, exit 1.
    assert failed.returncode == 1
    assert "Service temporarily unavailable" in failed.stderr
    assert "This is a problem on Kaggle's side" in failed.stderr
    assert len(rpc_calls(sandbox, "CreateDataset")) == 1
    assert sandbox.dataset(REF) is None

    seq = sandbox.request_log()[-1]["seq"]
    again = client.cli("datasets", "create", "-p", str(folder))
    assert again.returncode == 0, again.output
    # The client kept its upload state: it asks the old sessions, reuses the tokens.
    assert rpc_calls(sandbox, "StartBlobUpload", seq) == []
    assert {p["content_range"] for p in puts(sandbox, seq)} == {"bytes */13", "bytes */2"}
    assert sandbox.dataset(REF) is not None


def test_429_is_retried_after_retry_after(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    sandbox.inject_fault("CreateDataset", "429", count=2, retry_after=1)
    started = time.monotonic()
    created = client.cli("datasets", "create", "-p", str(folder))
    assert created.returncode == 0, created.output
    assert time.monotonic() - started >= 2
    assert created.stderr.count("Will retry in 1.0 seconds") == 2
    assert len(rpc_calls(sandbox, "CreateDataset")) == 3


def test_dropped_connection_is_retried_by_the_client(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF, files={"data.csv": "a\n"})
    sandbox.inject_fault("StartBlobUpload", "drop")
    created = client.cli("datasets", "create", "-p", str(folder))
    assert created.returncode == 0, created.output
    assert "Request failed" in created.stderr
    assert len(rpc_calls(sandbox, "StartBlobUpload")) == 2

    sandbox.inject_fault("GetDatasetStatus", "drop")
    status = client.cli("datasets", "status", REF)  # not wrapped in with_retry
    assert status.returncode == 1
    assert "ConnectionError" in status.stderr or "Connection" in status.stderr


def test_hang_outlasts_a_caller_timeout(sandbox, client):
    sandbox.inject_fault("GetDatasetStatus", "hang", seconds=90)
    started = time.monotonic()
    # Long enough for the client to start and reach the sandbox on a loaded machine.
    with pytest.raises(subprocess.TimeoutExpired):
        client.cli("datasets", "status", REF, timeout=15)
    assert time.monotonic() - started < 45
    assert sandbox.faults() == []
    assert client.cli("datasets", "status", REF).returncode == 1  # answers again (404)


def test_500_on_the_slug_check_is_caught_by_the_server(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    assert client.cli("datasets", "create", "-p", str(folder)).returncode == 0
    # The client treats any error of its pre-check as "slug free" and uploads ...
    sandbox.inject_fault("GetDatasetStatus", "500")
    again = client.cli("datasets", "create", "-p", str(folder))
    # ... and the server refuses the taken slug itself.
    assert f'The requested slug "{REF.split("/")[1]}" is already in use' in again.stdout
    assert len(rpc_calls(sandbox, "CreateDataset")) == 2


def test_expired_upload_session_starts_over(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF, files={"data.csv": "a,b\n"})
    sandbox.inject_fault("CreateDataset", "500")
    assert client.cli("datasets", "create", "-p", str(folder)).returncode == 1
    assert sandbox.expire_uploads(include_complete=True) == 1
    seq = sandbox.request_log()[-1]["seq"]
    again = client.cli("datasets", "create", "-p", str(folder))
    assert again.returncode == 0, again.output
    assert "expired. Restarting the upload." in again.stdout
    assert len(rpc_calls(sandbox, "StartBlobUpload", seq)) == 1


def test_processing_can_fail(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    sandbox.inject_fault("CreateDataset", "fail_processing")
    assert client.cli("datasets", "create", "-p", str(folder)).returncode == 0
    sandbox.wait_for_status(REF, "FAILED")
    assert client.cli("datasets", "status", REF).stdout.strip() == "failed"


def test_control_file_injects_faults(sandbox, client):
    faults = sandbox.data_dir / "faults.json"
    faults.write_text('[{"method": "ListDatasets", "kind": "503", "count": 1}]')
    first = client.cli("datasets", "list", "--mine")
    assert first.returncode == 1
    assert "503" in first.stderr or "unavailable" in first.stderr
    assert client.cli("datasets", "list", "--mine").returncode == 0
    assert not faults.exists()
