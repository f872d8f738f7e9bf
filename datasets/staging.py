"""Staging: turn an approved file list into the folder the Kaggle client uploads.

Each source is read once. The bytes go to a temporary name in the staging folder while
a second thread hashes the same buffers (sha256), so hashing rides along with the copy
on another core instead of adding a second pass. Folders become zip or tar archives
written by Wharf and hashed as they are written. Memory is a fixed pool of buffers,
whatever the size of the data.

Pure Python on purpose: no Django here, so the engine can be benchmarked and tested on
its own, and the job code decides what a failure means for a PublishJob.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import queue
import shutil
import stat
import struct
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

try:
    # ISA-L's deflate at its level 3 is ~15x faster than zlib's default level (what the
    # kaggle client uses) for archives ~1.1x the size (bench/README.md). Its top level,
    # not its fastest: the upload to Kaggle, not packaging, is the slow step, and every
    # byte saved is a byte not uploaded.
    from isal import isal_zlib as _deflate

    DEFLATE_BACKEND = "isal"
    DEFLATE_LEVEL = 3
except ImportError:  # pragma: no cover - depends on the environment
    # Plain zlib stays correct but is ~3x slower at its fastest level, with archives
    # ~1.25x the client's: Wharf is meant to run with isal (requirements.txt).
    import zlib as _deflate

    DEFLATE_BACKEND = "zlib"
    DEFLATE_LEVEL = 1

logger = logging.getLogger(__name__)

METADATA_NAME = "dataset-metadata.json"

CHUNK_SIZE = 1 << 20
# Buffers in flight between the reader and the hashing thread: the whole memory cost.
BUFFERS = 8
PROGRESS_BYTES = 64 << 20
WRITEBACK_BYTES = 32 << 20
PROGRESS_SECONDS = 0.5
STOP_CHECK_SECONDS = 0.5
# Submissions freeze mtimes as float seconds, which carry ~0.4 us of rounding today.
MTIME_TOLERANCE_NS = 2_000

# Members whose bytes are already compressed: deflating them again costs time for nothing.
STORED_SUFFIXES = frozenset(
    [
        *(".zip", ".gz", ".tgz", ".bz2", ".xz", ".txz", ".zst", ".lz4", ".lzma", ".7z"),
        *(".rar", ".br", ".snappy", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif"),
        *(".heic", ".jp2", ".jxl", ".mp3", ".mp4", ".m4a", ".m4v", ".mov", ".mkv", ".webm"),
        *(".avi", ".ogg", ".ogv", ".opus", ".flac", ".parquet", ".orc", ".avro", ".feather"),
        *(".arrow", ".npz", ".h5", ".hdf5", ".nc", ".pt", ".pth", ".safetensors"),
        *(".tfrecord", ".pdf", ".docx", ".xlsx", ".pptx", ".jar", ".whl", ".epub"),
    ]
)
# A member whose first bytes shrink by less than this is stored: random-looking data
# (encrypted, float noise, unknown compressed formats) deflates slowly and not at all.
SAMPLE_SIZE = 256 << 10
INCOMPRESSIBLE_RATIO = 0.97

_ZIP64_LIMIT = (1 << 31) - 1
_U32 = 0xFFFFFFFF
_U16 = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_FLAG_DATA_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_STORED, _DEFLATED = 0, 8
_MADE_BY_UNIX = 3 << 8

_O_BENEATH_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO that replaced a file must not hang the worker.
_O_BENEATH_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class StagingError(Exception):
    """A staging failure a person can act on: `code` is stable, `message` names the file."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class StagingCancelled(Exception):
    """should_stop() asked staging to stop. Not a StagingError: cancelling is not failing."""


@dataclass(frozen=True)
class StageItem:
    """One approved file or folder. `expected_*` are what was frozen at submission; for a
    folder, expected_size is the total of its regular files, expected_mtime_ns the
    folder's own mtime (as storage.describe reports it), and expected_entries, when
    given, the (relpath, size, mtime_ns) of every file inside."""

    name: str
    source: Path
    kind: Literal["file", "folder"]
    expected_size: int | None = None
    expected_mtime_ns: int | None = None
    expected_entries: tuple[tuple[str, int, int | None], ...] | None = None


@dataclass
class ManifestEntry:
    name: str
    size: int
    sha256: str
    # Folder members left out of the archive (symlinks, devices, FIFOs), for the job log.
    skipped: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        data = {"name": self.name, "size": self.size, "sha256": self.sha256}
        if self.skipped:
            data["skipped"] = list(self.skipped)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ManifestEntry:
        return cls(
            name=data.get("name") or data["path"],
            size=int(data["size"]),
            sha256=data["sha256"],
            skipped=tuple(data.get("skipped") or ()),
        )


# --- Public API ------------------------------------------------------------------------


def stage(
    items: Iterable[StageItem],
    dest: Path,
    *,
    packaging: Literal["zip", "tar"],
    root: Path | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    fsync: bool = False,
) -> list[ManifestEntry]:
    """Stages every item into `dest` and returns the manifest, in item order.

    A file keeps its name; a folder becomes `name` as a zip or tar archive (the suffix is
    added when `name` lacks it). `root`, when given, is the storage root every source
    must stay inside, without following a symlink out of it. `progress(delta)` gets
    source bytes consumed, throttled; `should_stop()` is polled between chunks and
    raises StagingCancelled. Every output is written under a temporary name and renamed
    when complete; on any failure the temporary file is removed and outputs already
    completed stay for the caller to remove with remove_staging(). `fsync` makes each
    output durable before its rename (not needed when a crash restarts staging anyway).
    """
    if packaging not in ("zip", "tar"):
        raise ValueError(f"packaging must be 'zip' or 'tar', not {packaging!r}")
    items = list(items)
    for item in items:
        if item.kind not in ("file", "folder"):
            raise ValueError(f"kind must be 'file' or 'folder', not {item.kind!r}")
    names = [_output_name(item, packaging) for item in items]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise StagingError(
                "duplicate_name", f"Two files would be published as '{name}'; rename one."
            )
        seen.add(name)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ticker = _Ticker(progress, should_stop)
    manifest = []
    for item, name in zip(items, names, strict=True):
        ticker.check_stop(force=True)
        if item.kind == "file":
            entry = _stage_file(item, name, dest, root, ticker, fsync)
        else:
            entry = _stage_folder(item, name, dest, root, packaging, ticker, fsync)
        ticker.flush()
        manifest.append(entry)
    return manifest


def write_metadata(dest: Path, metadata: dict) -> None:
    """Writes dataset-metadata.json beside the staged files, complete or not at all."""
    data = (json.dumps(metadata, indent=2, ensure_ascii=False) + "\n").encode()
    dest = Path(dest)
    tmp = dest / _temp_name(METADATA_NAME)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.replace(tmp, dest / METADATA_NAME)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def manifest_equal(a: Iterable, b: Iterable) -> bool:
    """Same files with the same bytes. Entries may be ManifestEntry or their dicts (the
    last published manifest comes back from JSON)."""
    return _manifest_key(a) == _manifest_key(b)


def remove_staging(path: Path) -> None:
    """Removes a staging folder and everything in it; a missing folder is fine. Refuses a
    symlink, so a planted link cannot point the removal somewhere else."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{path} is not a staging folder")
    shutil.rmtree(path)


# --- Files -----------------------------------------------------------------------------


def _stage_file(item, name, dest, root, ticker, fsync) -> ManifestEntry:
    fd = _open_source(item, root, directory=False)
    try:
        st = os.fstat(fd)
        _check_expected(item, st.st_size, st.st_mtime_ns)
        _advise_sequential(fd)
        with _Output(dest, name, fsync) as out:
            done = _pump(fd, out.sink, ticker)
            _check_unchanged(item, fd, st, done)
            digest = out.finish()
    finally:
        os.close(fd)
    return ManifestEntry(name=name, size=done, sha256=digest)


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


# --- Folders ---------------------------------------------------------------------------


@dataclass
class _Member:
    parts: tuple[str, ...]
    arcname: str
    size: int
    mtime_ns: int


def _stage_folder(item, name, dest, root, packaging, ticker, fsync) -> ManifestEntry:
    dir_fd = _open_source(item, root, directory=True)
    try:
        folder_st = os.fstat(dir_fd)
        members, skipped = _list_folder(item, dir_fd)
        _check_expected(item, sum(m.size for m in members), folder_st.st_mtime_ns)
        _check_entries(item, members)
        for rel in skipped:
            logger.warning("staging %s: left %s out (not a regular file)", name, rel)
        with _Output(dest, name, fsync) as out:
            if packaging == "zip":
                _write_zip(item, dir_fd, members, out.sink, ticker)
            else:
                _write_tar(item, dir_fd, members, out.sink, ticker)
            size = out.sink.size
            digest = out.finish()
    finally:
        os.close(dir_fd)
    return ManifestEntry(name=name, size=size, sha256=digest, skipped=tuple(skipped))


def _list_folder(item: StageItem, top_fd: int) -> tuple[list[_Member], list[str]]:
    """Every regular file below the folder, sorted, found through directory fds opened
    with O_NOFOLLOW so no symlink is ever followed, whatever changes meanwhile."""
    members: list[_Member] = []
    skipped: list[str] = []
    stack: list[tuple[tuple[str, ...], int]] = [((), top_fd)]
    try:
        while stack:
            prefix, fd = stack.pop()
            try:
                _list_dir(item, fd, prefix, members, skipped, stack)
            finally:
                if fd != top_fd:
                    os.close(fd)
    finally:
        for _prefix, fd in stack:
            if fd != top_fd:
                os.close(fd)
    members.sort(key=lambda m: m.parts)
    return members, skipped


def _list_dir(item, fd, prefix, members, skipped, stack) -> None:
    try:
        with os.scandir(fd) as it:
            names = sorted(entry.name for entry in it)
    except PermissionError:
        raise StagingError(
            "source_unreadable",
            f"Wharf may not read the folder '{'/'.join(prefix) or '.'}' inside "
            f"{item.name} ({item.source}).",
        ) from None
    subdirs = []
    for child in names:
        parts = (*prefix, child)
        try:
            st = os.stat(child, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            subdirs.append(parts)
        elif stat.S_ISREG(st.st_mode):
            members.append(_Member(parts, _arcname(item, parts), st.st_size, st.st_mtime_ns))
        else:
            skipped.append("/".join(parts))
    for parts in reversed(subdirs):
        try:
            sub_fd = _openat(parts[-1], _O_BENEATH_DIR, fd)
        except OSError as exc:
            raise _open_error(item, "/".join(parts), exc) from None
        stack.append((parts, sub_fd))


def _arcname(item: StageItem, parts: tuple[str, ...]) -> str:
    """The member name inside the archive: relative, '/'-separated, and nothing an
    extractor could read as a way out of its target folder."""
    rel = "/".join(parts)
    for part in parts:
        bad = (
            part in ("", ".", "..")
            or "\\" in part
            or any(ord(c) < 32 or ord(c) == 127 for c in part)
            or (len(part) >= 2 and part[1] == ":")
        )
        if bad:
            raise StagingError(
                "unsafe_name",
                f"'{rel}' in {item.name} has a name that is unsafe in an archive (a "
                "backslash, control character or drive letter); rename it.",
            )
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise StagingError(
            "unsafe_name",
            f"A file name in {item.name} is not valid UTF-8 ({rel.encode('utf-8', 'replace')!r});"
            " rename it.",
        ) from None
    return rel


class _MemberOpener:
    """Opens members one by one below the folder fd, reusing the last directory fd, since
    sorted members of one directory come together."""

    def __init__(self, item: StageItem, top_fd: int):
        self._item = item
        self._top = top_fd
        self._prefix: tuple[str, ...] = ()
        self._fd = top_fd

    def open(self, member: _Member) -> int:
        prefix = member.parts[:-1]
        try:
            if prefix != self._prefix:
                self._close_dir()
                for part in prefix:
                    next_fd = _openat(part, _O_BENEATH_DIR, self._fd)
                    self._close_dir(keep_prefix=True)
                    self._fd = next_fd
                self._prefix = prefix
            fd = _openat(member.parts[-1], _O_BENEATH_FILE, self._fd)
        except OSError as exc:
            self._close_dir()
            raise _open_error(self._item, member.arcname, exc) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != member.size:
            os.close(fd)
            raise StagingError(
                "source_changed",
                f"'{member.arcname}' in {self._item.name} changed while it was being staged; "
                "try again once the folder is no longer being written to.",
            )
        return fd

    def _close_dir(self, keep_prefix: bool = False):
        if self._fd != self._top:
            os.close(self._fd)
        self._fd = self._top
        if not keep_prefix:
            self._prefix = ()

    def close(self):
        self._close_dir()


def _write_zip(item, dir_fd, members, sink, ticker) -> None:
    central = []
    opener = _MemberOpener(item, dir_fd)
    try:
        for member in members:
            fd = opener.open(member)
            try:
                central.append(_zip_member(item, fd, member, sink, ticker))
            finally:
                os.close(fd)
    finally:
        opener.close()
    _zip_central_directory(central, sink)


def _zip_member(item, fd, member: _Member, sink: _HashingWriter, ticker) -> tuple:
    """Writes one member streaming: sizes and CRC go in a data descriptor after the data,
    so the output is never sought back into and can be hashed as it is written."""
    name = member.arcname.encode("utf-8")
    offset = sink.size
    zip64 = member.size * 1.05 > _ZIP64_LIMIT
    reader = io.FileIO(fd, closefd=False)
    _advise_sequential(fd)
    first = sink.buffer()
    first_n = reader.readinto(first)
    done = first_n

    method, whole = _DEFLATED, None
    if not first_n or Path(member.parts[-1].lower()).suffix in STORED_SUFFIXES:
        method = _STORED
    else:
        sample = memoryview(first)[: min(first_n, SAMPLE_SIZE)]
        trial = _deflate.compress(sample, DEFLATE_LEVEL, -15)
        sample.release()
        if len(trial) >= min(first_n, SAMPLE_SIZE) * INCOMPRESSIBLE_RATIO:
            method = _STORED
        elif first_n == member.size and first_n <= SAMPLE_SIZE:
            whole = trial  # the sample was the whole file: its compressed form is the member

    dos_time, dos_date = _dos_datetime(member.mtime_ns)
    extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
    sink.write(
        _LOCAL.pack(
            0x04034B50,
            45 if zip64 else 20,
            _FLAG_DATA_DESCRIPTOR | _FLAG_UTF8,
            method,
            dos_time,
            dos_date,
            0,
            _U32 if zip64 else 0,
            _U32 if zip64 else 0,
            len(name),
            len(extra),
        )
        + name
        + extra
    )
    data_start = sink.size
    crc = 0
    if whole is not None:
        crc = _deflate.crc32(memoryview(first)[:first_n])
        sink.release(first)
        sink.write(whole)
        ticker.advance(first_n)
        done += len(reader.read(1) or b"")
    else:
        compressor = _new_compressor() if method == _DEFLATED else None
        buf, n = first, first_n
        while n:
            view = memoryview(buf)[:n]
            crc = _deflate.crc32(view, crc)
            if compressor is None:
                view.release()
                sink.commit(buf, n)
            else:
                out = compressor.compress(view)
                view.release()
                sink.release(buf)
                sink.write(out)
            ticker.advance(n)
            buf = sink.buffer()
            n = reader.readinto(buf)
            done += n
        sink.release(buf)
        if compressor is not None:
            sink.write(compressor.flush())
    if done != member.size:
        raise StagingError(
            "source_changed",
            f"'{member.arcname}' in {item.name} changed size while it was being staged.",
        )
    compressed = sink.size - data_start
    if zip64:
        sink.write(struct.pack("<IIQQ", 0x08074B50, crc, compressed, member.size))
    else:
        sink.write(struct.pack("<IIII", 0x08074B50, crc, compressed, member.size))
    return (name, method, dos_time, dos_date, crc, compressed, member.size, offset, zip64)


def _new_compressor():
    return _deflate.compressobj(DEFLATE_LEVEL, _deflate.DEFLATED, -15)


def _zip_central_directory(central: list[tuple], sink: _HashingWriter) -> None:
    start = sink.size
    for name, method, dos_time, dos_date, crc, csize, usize, offset, zip64 in central:
        fields = []
        if zip64 or usize >= _U32:
            fields.append(usize)
        if zip64 or csize >= _U32:
            fields.append(csize)
        if offset >= _U32:
            fields.append(offset)
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        needs64 = bool(fields)
        sink.write(
            _CENTRAL.pack(
                0x02014B50,
                _MADE_BY_UNIX | 45,
                45 if needs64 else 20,
                _FLAG_DATA_DESCRIPTOR | _FLAG_UTF8,
                method,
                dos_time,
                dos_date,
                crc,
                _U32 if (zip64 or csize >= _U32) else csize,
                _U32 if (zip64 or usize >= _U32) else usize,
                len(name),
                len(extra),
                0,
                0,
                0,
                (stat.S_IFREG | 0o644) << 16,
                _U32 if offset >= _U32 else offset,
            )
            + name
            + extra
        )
    size = sink.size - start
    count = len(central)
    if count >= _U16 or size >= _U32 or start >= _U32:
        eocd64_at = sink.size
        sink.write(
            _EOCD64.pack(0x06064B50, 44, _MADE_BY_UNIX | 45, 45, 0, 0, count, count, size, start)
        )
        sink.write(_LOCATOR64.pack(0x07064B50, 0, eocd64_at, 1))
    sink.write(
        _EOCD.pack(
            0x06054B50,
            0,
            0,
            min(count, _U16),
            min(count, _U16),
            min(size, _U32),
            min(start, _U32),
            0,
        )
    )


def _dos_datetime(mtime_ns: int) -> tuple[int, int]:
    # UTC, not local time: the same folder must give the same bytes on every worker, or
    # an unchanged dataset would look changed and be published again.
    t = time.gmtime(mtime_ns // 1_000_000_000)
    if t.tm_year < 1980:
        return 0, (0 << 9) | (1 << 5) | 1
    if t.tm_year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    return (
        (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday,
    )


def _write_tar(item, dir_fd, members, sink, ticker) -> None:
    opener = _MemberOpener(item, dir_fd)
    try:
        for member in members:
            info = tarfile.TarInfo(member.arcname)
            info.size = member.size
            # Whole seconds, fixed owner and mode: the same folder gives the same bytes.
            info.mtime = member.mtime_ns // 1_000_000_000
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            fd = opener.open(member)
            try:
                _advise_sequential(fd)
                sink.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
                done = _pump(fd, sink, ticker)
            finally:
                os.close(fd)
            if done != member.size:
                raise StagingError(
                    "source_changed",
                    f"'{member.arcname}' in {item.name} changed size while it was being staged.",
                )
            if member.size % tarfile.BLOCKSIZE:
                sink.write(b"\0" * (tarfile.BLOCKSIZE - member.size % tarfile.BLOCKSIZE))
    finally:
        opener.close()
    end = sink.size + 2 * tarfile.BLOCKSIZE
    sink.write(b"\0" * (2 * tarfile.BLOCKSIZE + (-end) % tarfile.RECORDSIZE))


# --- Validation ------------------------------------------------------------------------


def _open_source(item: StageItem, root: Path | None, *, directory: bool) -> int:
    """Opens the source and returns its fd. Under a root, the path is resolved, checked
    to lie inside the root, then opened one component at a time with O_NOFOLLOW, so a
    symlink swapped in after the check is refused instead of followed."""
    label = f"{item.name} ({item.source})"
    try:
        real = Path(os.path.realpath(item.source, strict=True))
    except FileNotFoundError:
        raise StagingError(
            "source_missing",
            f"{label} no longer exists; it was there when the version was approved. "
            "Restore it or submit a new version without it.",
        ) from None
    except OSError as exc:
        raise _open_error(item, str(item.source), exc) from None
    flags = _O_BENEATH_DIR if directory else _O_BENEATH_FILE
    if root is None:
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            raise _open_error(item, str(item.source), exc) from None
    else:
        root_real = Path(os.path.realpath(root))
        if not real.is_relative_to(root_real):
            raise StagingError(
                "unsafe_path",
                f"{label} leads outside the storage root {root} (through a symlink); "
                "Wharf does not follow it.",
            )
        fd = _open_beneath(item, root_real, real.relative_to(root_real).parts, flags)
    st = os.fstat(fd)
    wanted = stat.S_ISDIR if directory else stat.S_ISREG
    if not wanted(st.st_mode):
        os.close(fd)
        now = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise StagingError(
            "source_changed",
            f"{label} is now {now}; it was a {item.kind} when the version was approved.",
        )
    return fd


def _open_beneath(item: StageItem, root_real: Path, parts: tuple[str, ...], flags: int) -> int:
    try:
        fd = os.open(root_real, _O_BENEATH_DIR)
    except OSError as exc:
        raise _open_error(item, str(root_real), exc) from None
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            next_fd = _openat(part, flags if last else _O_BENEATH_DIR, fd)
            os.close(fd)
            fd = next_fd
    except OSError as exc:
        os.close(fd)
        raise _open_error(item, str(item.source), exc) from None
    return fd


def _openat(name: str, flags: int, dir_fd: int) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except NotADirectoryError:
        # O_DIRECTORY|O_NOFOLLOW on a symlink fails like a plain file would: tell them apart.
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "symbolic link", name) from None
        raise


def _open_error(item: StageItem, what: str, exc: OSError) -> StagingError:
    if exc.errno == errno.ENOENT:
        return StagingError(
            "source_missing",
            f"{what} in {item.name} no longer exists; it was there when the version was "
            "approved. Restore it or submit a new version.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StagingError(
            "source_unreadable",
            f"Wharf may not read {what} ({item.name}): permission denied. Let the Wharf "
            "user read it, then retry.",
        )
    if exc.errno == errno.ENOTDIR:
        return StagingError(
            "source_changed",
            f"{what} ({item.name}) is no longer a folder as it was when the version was "
            "approved. Restore it or submit a new version.",
        )
    if exc.errno == errno.ELOOP:
        return StagingError(
            "unsafe_path",
            f"{what} ({item.name}) goes through a symbolic link; Wharf does not follow "
            "links during staging.",
        )
    return StagingError("source_unreadable", f"Wharf could not open {what} ({item.name}): {exc}")


def _check_expected(item: StageItem, size: int, mtime_ns: int) -> None:
    label = f"{item.name} ({item.source})"
    if item.expected_size is not None and size != item.expected_size:
        raise StagingError(
            "source_changed",
            f"{label} changed since the version was approved: {item.expected_size:,} bytes "
            f"then, {size:,} now. Submit a new version to publish the new content.",
        )
    if item.expected_mtime_ns is not None and _mtime_differs(item.expected_mtime_ns, mtime_ns):
        raise StagingError(
            "source_changed",
            f"{label} was modified since the version was approved. Submit a new version to "
            "publish the new content.",
        )


def _check_entries(item: StageItem, members: list[_Member]) -> None:
    if item.expected_entries is None:
        return
    now = {m.arcname: m for m in members}
    then = {rel: (size, mtime_ns) for rel, size, mtime_ns in item.expected_entries}
    for rel in sorted(then.keys() - now.keys()):
        raise StagingError(
            "source_missing",
            f"'{rel}' in {item.name} ({item.source}) no longer exists; it was there when "
            "the version was approved. Restore it or submit a new version.",
        )
    for rel in sorted(now.keys() - then.keys()):
        raise StagingError(
            "source_changed",
            f"'{rel}' appeared in {item.name} ({item.source}) after the version was "
            "approved. Remove it or submit a new version.",
        )
    for rel, (size, mtime_ns) in sorted(then.items()):
        member = now[rel]
        if member.size != size or (
            mtime_ns is not None and _mtime_differs(mtime_ns, member.mtime_ns)
        ):
            raise StagingError(
                "source_changed",
                f"'{rel}' in {item.name} ({item.source}) changed since the version was "
                "approved. Submit a new version to publish the new content.",
            )


def _check_unchanged(item: StageItem, fd: int, before: os.stat_result, done: int) -> None:
    after = os.fstat(fd)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
        done != before.st_size
    ):
        raise StagingError(
            "source_changed",
            f"{item.name} ({item.source}) was being written to while Wharf staged it; "
            "try again once it is complete.",
        )


def _mtime_differs(expected_ns: int, actual_ns: int) -> bool:
    return abs(expected_ns - actual_ns) > MTIME_TOLERANCE_NS


def _output_name(item: StageItem, packaging: str) -> str:
    name = item.name
    if item.kind == "folder" and not name.lower().endswith(f".{packaging}"):
        name = f"{name}.{packaging}"
    bad = (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or name.startswith(".")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or name == METADATA_NAME
    )
    if bad:
        raise StagingError(
            "unsafe_name",
            f"'{item.name}' cannot be a published file name: use a plain name with no "
            f"slashes, not starting with a dot and not {METADATA_NAME}.",
        )
    return name


def _manifest_key(entries: Iterable) -> list[tuple[str, int, str]]:
    keys = []
    for entry in entries:
        if not isinstance(entry, ManifestEntry):
            entry = ManifestEntry.from_dict(entry)
        keys.append((entry.name, entry.size, entry.sha256.lower()))
    return sorted(keys)


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
