"""Staging: turn an approved file list into the folder the Kaggle client uploads.

Each source is read once. The bytes go to a temporary name in the staging folder while
a second thread hashes the same buffers (sha256), so hashing rides along with the copy
on another core instead of adding a second pass. Folders become zip or tar archives
written by Wharf and hashed as they are written. Memory is a fixed pool of buffers,
whatever the size of the data.

Pure Python on purpose: no Django here, so the engine can be benchmarked and tested on
its own, and the job code decides what a failure means for a PublishJob."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from .folders import DEFLATE_BACKEND, DEFLATE_LEVEL, _stage_folder  # noqa: F401 - reported by bench
from .model import (  # noqa: F401 - the package's API
    BUFFERS,
    CHUNK_SIZE,
    METADATA_NAME,
    ManifestEntry,
    SourceIdentity,
    StageItem,
    StagingCancelled,
    StagingError,
)
from .plumbing import _advise_sequential, _Output, _pump, _temp_name, _Ticker, _unlink_quietly
from .sources import (
    _check_expected,
    _check_unchanged,
    _manifest_key,
    _mtime_differs,
    _open_source,
    _output_name,
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
        if item.kind == "file" and item.direct and item.sha256:
            entry = _refer_file(item, name, dest, root, ticker)
        elif item.kind == "file" and item.link:
            entry = _link_file(item, name, dest, root, ticker, fsync)
        elif item.kind == "file":
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


def _link_file(item, name, dest, root, ticker, fsync) -> ManifestEntry:
    """An immutable source (a browser upload, never rewritten in place) is linked into the
    staging folder: no byte is written. Its sha256 is the one computed when it arrived,
    or one read of it now. Across filesystems (EXDEV) or where links are refused, it is
    copied and hashed like any other file."""
    fd = _open_source(item, root, directory=False)
    try:
        st = os.fstat(fd)
        _check_expected(item, st.st_size, st.st_mtime_ns)
        tmp = Path(dest) / _temp_name(name)
        if not _link_same_inode(item.source, fd, st, tmp):
            return _stage_file(item, name, dest, root, ticker, fsync)
        try:
            digest, done = item.sha256, st.st_size
            if not digest:
                digest, done = _hash_fd(fd, ticker)
            else:
                ticker.advance(done)
            _check_unchanged(item, fd, st, done)
            os.replace(tmp, Path(dest) / name)
        except BaseException:
            _unlink_quietly(tmp)
            raise
    finally:
        os.close(fd)
    return ManifestEntry(name=name, size=done, sha256=digest)


def _refer_file(item, name, dest, root, ticker) -> ManifestEntry:
    """A file sent from where it is: opened now as any source (inside the root, no link
    followed), then the staging folder gets a symlink under the published name to the
    file that was opened. Nothing is read or written here (unless its mtime moved since
    approval: then it is hashed once, here); the upload reads the file and hashes what
    it sends, and that must be `item.sha256` from this very inode."""
    fd = _open_source(item, root, directory=False)
    try:
        st = os.fstat(fd)
        _check_expected(replace(item, expected_mtime_ns=None), st.st_size, st.st_mtime_ns)
        if item.expected_mtime_ns is not None and _mtime_differs(
            item.expected_mtime_ns, st.st_mtime_ns
        ):
            # Touched since approval: one local read now, not a whole upload, tells
            # whether its content is still the approved one.
            digest, done = _hash_fd(fd, ticker)
            if (digest, done) != (item.sha256, st.st_size):
                raise StagingError(
                    "source_changed",
                    f"{item.name} ({item.source}) changed on lab storage after the version "
                    "was approved (its content differs); submit the dataset again so the new "
                    "content is reviewed.",
                )
        else:
            ticker.advance(st.st_size)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = os.path.realpath(item.source)
    finally:
        os.close(fd)
    tmp = Path(dest) / _temp_name(name)
    try:
        os.symlink(target, tmp)
        os.replace(tmp, Path(dest) / name)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return ManifestEntry(name=name, size=st.st_size, sha256=item.sha256,
                         source=SourceIdentity.of(st))  # fmt: skip


_LINK_REFUSED = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOENT, errno.EACCES)


def _link_same_inode(source: Path, fd: int, st: os.stat_result, tmp: Path) -> bool:
    """Hard-links the file open as `fd` to `tmp`; False where links are refused. Through
    /proc/self/fd when the kernel allows it (the very inode opened and checked), else by
    path, and then the link must be that same inode or it is removed and refused."""
    with contextlib.suppress(OSError):
        os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
        return True
    try:
        os.link(os.path.realpath(source), tmp, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _LINK_REFUSED:
            return False
        raise
    linked = os.lstat(tmp)
    if (linked.st_dev, linked.st_ino) != (st.st_dev, st.st_ino):
        _unlink_quietly(tmp)
        raise StagingError(
            "source_changed", f"{source} was replaced while Wharf staged it; try again."
        )
    return True


def _hash_fd(fd: int, ticker) -> tuple[str, int]:
    _advise_sequential(fd)
    reader = io.FileIO(fd, closefd=False)
    digest, done = hashlib.sha256(), 0
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    while n := reader.readinto(buf):
        digest.update(view[:n])
        done += n
        ticker.advance(n)
    return digest.hexdigest(), done
