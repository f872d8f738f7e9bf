"""Blob uploads: StartBlobUpload sessions and the resumable PUT to their createUrl.

The PUT follows Google Cloud Storage's resumable-upload rules, which the client
is written against (kaggle_api_extended.upload_complete / _resume_upload):
200 when the object is complete, 308 + `Range: bytes=0-K` while it is partial,
404 once the session has expired. Received bytes are written to disk as they
arrive, so a transfer cut off half-way (or a server restart) keeps them.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .faults import Fault, Throttle

# GCS keeps a resumable session for a week; the client gives up on it after 6 days.
DEFAULT_TTL = 7 * 24 * 3600
BLOB_TYPES = ("DATASET", "MODEL", "INBOX", "COMPETITION_SOLUTION")
_RANGE_RE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


@dataclass
class UploadResult:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False
    hang: float | None = None


class BlobStore:
    def __init__(
        self, root: Path, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time
    ):
        self.root = root
        self.ttl = ttl
        self.clock = clock
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._session_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._by_upload: dict[str, dict] = {}
        self._by_token: dict[str, dict] = {}
        for meta in root.glob("*.json"):
            try:
                blob = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            self._index(blob)

    def _index(self, blob: dict) -> None:
        self._by_upload[blob["upload_id"]] = blob
        self._by_token[blob["token"]] = blob

    def _save(self, blob: dict) -> None:
        path = self.root / f"{blob['upload_id']}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(blob, indent=1), encoding="utf-8")
        tmp.replace(path)

    def data_path(self, blob: dict) -> Path:
        return self.root / f"{blob['upload_id']}.data"

    def start(
        self,
        *,
        username: str,
        blob_type: str,
        name: str,
        content_length: int,
        last_modified: int | None,
    ) -> dict:
        blob = {
            "token": secrets.token_urlsafe(24),
            "upload_id": secrets.token_urlsafe(24),
            "username": username,
            "type": blob_type,
            "name": name,
            "content_length": content_length,
            "last_modified": last_modified,
            "created": self.clock(),
            "complete": False,
            "expired": False,
            "used_by": None,
        }
        with self._lock:
            self._save(blob)
            self._index(blob)
        return blob

    def live(self, blob: dict) -> bool:
        return not blob["expired"] and blob["created"] + self.ttl > self.clock()

    def by_token(self, token: str) -> dict | None:
        blob = self._by_token.get(token)
        return blob if blob is not None and self.live(blob) else None

    def received(self, blob: dict) -> int:
        if blob["complete"]:
            return blob["content_length"]
        path = self.data_path(blob)
        return path.stat().st_size if path.exists() else 0

    def mark_used(self, token: str, ref: str) -> None:
        with self._lock:
            blob = self._by_token[token]
            blob["used_by"] = ref
            self._save(blob)

    def expire(self, *, include_complete: bool = False) -> int:
        count = 0
        with self._lock:
            for blob in self._by_upload.values():
                if (
                    blob["expired"]
                    or blob["used_by"]
                    or (blob["complete"] and not include_complete)
                ):
                    continue
                blob["expired"] = True
                self._save(blob)
                self.data_path(blob).unlink(missing_ok=True)
                count += 1
        return count

    def summaries(self) -> list[dict]:
        return [
            {
                "token": b["token"],
                "upload_id": b["upload_id"],
                "name": b["name"],
                "username": b["username"],
                "content_length": b["content_length"],
                "received": self.received(b),
                "complete": b["complete"],
                "live": self.live(b),
                "used_by": b["used_by"],
            }
            for b in list(self._by_upload.values())
        ]

    # --- the resumable PUT ------------------------------------------------------
    def put(
        self,
        upload_id: str,
        content_range: str | None,
        length: int,
        read: Callable[[int], bytes],
        fault: Fault | None,
        throttle: Throttle,
    ) -> UploadResult:
        blob = self._by_upload.get(upload_id)
        if blob is None or not self.live(blob):
            _drain(read, length)
            return UploadResult(404, body=b"No such upload session (unknown or expired).")
        with self._session_locks[upload_id]:
            return self._put(blob, content_range, length, read, fault, throttle)

    def _put(self, blob, content_range, length, read, fault, throttle) -> UploadResult:
        total = blob["content_length"]
        match = _RANGE_RE.match(content_range.strip()) if content_range else None
        if content_range and not match:
            _drain(read, length)
            return UploadResult(400, body=b"Malformed Content-Range.")
        if match and match.group(3) != "*" and int(match.group(3)) != total:
            _drain(read, length)
            return UploadResult(400, body=b"Content-Range total differs from the session's size.")
        if match and match.group(1) is None:
            _drain(read, length)
            return self._status(blob)
        if blob["complete"]:
            _drain(read, length)
            return self._status(blob)
        start = int(match.group(1)) if match else 0
        if match and int(match.group(2)) - start + 1 != length:
            _drain(read, length)
            return UploadResult(400, body=b"Content-Range does not match Content-Length.")
        if start > self.received(blob) or start + length > total:
            _drain(read, length)
            return UploadResult(400, body=b"Content-Range is outside what this session can accept.")
        keep = length
        if fault is not None:
            keep = min(length, fault.after_bytes or 0)
        written = self._write(blob, start, read, keep, throttle)
        if fault is not None:
            if fault.kind == "drop":
                return UploadResult(drop=True)
            if fault.kind == "hang":
                return UploadResult(hang=fault.seconds or 3600.0)
            _drain(read, length - keep)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
            return UploadResult(fault.status or 503, headers, fault_text(fault).encode())
        if written < length:
            return UploadResult(drop=True)  # the client went away mid-body
        if start + written == total:
            with self._lock:
                blob["complete"] = True
                self._save(blob)
        return self._status(blob)

    def _write(self, blob, start, read, length, throttle) -> int:
        path = self.data_path(blob)
        path.touch(exist_ok=True)
        written = 0
        with path.open("r+b") as out:
            out.seek(start)
            out.truncate(start)
            while written < length:
                try:
                    chunk = read(min(throttle.chunk_size(), length - written))
                except OSError:
                    break
                if not chunk:
                    break
                out.write(chunk)
                out.flush()
                written += len(chunk)
                throttle.consumed(len(chunk))
        return written

    def _status(self, blob: dict) -> UploadResult:
        if blob["complete"]:
            body = json.dumps({"name": blob["name"], "size": str(blob["content_length"])})
            return UploadResult(200, {"Content-Type": "application/json"}, body.encode())
        received = self.received(blob)
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        return UploadResult(308, headers)


def fault_text(fault: Fault) -> str:
    if fault.message:
        return fault.message
    return {
        429: "TooManyRequests",  # kaggle-cli #132
        500: "Internal error",
        503: "Service temporarily unavailable",
    }.get(fault.status or 0, f"Injected error {fault.status}")


def _drain(read: Callable[[int], bytes], length: int) -> None:
    while length > 0:
        try:
            chunk = read(min(length, 256 * 1024))
        except OSError:
            return
        if not chunk:
            return
        length -= len(chunk)
