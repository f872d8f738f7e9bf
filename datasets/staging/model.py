"""Staging's vocabulary: what to stage, what comes out, how it fails, and the limits
that keep memory flat."""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    # An immutable file Wharf owns (a browser upload): staged by hard link, not copied.
    # `sha256`, when known from its arrival, is trusted; else it is hashed by one read.
    link: bool = False
    sha256: str | None = None
    # A file with a known `sha256` sent straight from where it is, not copied: staging
    # gives it a symlink under its published name, and the upload must prove it sent
    # exactly these bytes (ManifestEntry.source says which file that is).
    direct: bool = False


@dataclass(frozen=True)
class SourceIdentity:
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> SourceIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def as_list(self) -> list[int]:
        return [self.device, self.inode, self.size, self.mtime_ns, self.ctime_ns]

    def portable(self) -> list[int]:
        """As kept with an upload session (JSON), for an attempt on any worker: without
        the device number, which differs between hosts mounting the same NFS export."""
        return [self.inode, self.size, self.mtime_ns, self.ctime_ns]


@dataclass
class ManifestEntry:
    name: str
    size: int
    sha256: str
    # Folder members left out of the archive (symlinks, devices, FIFOs), for the job log.
    skipped: tuple[str, ...] = field(default=())
    # A direct item: the file staging opened (device, inode, size, mtime_ns, ctime_ns),
    # what its upload must have read. `sha256` is then the one it must have sent.
    source: SourceIdentity | None = None

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


@dataclass
class _Member:
    parts: tuple[str, ...]
    arcname: str
    size: int
    mtime_ns: int
