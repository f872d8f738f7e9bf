"""DownloadDataset answers with a redirect to a signed, expiring URL (as Kaggle
redirects to signed storage URLs); this module signs those URLs and serves them
with the headers the client's resumable download relies on (Content-Length,
Last-Modified, ETag, Accept-Ranges, Range/If-Range)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


class Signer:
    def __init__(self, data_dir: Path, ttl: float = 6 * 3600):
        self.ttl = ttl
        secret_file = data_dir / "secret"
        if not secret_file.exists():
            secret_file.write_bytes(secrets.token_bytes(32))
            secret_file.chmod(0o600)
        self.secret = secret_file.read_bytes()

    def _sign(self, kind: str, dataset_id: int, version: int, name: str, expires: int) -> str:
        message = f"{kind}\n{dataset_id}\n{version}\n{name}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def url(self, base: str, kind: str, dataset_id: int, version: int, name: str) -> str:
        expires = int(time.time() + self.ttl)
        sig = self._sign(kind, dataset_id, version, name, expires)
        return (
            f"{base}/_blobs/{kind}/{dataset_id}/{version}/{quote(name)}?expires={expires}&sig={sig}"
        )

    def verify(
        self, kind: str, dataset_id: int, version: int, name: str, expires: str, sig: str
    ) -> bool:
        try:
            deadline = int(expires)
        except ValueError:
            return False
        expected = self._sign(kind, dataset_id, version, name, deadline)
        return deadline >= time.time() and hmac.compare_digest(expected, sig)


def file_headers(path: Path) -> tuple[int, str, str]:
    info = path.stat()
    etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
    return info.st_size, etag, formatdate(info.st_mtime, usegmt=True)


def plan_range(
    size: int, etag: str, last_modified: str, range_header: str | None, if_range: str | None
) -> tuple[int, int, int]:
    """Returns (status, first byte, last byte); status 416 when nothing can be sent."""
    if not range_header or (if_range and if_range not in (etag, last_modified)):
        return 200, 0, size - 1
    match = _RANGE_RE.match(range_header.strip())
    if not match:
        return 200, 0, size - 1
    first = int(match.group(1))
    last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    if first >= size or first > last:
        return 416, 0, -1
    return 206, first, last


def copy_range(path: Path, out, first: int, last: int, limit: int | None = None) -> None:
    remaining = last - first + 1 if limit is None else min(limit, last - first + 1)
    with path.open("rb") as src:
        src.seek(first)
        while remaining > 0:
            chunk = src.read(min(remaining, 256 * 1024))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
