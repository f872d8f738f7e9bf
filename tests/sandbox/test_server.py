"""The sandbox's HTTP surface spoken to directly: routing, auth, the resumable PUT,
downloads, persistence across a restart of `python -m kaggle_sandbox`."""

from __future__ import annotations

import base64
import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from kaggle_sandbox.settings import Settings
from kaggle_sandbox.testing import SandboxError, SandboxServer, run_sandbox

DS = "datasets.DatasetApiService"
DEMO = "Basic " + base64.b64encode(b"wharf-demo:wharf-demo-key").decode()


class Raw:
    def __init__(self, sandbox: SandboxServer):
        self.sandbox = sandbox

    def request(self, method, target, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.sandbox.port, timeout=15)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def rpc(self, name, payload=None, target="http://localhost/api/v1/", auth=DEMO):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        status, headers, body = self.request(
            "POST", f"{target}{name}", json.dumps(payload or {}).encode(), headers
        )
        return status, headers, json.loads(body) if body else None

    def upload(self, content: bytes, name="data.bin"):
        _, _, started = self.rpc(
            "blobs.BlobApiService/StartBlobUpload",
            {"type": "DATASET", "name": name, "contentLength": len(content)},
        )
        parts = urlsplit(started["createUrl"])
        return started["token"], f"{parts.path}?{parts.query}"


@pytest.fixture
def raw(sandbox):
    return Raw(sandbox)


def test_routes_absolute_form_and_plain_paths(raw):
    for target in ("http://localhost/api/v1/", "/api/v1/", "/v1/"):
        status, _, body = raw.rpc(
            f"{DS}/ListDatasets", {"group": "DATASET_SELECTION_GROUP_MY"}, target=target
        )
        assert (status, body) == (200, {"datasets": []})
    status, _, body = raw.rpc(f"{DS}/ListTreeDatasetFiles")
    assert status == 501
    assert body["code"] == 501


def test_credentials(raw):
    status, headers, body = raw.rpc(f"{DS}/CreateDataset", {}, auth=None)
    assert (status, body) == (401, {"code": 401, "message": "Unauthenticated"})
    assert headers["Content-Type"].startswith("application/json")
    wrong = "Basic " + base64.b64encode(b"wharf-demo:nope").decode()
    assert raw.rpc(f"{DS}/ListDatasets", auth=wrong)[0] == 401
    assert raw.rpc(f"{DS}/ListDatasets", auth="Bearer nope")[0] == 401
    assert raw.rpc(f"{DS}/ListDatasets", auth="Bearer alice-access-token")[0] == 200
    # Public listings need no credentials, as on Kaggle (`datasets files` works anonymously).
    assert raw.rpc(f"{DS}/ListDatasets", auth=None)[0] == 200
    introspected = raw.rpc(
        "security.OAuthService/IntrospectToken",
        {"token": "alice-access-token"},
        auth="Bearer alice-access-token",
    )[2]
    assert introspected["active"] is True
    assert introspected["username"] == "alice"


def test_resumable_put_protocol(raw, sandbox):
    content = bytes(range(256)) * 4  # 1024 bytes
    token, url = raw.upload(content)
    query = {"Content-Length": "0", "Content-Range": "bytes */1024"}
    status, headers, _ = raw.request("PUT", url, b"", query)
    assert status == 308
    assert "Range" not in headers
    part = {"Content-Range": "bytes 0-399/1024"}
    assert raw.request("PUT", url, content[:400], part)[0] == 308
    status, headers, _ = raw.request("PUT", url, b"", query)
    assert (status, headers["Range"]) == (308, "bytes=0-399")
    rest = {"Content-Range": "bytes 400-1023/1024"}
    assert raw.request("PUT", url, content[400:], rest)[0] == 200
    assert raw.request("PUT", url, b"", query)[0] == 200
    bad_total = {"Content-Range": "bytes */999"}
    assert raw.request("PUT", url, b"", bad_total)[0] == 400
    assert raw.request("PUT", "/upload/storage/v1/b/x/o?upload_id=nope", b"", query)[0] == 404

    _, url2 = raw.upload(b"abc")
    assert sandbox.expire_uploads() == 1
    assert raw.request("PUT", url2, b"abc")[0] == 404

    created = raw.rpc(
        f"{DS}/CreateDataset",
        {
            "ownerSlug": "demo-lab",
            "slug": "raw-dataset",
            "title": "Raw Dataset",
            "licenseName": "CC0-1.0",
            "files": [{"token": token}, {"token": "made-up"}],
        },
    )[2]
    assert created == {
        "status": "error",
        "error": 'The upload token "made-up" is not valid or has expired.',
    }
    created = raw.rpc(
        f"{DS}/CreateDataset",
        {
            "ownerSlug": "demo-lab",
            "slug": "raw-dataset",
            "title": "Raw Dataset",
            "licenseName": "CC0-1.0",
            "files": [{"token": token}],
        },
    )[2]
    assert created["status"] == "ok"
    sandbox.configure(resent_uploads="refuse")  # the default makes a copy instead
    reused = raw.rpc(
        f"{DS}/CreateDataset",
        {
            "ownerSlug": "demo-lab",
            "slug": "raw-dataset-2",
            "title": "Raw Dataset Two",
            "licenseName": "CC0-1.0",
            "files": [{"token": token}],
        },
    )[2]
    assert reused["error"] == f'The upload token "{token}" has already been used.'


def test_download_redirect_and_ranges(raw, sandbox):
    token, url = raw.upload(b"0123456789", name="digits.txt")
    raw.request("PUT", url, b"0123456789")
    raw.rpc(
        f"{DS}/CreateDataset",
        {
            "ownerSlug": "wharf-demo",
            "slug": "digits",
            "title": "Digits Dataset",
            "licenseName": "CC0-1.0",
            "isPrivate": True,
            "files": [{"token": token}],
        },
    )
    sandbox.wait_for_status("wharf-demo/digits")
    status, headers, _ = raw.rpc(
        f"{DS}/DownloadDataset",
        {"ownerSlug": "wharf-demo", "datasetSlug": "digits", "fileName": "digits.txt"},
    )
    assert status == 302
    location = urlsplit(headers["Location"])
    assert location.netloc == "localhost" and location.path.endswith("/digits.txt")
    target = f"{location.path}?{location.query}"
    status, headers, body = raw.request("GET", target, headers={"Range": "bytes=4-"})
    assert (status, body, headers["Content-Range"]) == (206, b"456789", "bytes 4-9/10")
    assert headers["Accept-Ranges"] == "bytes" and headers["Last-Modified"].endswith("GMT")
    assert raw.request("GET", target.replace("sig=", "sig=0"))[0] == 403
    # Private: another user gets "not found", as if it did not exist.
    bob = "Basic " + base64.b64encode(b"bob:bob-key").decode()
    status, _, body = raw.rpc(
        f"{DS}/DownloadDataset", {"ownerSlug": "wharf-demo", "datasetSlug": "digits"}, auth=bob
    )
    assert (status, body["message"]) == (404, "Dataset not found")


def test_upload_bandwidth_limit(raw, sandbox):
    content = b"x" * 150_000
    _, url = raw.upload(content)
    sandbox.set_upload_bandwidth(300_000)
    started = time.monotonic()
    assert raw.request("PUT", url, content)[0] == 200
    assert time.monotonic() - started >= 0.4


def test_bad_fault_requests_are_refused(sandbox):
    with pytest.raises(Exception, match="unknown fault kind"):
        sandbox.inject_fault("CreateDataset", "explode")


@pytest.mark.integration
def test_subprocess_mode_keeps_state_across_restarts(tmp_path):
    with run_sandbox(tmp_path / "data", mode="subprocess", processing_delay=0.1) as sandbox:
        raw = Raw(sandbox)
        token, url = raw.upload(b"hello world")
        assert raw.request("PUT", url, b"hello", {"Content-Range": "bytes 0-4/11"})[0] == 308
        port = sandbox.port
        sandbox.restart()
        assert sandbox.port == port
        query = {"Content-Range": "bytes */11"}
        assert raw.request("PUT", url, b"", query)[1]["Range"] == "bytes=0-4"
        assert raw.request("PUT", url, b" world", {"Content-Range": "bytes 5-10/11"})[0] == 200
        # The default account: wharf-demo, member of demo-lab.
        created = raw.rpc(
            f"{DS}/CreateDataset",
            {
                "ownerSlug": "demo-lab",
                "slug": "survives-restarts",
                "title": "Survives Restarts",
                "licenseName": "CC-BY-4.0",
                "files": [{"token": token}],
            },
        )[2]
        assert created["status"] == "ok"
        process = sandbox.process
        sandbox.restart()
        assert process.returncode == 0  # SIGTERM is a clean stop
        assert process.args[1:3] == ["-m", "kaggle_sandbox"]
        sandbox.wait_for_status("demo-lab/survives-restarts")
        files = raw.rpc(
            f"{DS}/ListDatasetFiles", {"ownerSlug": "demo-lab", "datasetSlug": "survives-restarts"}
        )[2]
        assert [(f["name"], f["totalBytes"]) for f in files["datasetFiles"]] == [("data.bin", 11)]


def test_accounts_file_is_validated(tmp_path):
    bad = {
        "users": [{"username": "x", "key": "k"}],
        "organizations": [{"slug": "lab", "members": ["ghost"]}],
    }
    with (
        pytest.raises(ValueError, match="unknown members"),
        run_sandbox(tmp_path / "d", accounts=bad),
    ):
        pass


@pytest.mark.integration
def test_settings_reach_a_subprocess_sandbox_and_survive_a_restart(tmp_path):
    defaults = Settings().to_dict()
    with run_sandbox(
        tmp_path / "data", mode="subprocess", settings={"resent_uploads": "refuse", "max_files": 7}
    ) as sandbox:
        assert sandbox.process.args.count("--setting") == 2
        assert sandbox.settings() == {**defaults, "resent_uploads": "refuse", "max_files": 7}
        sandbox.configure(version_applies_text=True)
        sandbox.restart()
        assert sandbox.settings()["version_applies_text"] is True
        assert sandbox.state()["settings"]["resent_uploads"] == "refuse"
        with pytest.raises(SandboxError, match="unknown setting"):
            sandbox.configure(kindness=True)
        with pytest.raises(SandboxError, match="one of"):
            sandbox.configure(resent_uploads="sometimes")
        assert sandbox.settings()["resent_uploads"] == "refuse"  # nothing half-applied


def test_the_defaults_are_the_harsher_choices():
    assert Settings().to_dict() == {
        "version_applies_text": False,
        "resent_uploads": "duplicate",
        "max_files": 1000,
        "max_dataset_bytes": 6_000_000_000,
        "private_quota_bytes": 100_000_000_000,
        "tag_vocabulary": "sourced",
    }


def test_a_chunked_put_is_decoded(raw):
    _, url = raw.upload(b"hello")
    chunked = {"Transfer-Encoding": "chunked"}
    body = b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
    assert raw.request("PUT", url, body, chunked)[0] == 200
    _, empty_url = raw.upload(b"")
    assert raw.request("PUT", empty_url, b"0\r\n\r\n", chunked)[0] == 200
    _, bad_url = raw.upload(b"abc")
    assert raw.request("PUT", bad_url, b"zz\r\nabc\r\n", chunked)[0] == 400


def test_answers_are_not_held_back_by_nagle(sandbox):
    """FIDELITY.md B36. With Nagle on, each answer's body (the second write) waits for
    the client's delayed ACK: at least 40 ms per call on a keep-alive connection, so ten
    calls would take 0.4 s or more. Without it they take a few milliseconds each."""
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=15)
    headers = {"Content-Type": "application/json", "Authorization": DEMO}
    body = json.dumps({"ownerSlug": "demo-lab", "datasetSlug": "no-such-dataset"}).encode()
    try:
        conn.request("POST", f"/api/v1/{DS}/GetDatasetStatus", body=body, headers=headers)
        conn.getresponse().read()  # the connection is open and warm
        started = time.monotonic()
        for _ in range(10):
            conn.request("POST", f"/api/v1/{DS}/GetDatasetStatus", body=body, headers=headers)
            conn.getresponse().read()
        took = time.monotonic() - started
    finally:
        conn.close()
    assert took < 0.3, f"ten keep-alive answers took {took:.3f} s"
