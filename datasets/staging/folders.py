"""Folders become one archive each (zip or tar), written as a stream and hashed as it is
written: members opened without following links, names made safe, compressed data
stored, archives byte-identical for an unchanged folder."""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import tarfile
import time
from pathlib import Path

from django.core.exceptions import ValidationError

from datasets import rules

from .model import (
    _CENTRAL,
    _DEFLATED,
    _EOCD,
    _EOCD64,
    _FLAG_DATA_DESCRIPTOR,
    _FLAG_UTF8,
    _LOCAL,
    _LOCATOR64,
    _MADE_BY_UNIX,
    _O_BENEATH_DIR,
    _O_BENEATH_FILE,
    _STORED,
    _U16,
    _U32,
    _ZIP64_LIMIT,
    INCOMPRESSIBLE_RATIO,
    SAMPLE_SIZE,
    STORED_SUFFIXES,
    ManifestEntry,
    StageItem,
    StagingError,
    _Member,
)
from .plumbing import _advise_sequential, _HashingWriter, _Output, _pump
from .sources import _check_entries, _check_expected, _open_error, _open_source, _openat

logger = logging.getLogger(__name__)


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


# --- Folders ---------------------------------------------------------------------------


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
    try:  # the same rule refused it when the folder was added (datasets.rules)
        rules.check_archive_member(rel, item.name)
    except ValidationError as exc:
        raise StagingError("unsafe_name", exc.messages[0]) from None
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
