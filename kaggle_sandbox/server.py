"""The HTTP server: routing, authentication, fault application, request log.

The official client can only be pointed at `http://localhost/api/v1/...` (port
80) and honours HTTP_PROXY, so clients reach the sandbox as a proxy and send
absolute-form targets (`POST http://localhost/api/v1/... HTTP/1.1`). Both those
and plain paths (`/api/v1/...`, `/v1/...`) are accepted, and the URLs handed out
(upload sessions, downloads) are built from whatever address the client used.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import admin, downloads, pages, rules
from .accounts import Accounts
from .blobs import DEFAULT_TTL, BlobStore, fault_text
from .calls import ApiError, Call, Redirect
from .faults import DOWNLOAD, UPLOAD, Fault, FaultInjector, Throttle
from .service import Service
from .settings import Settings
from .store import Store

log = logging.getLogger("kaggle_sandbox")


@dataclass
class SandboxConfig:
    data_dir: Path
    port: int = 7777
    host: str = "127.0.0.1"
    accounts: Accounts | None = None
    processing_delay: float = 3.0
    upload_bandwidth: int | None = None
    upload_ttl: float = DEFAULT_TTL
    public_url: str | None = None
    quiet: bool = False
    # Overrides of the fidelity settings (settings.py); the rest come from
    # <data-dir>/settings.json or the defaults.
    settings: dict | None = None


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung request must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, config: SandboxConfig):
        self.config = config
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.accounts = config.accounts or Accounts.default()
        self.store = Store(data_dir, config.processing_delay)
        self.blobs = BlobStore(data_dir / "blobs", ttl=config.upload_ttl)
        self.faults = FaultInjector(data_dir / "faults.json", config.upload_bandwidth)
        self.signer = downloads.Signer(data_dir)
        self.settings_path = data_dir / "settings.json"
        self.settings = Settings.load(self.settings_path, config.settings)
        self.settings.save(self.settings_path)
        self.service = Service(
            self.store, self.blobs, self.accounts, self.faults, self.signer, self.settings
        )
        self.stopping = threading.Event()
        self.request_log: deque[dict] = deque(maxlen=5000)
        self.log_counter = 0
        self.log_lock = threading.Lock()
        super().__init__((config.host, config.port), Handler)

    def server_bind(self):
        # A small receive window makes an upload bandwidth limit visible to the
        # client's own progress bar instead of vanishing into kernel buffers.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        super().server_bind()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def public_url(self) -> str:
        return (self.config.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    def shutdown(self):
        self.stopping.set()
        super().shutdown()

    def record(self, entry: dict) -> None:
        with self.log_lock:
            self.log_counter += 1
            entry["seq"] = self.log_counter
            self.request_log.append(entry)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KaggleSandbox/1.0"
    sys_version = ""
    timeout = 600  # idle keep-alive connections and vanished clients
    # Headers and body go out in two writes: with Nagle on, the body waits for the
    # client's delayed ACK (40 ms) on every keep-alive answer. Latency is the network's
    # and the faults' to add (FIDELITY.md B36), never an accident of the socket.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def log_message(self, format, *args):
        if not self.server.config.quiet:
            log.info("%s %s", self.address_string(), format % args)

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    # --- plumbing -----------------------------------------------------------------
    def _handle(self):
        self._status = 0
        self._entry = {"time": time.time(), "method": self.command, "target": self.path}
        raw = self.path
        parts = urlsplit(raw)
        if raw.startswith(("http://", "https://")):
            self.base = f"{parts.scheme}://{parts.netloc}"
        else:
            self.base = f"http://{self.headers.get('Host') or f'127.0.0.1:{self.server.port}'}"
        self.route, self.query = parts.path, parse_qs(parts.query)
        try:
            self._dispatch()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.error("unhandled error for %s %s\n%s", self.command, raw, traceback.format_exc())
            if not self._status:
                self.send_json(500, {"code": 500, "message": "Internal error"})
        finally:
            self._entry["status"] = self._status or None
            self.server.record(self._entry)

    def _dispatch(self):
        route, verb = self.route, self.command
        for prefix in ("/api/v1/", "/v1/"):
            if route.startswith(prefix) and verb == "POST":
                return self._rpc(unquote(route[len(prefix) :]))
        if route.startswith("/upload/") and verb == "PUT":
            return self._upload()
        if route.startswith("/_blobs/") and verb in ("GET", "HEAD"):
            return self._download()
        if route.startswith("/_sandbox/"):
            return admin.handle(self, route[len("/_sandbox/") :])
        if verb in ("GET", "HEAD"):
            return self._page()
        self.read_body()
        return self.send_json(404, {"code": 404, "message": f"No route for {verb} {route}"})

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload, headers=None):
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_bytes(status, body, "application/json; charset=utf-8", headers)

    def abort(self):
        """Drops the connection without an answer (the client sees a reset)."""
        self.close_connection = True
        self._status = 0
        try:
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
        except OSError:
            pass

    def apply_fault(self, fault: Fault, *, json_body: bool = True) -> None:
        self._entry["fault"] = fault.kind
        if fault.kind == "hang":
            self.server.stopping.wait(fault.seconds or 3600.0)
            return self.abort()
        if fault.kind == "drop":
            return self.abort()
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
        status = fault.status or 503
        if json_body:
            return self.send_json(status, error_body(status, fault), headers)
        return self.send_bytes(status, fault_text(fault).encode(), "text/plain", headers)

    def apply_after_fault(self, fault: Fault, result: dict) -> None:
        """The request took effect; now the answer is spoiled."""
        self._entry["fault"] = fault.kind
        if fault.kind == "act_then_drop":
            return self.abort()
        if fault.kind == "act_then_error":
            status = fault.status or 500
            if not fault.message and status == 500:
                fault.message = rules.INTERNAL_ERROR
            return self.send_json(status, error_body(status, fault))
        message = fault.message or rules.USABILITY_REFUSAL
        if "errors" in result:
            return self.send_json(200, {"errors": [message]})
        return self.send_json(200, {"status": "error", "error": message})

    # --- RPCs -------------------------------------------------------------------------
    def _rpc(self, rpc: str):
        raw = self.read_body()
        method = rpc.rsplit("/", 1)[-1]
        self._entry["rpc"] = rpc
        fault = self.server.faults.take(rpc)
        if fault is not None:
            return self.apply_fault(fault)
        presented, username = self.server.accounts.authenticate(self.headers.get("Authorization"))
        self._entry["user"] = username
        if presented and username is None and method != "IntrospectToken":
            return self.send_json(401, {"code": 401, "message": "Unauthenticated"})
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return self.send_json(400, {"code": 400, "message": "The request body is not JSON"})
        self._entry["body"] = body
        call = Call(method, username, self.base, self.server.public_url)
        try:
            result = self.server.service.dispatch(rpc, call, body)
        except ApiError as exc:
            return self.send_json(exc.status, {"code": exc.status, "message": exc.message})
        if isinstance(result, Redirect):
            return self.send_bytes(302, b"", "text/plain", {"Location": result.url})
        self._entry["response"] = result
        after = self.server.faults.take(rpc, phase="after")
        if after is not None:
            return self.apply_after_fault(after, result)
        return self.send_json(200, result)

    # --- uploads ----------------------------------------------------------------------
    def _upload(self):
        upload_id = (self.query.get("upload_id") or [self.route.rsplit("/", 1)[-1]])[0]
        content_range = self.headers.get("Content-Range")
        self._entry.update(upload_id=upload_id, content_range=content_range)
        read = self.rfile.read
        spool = None
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # requests sends a zero-byte file this way; Cloud Storage accepts it.
            self._entry["chunked"] = True
            spool = read_chunked(self.rfile)
            if spool is None:
                self.close_connection = True
                return self.send_bytes(400, b"Malformed chunked body", "text/plain")
            length, read = spool.seek(0, 2), spool.read
            spool.seek(0)
        elif self.headers.get("Content-Length") is None:
            self.close_connection = True
            return self.send_bytes(411, b"Content-Length required", "text/plain")
        else:
            length = int(self.headers["Content-Length"])
        self._entry["content_length"] = length
        fault = self.server.faults.take(UPLOAD)
        if fault is not None:
            self._entry["fault"] = fault.kind
        try:
            result = self.server.blobs.put(
                upload_id, content_range, length, read, fault, Throttle(self.server.faults)
            )
        finally:
            if spool is not None:
                spool.close()
        if result.hang is not None:
            self.server.stopping.wait(result.hang)
            return self.abort()
        if result.drop:
            return self.abort()
        content_type = result.headers.pop("Content-Type", "text/plain")
        return self.send_bytes(result.status, result.body, content_type, result.headers)

    # --- downloads ------------------------------------------------------------------
    def _download(self):
        store, signer = self.server.store, self.server.signer
        parts = self.route[len("/_blobs/") :].split("/", 3)
        fault = self.server.faults.take(DOWNLOAD)
        if fault is not None and fault.after_bytes is None:
            return self.apply_fault(fault, json_body=False)
        try:
            kind, dataset_id, number, name = (
                parts[0],
                int(parts[1]),
                int(parts[2]),
                unquote(parts[3]),
            )
        except (IndexError, ValueError):
            return self.send_bytes(404, b"Not found", "text/plain")
        expires = (self.query.get("expires") or [""])[0]
        sig = (self.query.get("sig") or [""])[0]
        if not signer.verify(kind, dataset_id, number, name, expires, sig):
            return self.send_bytes(403, b"Signature invalid or expired", "text/plain")
        ds = store.find_by_id(dataset_id)
        version = store.version(ds, number) if ds else None
        path = None
        if version is not None and kind == "file":
            path = store.file_path(ds, version, name)
        elif version is not None and kind == "archive":
            path = store.version_zip(ds, version)
        if path is None or not path.exists():
            return self.send_bytes(404, b"Not found", "text/plain")
        size, etag, modified = downloads.file_headers(path)
        status, first, last = downloads.plan_range(
            size, etag, modified, self.headers.get("Range"), self.headers.get("If-Range")
        )
        if status == 416:
            return self.send_bytes(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
        self.send_response(status)
        ctype = "application/zip" if path.suffix == ".zip" else "application/octet-stream"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return None
        limit = fault.after_bytes if fault is not None else None
        downloads.copy_range(path, self.wfile, first, last, limit)
        if fault is not None:
            self._entry["fault"] = fault.kind
            self.abort()
        return None

    # --- pages ---------------------------------------------------------------------
    def _page(self):
        store = self.server.store
        segments = [unquote(s) for s in self.route.strip("/").split("/") if s]
        if not segments:
            return self.send_bytes(200, pages.index_page(store), "text/html; charset=utf-8")
        if len(segments) >= 3 and segments[0] == "datasets":
            ds = store.find(segments[1], segments[2])
            if ds is not None:
                page = pages.dataset_page(store, ds)
                return self.send_bytes(200, page, "text/html; charset=utf-8")
        return self.send_bytes(404, b"Not found", "text/plain")


# The gRPC status Google's nested error envelope names (kaggle-cli #931).
_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(status: int, fault: Fault) -> dict:
    """Kaggle answers errors in two envelopes: flat `{"code", "message"}` (#132) and
    nested `{"error": {"code", "message", "status"}}` (#931)."""
    if fault.envelope == "nested":
        message = fault.message or (
            rules.TOO_MANY_REQUESTS_NESTED if status == 429 else fault_text(fault)
        )
        grpc = _GRPC_STATUS.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": grpc}}
    return {"code": status, "message": fault_text(fault)}


def read_chunked(rfile, limit: int = 1 << 34):
    """Decodes a chunked request body into a temporary file (None if malformed)."""
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - caller closes
    total = 0
    try:
        while True:
            size_line = rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return spool
            total += size
            if total > limit:
                raise ValueError("too large")
            remaining = size
            while remaining:
                chunk = rfile.read(min(remaining, 256 * 1024))
                if not chunk:
                    raise ValueError("truncated")
                spool.write(chunk)
                remaining -= len(chunk)
            rfile.readline(1024)
    except (ValueError, OSError):
        spool.close()
        return None


def build_server(config: SandboxConfig) -> SandboxHTTPServer:
    return SandboxHTTPServer(config)
