"""Fault injection: make the next N calls of a method misbehave, and throttle uploads.

Faults come from the admin endpoint (`POST /_sandbox/faults`) or from a control
file, `<data-dir>/faults.json`, which a person can write by hand while the server
runs: it is read on the next request and renamed to `faults.json.applied`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Names used for the two non-RPC entry points.
UPLOAD = "Upload"
DOWNLOAD = "Download"
# Faults that act on the HTTP exchange before the request is handled.
BEFORE_KINDS = ("hang", "drop")
# Faults that let the request take effect, then spoil the answer: the connection is
# dropped, an HTTP error comes back, or a refusal comes back although it was done.
AFTER_KINDS = ("act_then_drop", "act_then_error", "act_then_refuse")
# Faults that decide how the version a create/version makes ends its processing.
PROCESSING_KINDS = ("fail_processing", "stuck_processing", "deleted_processing", "reprocessing")
SPECIAL_KINDS = BEFORE_KINDS + AFTER_KINDS + PROCESSING_KINDS
ENVELOPES = ("flat", "nested")


class FaultError(ValueError):
    pass


@dataclass
class Fault:
    id: int
    method: str
    kind: str
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    seconds: float | None = None
    after_bytes: int | None = None
    message: str | None = None
    envelope: str = "flat"

    @property
    def phase(self) -> str:
        if self.kind in AFTER_KINDS:
            return "after"
        if self.kind in PROCESSING_KINDS:
            return "processing"
        return "before"

    def matches(self, method: str) -> bool:
        short = method.rsplit("/", 1)[-1]
        return self.method in ("*", method, short)

    def to_dict(self) -> dict:
        return asdict(self)


def _parse(spec: dict, fault_id: int) -> Fault:
    if not isinstance(spec, dict):
        raise FaultError("a fault is a JSON object")
    method = str(spec.get("method") or "").strip()
    kind = str(spec.get("kind") or "").strip().lower()
    if not method or not kind:
        raise FaultError("a fault needs 'method' and 'kind'")
    status = spec.get("status")
    if kind == "error":
        kind = str(status or 503)
    if kind == "act_then_error":
        status = int(status or 500)
    if kind not in SPECIAL_KINDS:
        if not kind.isdigit() or not 400 <= int(kind) <= 599:
            raise FaultError(f"unknown fault kind {kind!r}: use an HTTP status, {SPECIAL_KINDS}")
        status = int(kind)
    count = int(spec.get("count", 1))
    if count == 0 or count < -1:
        raise FaultError("count is a positive number, or -1 for 'until cleared'")
    # No Retry-After unless asked for: no public source shows Kaggle sending one, and a
    # client must then back off on its own (FIDELITY.md, "429").
    retry_after = spec.get("retry_after")
    envelope = str(spec.get("envelope") or "flat")
    if envelope not in ENVELOPES:
        raise FaultError(f"envelope is one of {ENVELOPES}")
    after_bytes = spec.get("after_bytes")
    return Fault(
        id=fault_id,
        method=method,
        kind=kind,
        remaining=count,
        status=status,
        retry_after=float(retry_after) if retry_after is not None else None,
        seconds=float(spec["seconds"]) if spec.get("seconds") is not None else None,
        after_bytes=int(after_bytes) if after_bytes is not None else None,
        message=spec.get("message"),
        envelope=envelope,
    )


class FaultInjector:
    def __init__(self, control_file: Path | None = None, upload_bandwidth: int | None = None):
        self.control_file = control_file
        self.upload_bandwidth = upload_bandwidth
        self.shared_uplink = False
        self._uplink_lock = threading.Lock()
        self._uplink_free = 0.0
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, spec: dict) -> Fault:
        with self._lock:
            fault = _parse(spec, next(self._ids))
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict]:
        self.poll_control_file()
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def set_bandwidth(self, bytes_per_second: int | None, shared: bool | None = None) -> None:
        """`shared`: one limit for all uploads together (a lab's uplink), not one per
        connection; None keeps the current mode."""
        if bytes_per_second is not None and int(bytes_per_second) <= 0:
            raise FaultError("bytes_per_second must be positive (or null for no limit)")
        self.upload_bandwidth = int(bytes_per_second) if bytes_per_second else None
        if shared is not None:
            self.shared_uplink = bool(shared)

    def uplink_slot(self, n: int, rate: int) -> float:
        """Shared mode: reserves the time `n` bytes take on the one uplink; returns when
        (monotonic) the caller may go on. Connections queue behind each other's bytes.

        The link keeps sending while the server handles a chunk (a link has buffers):
        time the uplink sat unused is made up for, up to UPLINK_CATCH_UP. Without it,
        each chunk's handling was added to its transfer time and one connection got
        ~0.7 × the configured rate."""
        with self._uplink_lock:
            now = time.monotonic()
            start = max(now - UPLINK_CATCH_UP, self._uplink_free)
            self._uplink_free = start + n / rate
            return self._uplink_free

    def take(self, method: str, *, phase: str = "before") -> Fault | None:
        """Consumes one matching fault of a phase: "before" (on the HTTP exchange,
        before the request is handled), "after" (once it took effect) or
        "processing" (how the version it made ends)."""
        self.poll_control_file()
        with self._lock:
            for fault in self._faults:
                if fault.phase != phase or not fault.matches(method):
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def poll_control_file(self) -> None:
        path = self.control_file
        if path is None or not path.exists():
            return
        applied = path.with_name(path.name + ".applied")
        try:
            path.replace(applied)
            data = json.loads(applied.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and ("faults" in data or "upload_bandwidth" in data):
            if "upload_bandwidth" in data:
                self.set_bandwidth(data["upload_bandwidth"], data.get("shared_uplink"))
            specs = data.get("faults", [])
        else:
            specs = data if isinstance(data, list) else [data]
        for spec in specs:
            try:
                self.add(spec)
            except (FaultError, TypeError, ValueError):
                continue


# How much unused uplink time the shared pacer makes up for (see uplink_slot).
UPLINK_CATCH_UP = 0.05


class Throttle:
    """Paces reads of an upload body to the injector's current bandwidth limit."""

    def __init__(self, injector: FaultInjector):
        self.injector = injector
        self.started = time.monotonic()
        self.count = 0

    def chunk_size(self) -> int:
        rate = self.injector.upload_bandwidth
        return max(1024, min(64 * 1024, rate // 10)) if rate else 256 * 1024

    def consumed(self, n: int) -> None:
        self.count += n
        rate = self.injector.upload_bandwidth
        if not rate:
            return
        if self.injector.shared_uplink:
            wait = self.injector.uplink_slot(n, rate) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            return
        ahead = self.count / rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)
