"""Helpers for the sandbox conformance tests. The official client (CLI and Python
API) runs unmodified in subprocesses: it reads its environment once, at import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from kaggle_sandbox.testing import SandboxServer

KAGGLE = str(Path(sys.executable).with_name("kaggle"))  # the venv's console script
CLIENT_TIMEOUT = 120

# The default account (wharf-demo in demo-lab) plus people to test permissions with.
ACCOUNTS = {
    "users": [
        {"username": "wharf-demo", "key": "wharf-demo-key", "display_name": "Wharf Demo"},
        {"username": "alice", "key": "alice-key", "tokens": ["alice-access-token"]},
        {"username": "bob", "key": "bob-key"},
    ],
    "organizations": [
        {"slug": "demo-lab", "name": "Demo Lab", "members": ["wharf-demo", "alice"]},
        {"slug": "other-lab", "name": "Other Lab", "members": ["bob"]},
    ],
}
KEYS = {"wharf-demo": "wharf-demo-key", "alice": "alice-key", "bob": "bob-key"}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Client:
    """Runs the official `kaggle` CLI or a KaggleApi snippet as one user."""

    def __init__(self, sandbox: SandboxServer, workdir: Path):
        self.sandbox = sandbox
        self.workdir = workdir
        self.tmpdir = workdir / "client-tmp"  # the client's resumable-upload state
        self.tmpdir.mkdir(parents=True, exist_ok=True)

    def env(self, user: str = "wharf-demo", key: str | None = None, **options) -> dict:
        key = key if key is not None else KEYS.get(user, "")
        return self.sandbox.client_env(user, key, tmpdir=self.tmpdir, **options)

    def cli(
        self,
        *args: str,
        user: str = "wharf-demo",
        key: str | None = None,
        timeout: float = CLIENT_TIMEOUT,
        **options,
    ) -> Result:
        done = subprocess.run(
            [KAGGLE, *args],
            env=self.env(user, key, **options),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, user: str = "wharf-demo") -> subprocess.Popen:
        return subprocess.Popen(
            [KAGGLE, *args],
            env=self.env(user),
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def api(self, code: str, user: str = "wharf-demo", **options) -> dict:
        """Runs `code` with `api` an authenticated KaggleApi; it sets `result`."""
        script = (
            "import json\n"
            "from kaggle.api.kaggle_api_extended import KaggleApi\n"
            "api = KaggleApi()\n"
            "api.authenticate()\n"
            "result = None\n"
            f"{textwrap.dedent(code)}\n"
            "print('RESULT=' + json.dumps(result, default=str))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=self.env(user, **options),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT=")]
        if done.returncode != 0 or not lines:
            raise AssertionError(
                f"API script failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return json.loads(lines[-1][len("RESULT=") :])


def make_dataset(
    folder: Path,
    ref: str,
    title: str = "Sandbox Demo Dataset",
    *,
    license_name: str = "CC0-1.0",
    extra: dict | None = None,
    files: dict[str, bytes | str] | None = None,
) -> Path:
    """Writes a dataset folder: files (paths may include folders) and its metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    files = files if files is not None else {"data.csv": "id,score\n1,2\n", "notes.txt": "n\n"}
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    metadata = {
        "title": title,
        "id": ref,
        "licenses": [{"name": license_name}],
        "subtitle": "A small dataset used to exercise the sandbox",
        "description": "Files published through the official client.",
        **(extra or {}),
    }
    (folder / "dataset-metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def rpc_calls(sandbox: SandboxServer, name: str, since: int = 0) -> list[dict]:
    return [e for e in sandbox.request_log(since) if (e.get("rpc") or "").endswith("/" + name)]


def puts(sandbox: SandboxServer, since: int = 0) -> list[dict]:
    return [e for e in sandbox.request_log(since) if e["method"] == "PUT"]


def csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))
