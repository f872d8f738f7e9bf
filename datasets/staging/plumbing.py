"""The pipes: copying through a writer that hashes on a second thread, periodic
writeback, temporary output files renamed when complete, throttled progress."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import threading
import time
import uuid
from pathlib import Path

from .model import (
    BUFFERS,
    CHUNK_SIZE,
    PROGRESS_BYTES,
    PROGRESS_SECONDS,
    STOP_CHECK_SECONDS,
    WRITEBACK_BYTES,
    StagingCancelled,
)


def _pump(fd: int, sink: _HashingWriter, ticker: _Ticker) -> int:
    reader = io.FileIO(fd, closefd=False)
    done = 0
    while True:
        buf = sink.buffer()
        n = reader.readinto(buf)
        if not n:
            sink.release(buf)
            return done
        sink.commit(buf, n)
        done += n
        ticker.advance(n)


# --- Plumbing --------------------------------------------------------------------------


class _HashingWriter:
    """Writes to a file descriptor while a second thread sha256-hashes the same bytes.

    Buffers come from a fixed pool: a buffer goes back to the pool only once it is
    hashed, and the writer has finished with it before asking for the next one, so the
    reader can never overwrite bytes still in use. hashlib and os.write both release the
    GIL on large buffers, which is what lets the two run on two cores."""

    def __init__(self, fd: int, writeback: bool = False):
        self._fd = fd
        self._flusher = _Flusher(fd) if writeback else None
        self._flushed = 0
        self._hash = hashlib.sha256()
        self._todo: queue.Queue = queue.Queue(maxsize=BUFFERS)
        self._free: queue.Queue = queue.Queue()
        for _ in range(BUFFERS):
            self._free.put(bytearray(CHUNK_SIZE))
        self.size = 0
        self._thread = threading.Thread(target=self._run, name="staging-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            task = self._todo.get()
            if task is None:
                return
            data, buf = task
            self._hash.update(data)
            if buf is not None:
                if isinstance(data, memoryview):
                    data.release()
                self._free.put(buf)

    def buffer(self) -> bytearray:
        return self._free.get()

    def release(self, buf: bytearray) -> None:
        self._free.put(buf)

    def commit(self, buf: bytearray, n: int) -> None:
        """Writes and hashes the first n bytes of a pool buffer, then returns it to the pool."""
        self._todo.put((memoryview(buf)[:n], buf))
        self._write(memoryview(buf)[:n])

    def write(self, data: bytes) -> None:
        """Writes and hashes bytes the caller will not change (compressor output, headers)."""
        if data:
            self._todo.put((data, None))
            self._write(data)

    def _write(self, view) -> None:
        view = memoryview(view)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self.size += written
        if self._flusher and self.size - self._flushed >= WRITEBACK_BYTES:
            self._flusher.kick()
            self._flushed = self.size

    def hexdigest(self) -> str:
        self.stop()
        return self._hash.hexdigest()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._todo.put(None)
            self._thread.join()
        if self._flusher:
            self._flusher.stop()


class _Flusher:
    """fdatasync in a background thread while the copy goes on, so the disk writes overlap
    the copy and the final fsync only waits for the tail."""

    def __init__(self, fd: int):
        self._fd = fd
        self._wake = threading.Event()
        self._done = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="staging-fsync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._done:
                return
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                # Reported by stop(): the kernel reports a write error to one fsync only.
                self._error = exc
                return

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._done = True
            self._wake.set()
            self._thread.join()
        if self._error:
            error, self._error = self._error, None
            raise error


class _Output:
    """A temporary file in the staging folder, renamed to its name only when complete."""

    def __init__(self, dest: Path, name: str, fsync: bool):
        self.final = dest / name
        self.tmp = dest / _temp_name(name)
        self._fsync = fsync
        self._fd = -1
        self.sink: _HashingWriter

    def __enter__(self) -> _Output:
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self.sink = _HashingWriter(self._fd, writeback=self._fsync)
        return self

    def finish(self) -> str:
        digest = self.sink.hexdigest()
        if self._fsync:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self.tmp, self.final)
        if self._fsync:
            dir_fd = os.open(self.final.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return digest

    def __exit__(self, exc_type, exc, tb) -> None:
        self.sink.stop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            _unlink_quietly(self.tmp)


class _Ticker:
    """Throttles progress callbacks and stop checks: both may touch the database."""

    def __init__(self, progress, should_stop):
        self._progress = progress
        self._should_stop = should_stop
        self._pending = 0
        self._last_progress = self._last_check = time.monotonic()

    def advance(self, n: int) -> None:
        self._pending += n
        now = time.monotonic()
        if self._progress and (
            self._pending >= PROGRESS_BYTES or now - self._last_progress >= PROGRESS_SECONDS
        ):
            self.flush(now)
        if now - self._last_check >= STOP_CHECK_SECONDS:
            self.check_stop(now=now)

    def flush(self, now: float | None = None) -> None:
        if self._progress and self._pending:
            self._progress(self._pending)
        self._pending = 0
        self._last_progress = now or time.monotonic()

    def check_stop(self, *, force: bool = False, now: float | None = None) -> None:
        now = now or time.monotonic()
        if self._should_stop and (force or now - self._last_check >= STOP_CHECK_SECONDS):
            self._last_check = now
            if self._should_stop():
                raise StagingCancelled("Staging was cancelled.")


def _temp_name(name: str) -> str:
    return f".{name}.{uuid.uuid4().hex[:12]}.part"


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _advise_sequential(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
