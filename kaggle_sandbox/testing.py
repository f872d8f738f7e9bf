"""Start a sandbox for tests or a supervisor, and drive it from outside.

    with run_sandbox(tmp_path / "kaggle") as sandbox:
        env = sandbox.client_env()              # full environment for a `kaggle` subprocess
        sandbox.inject_fault("CreateDataset", "503")
        subprocess.run(["kaggle", "datasets", "create", "-p", folder], env=env)

`mode="thread"` serves from a thread of this process; `mode="subprocess"` runs
`python -m kaggle_sandbox` (what a process supervisor runs) and survives
`restart()` with its data dir, as the real command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import DEFAULT_KEY, DEFAULT_USERNAME
from .accounts import Accounts
from .server import SandboxConfig, SandboxHTTPServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# Admin calls must reach 127.0.0.1 directly, whatever proxy this process is told to use.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_CLIENT_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class SandboxError(RuntimeError):
    pass


class SandboxServer:
    def __init__(
        self,
        data_dir: str | Path,
        *,
        port: int | None = None,
        processing_delay: float = 0.2,
        accounts: Accounts | dict | str | Path | None = None,
        upload_bandwidth: int | None = None,
        mode: str = "thread",
        quiet: bool = True,
        python: str | None = None,
        settings: dict | None = None,
    ):
        """`settings`: fidelity settings (kaggle_sandbox/settings.py, README), e.g.
        {"resent_uploads": "refuse"}; unnamed ones keep their (harsh) defaults."""
        if mode not in ("thread", "subprocess"):
            raise ValueError("mode is 'thread' or 'subprocess'")
        self.data_dir = Path(data_dir).resolve()
        self.port = port or 0
        self.processing_delay = processing_delay
        self.accounts = accounts
        self.upload_bandwidth = upload_bandwidth
        self.mode = mode
        self.quiet = quiet
        self.python = python or sys.executable
        self.settings_overrides = dict(settings or {})
        self.process: subprocess.Popen | None = None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        if self.mode == "thread":
            return self._server is not None
        return self.process is not None and self.process.poll() is None

    def _accounts(self) -> Accounts | None:
        if self.accounts is None or isinstance(self.accounts, Accounts):
            return self.accounts
        if isinstance(self.accounts, dict):
            return Accounts.from_dict(self.accounts)
        return Accounts.from_file(self.accounts)

    def start(self, timeout: float = 20.0) -> SandboxServer:
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_process(timeout)
        return self

    def _start_thread(self) -> None:
        config = SandboxConfig(
            data_dir=self.data_dir,
            port=self.port,
            accounts=self._accounts(),
            processing_delay=self.processing_delay,
            upload_bandwidth=self.upload_bandwidth,
            quiet=self.quiet,
            settings=self.settings_overrides,
        )
        self._server = SandboxHTTPServer(config)
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"kaggle-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _start_process(self, timeout: float) -> None:
        ready = self.data_dir / "ready.json"
        ready.unlink(missing_ok=True)
        cmd = [self.python, "-m", "kaggle_sandbox", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--ready-file", str(ready)]
        cmd += ["--processing-delay", str(self.processing_delay)]
        if self.upload_bandwidth:
            cmd += ["--upload-bandwidth", str(self.upload_bandwidth)]
        accounts = self._accounts()
        if accounts is not None:
            path = self.data_dir / "accounts.json"
            path.write_text(json.dumps(accounts.to_dict()), encoding="utf-8")
            cmd += ["--accounts", str(path)]
        for name, value in self.settings_overrides.items():
            cmd += ["--setting", f"{name}={_setting_text(value)}"]
        if self.quiet:
            cmd.append("--quiet")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                raise SandboxError(f"the sandbox did not start:\n{tail}")
            time.sleep(0.05)
        self.port = json.loads(ready.read_text())["port"]

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout)
            self._server = self._thread = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            self.process = None

    def restart(self) -> SandboxServer:
        """Stops and starts again on the same port with the same data dir."""
        self.stop()
        return self.start()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- pointing the official client here ------------------------------------------
    def proxy_env(
        self,
        username: str = DEFAULT_USERNAME,
        key: str | None = DEFAULT_KEY,
        *,
        token: str | None = None,
        isolate_home: bool = True,
        tmpdir: str | Path | None = None,
    ) -> dict[str, str]:
        """Variables that send the unmodified client to this sandbox as `username`.

        KAGGLE_CONFIG_DIR (and HOME, unless isolate_home=False) point at a private
        folder, because ~/.kaggle/access_token or kaggle.json would otherwise
        override or replace the key. With `token`, KAGGLE_API_TOKEN is used instead
        of the key. `tmpdir` isolates the client's resumable-upload state.
        """
        base = self.data_dir / "clients" / username
        config_dir, home = base / "config", base / "home"
        for folder in (config_dir, home):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": self.url,
            "http_proxy": self.url,
            "NO_PROXY": "",
            "no_proxy": "",
            "KAGGLE_USERNAME": username,
            "KAGGLE_CONFIG_DIR": str(config_dir),
        }
        if token:
            env["KAGGLE_API_TOKEN"] = token
        elif key is not None:
            env["KAGGLE_KEY"] = key
        if isolate_home:
            env["HOME"] = str(home)
        if tmpdir is not None:
            env["TMPDIR"] = str(tmpdir)
        return env

    def client_env(
        self,
        username: str = DEFAULT_USERNAME,
        key: str | None = DEFAULT_KEY,
        *,
        base: dict[str, str] | None = None,
        **options,
    ) -> dict[str, str]:
        """A complete environment for a client subprocess: `base` (default: this
        process's) without any KAGGLE_* or proxy variable, plus proxy_env()."""
        env = {
            name: value
            for name, value in (os.environ if base is None else base).items()
            if not name.startswith("KAGGLE_") and name.lower() not in _CLIENT_VARS
        }
        env.update(self.proxy_env(username, key, **options))
        env.setdefault("PYTHONIOENCODING", "utf-8")
        return env

    # --- control and inspection -------------------------------------------------------
    def _admin(self, verb: str, action: str, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            f"{self.url}/_sandbox/{action}",
            data=data,
            method=verb,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _DIRECT.open(request, timeout=15) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SandboxError(f"{verb} /_sandbox/{action}: {exc.read().decode()}") from exc

    def inject_fault(
        self,
        method: str,
        kind: str | int,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        seconds: float | None = None,
        after_bytes: int | None = None,
        message: str | None = None,
        envelope: str | None = None,
    ) -> dict:
        """Makes the next `count` calls of `method` misbehave (-1: until cleared).

        method: an RPC name ("CreateDataset", "StartBlobUpload", ...), "Upload" (the
        PUT to an upload URL), "Download" (the GET a download redirects to) or "*".
        kind: an HTTP status ("503", "500", "429", ...), "hang" (no answer for
        `seconds`, then the connection drops), "drop" (connection closed without an
        answer), "act_then_drop" / "act_then_error" / "act_then_refuse" (the request
        takes effect, then the connection drops / an HTTP error (status, default 500)
        / a refusal comes back), or how the version a create/version makes ends:
        "fail_processing", "stuck_processing", "deleted_processing", "reprocessing".
        On uploads and downloads, `after_bytes` lets that much of the body through
        first. `envelope`: "flat" ({code, message}) or "nested" ({error: {...}}).
        """
        spec = {"method": method, "kind": str(kind), "count": count}
        optional = {
            "status": status,
            "retry_after": retry_after,
            "seconds": seconds,
            "after_bytes": after_bytes,
            "message": message,
            "envelope": envelope,
        }
        spec.update({k: v for k, v in optional.items() if v is not None})
        return self._admin("POST", "faults", spec)["faults"][0]

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults", {})

    def faults(self) -> list[dict]:
        return self._admin("GET", "faults")["faults"]

    def set_upload_bandwidth(self, bytes_per_second: int | None, *, shared: bool = False) -> None:
        """`shared`: one limit for all uploads together (an uplink), else per connection."""
        self._admin("POST", "bandwidth", {"bytes_per_second": bytes_per_second, "shared": shared})

    def expire_uploads(self, include_complete: bool = False) -> int:
        return self._admin("POST", "expire-uploads", {"include_complete": include_complete})[
            "expired"
        ]

    def configure(self, **changes) -> dict:
        """Changes fidelity settings while the sandbox runs (kept across restarts)."""
        self.settings_overrides.update(changes)
        return self._admin("POST", "settings", changes)["settings"]

    def settings(self) -> dict:
        return self._admin("GET", "settings")["settings"]

    def reprocess(self, ref: str, seconds: float | None = None) -> int:
        """Sends the dataset's ready version through REPROCESSING again, for `seconds`
        (default: the processing delay)."""
        payload = {"ref": ref} if seconds is None else {"ref": ref, "seconds": seconds}
        return self._admin("POST", "reprocess", payload)["reprocessing"]

    def state(self) -> dict:
        return self._admin("GET", "state")

    def request_log(self, since: int = 0) -> list[dict]:
        return self._admin("GET", f"log?since={since}")["requests"]

    def clear_log(self) -> None:
        self._admin("POST", "clear-log", {})

    def dataset(self, ref: str) -> dict | None:
        return next((d for d in self.state()["datasets"] if d["ref"] == ref), None)

    def wait_for_status(self, ref: str, status: str = "READY", timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            dataset = self.dataset(ref)
            if dataset is not None and dataset["status"] == status:
                return dataset
            if time.monotonic() > deadline:
                raise SandboxError(f"{ref} did not reach {status}: {dataset}")
            time.sleep(0.05)


def _setting_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@contextmanager
def run_sandbox(
    data_dir: str | Path,
    port: int | None = None,
    processing_delay: float = 0.2,
    **options,
) -> Iterator[SandboxServer]:
    server = SandboxServer(data_dir, port=port, processing_delay=processing_delay, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
