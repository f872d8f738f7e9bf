"""Opening what was approved and checking it still is: paths opened one component at a
time without following links; sizes, times and folder entries compared with the
approved file list."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from django.core.exceptions import ValidationError

from datasets import rules

from .model import (
    _O_BENEATH_DIR,
    _O_BENEATH_FILE,
    METADATA_NAME,
    MTIME_TOLERANCE_NS,
    ManifestEntry,
    StageItem,
    StagingError,
    _Member,
)

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
    try:  # the rule files are checked by when they are added (datasets.rules)
        rules.check_not_skipped_by_kaggle(name)
    except ValidationError as exc:
        raise StagingError("unsafe_name", exc.messages[0]) from None
    return name


def _manifest_key(entries: Iterable) -> list[tuple[str, int, str]]:
    keys = []
    for entry in entries:
        if not isinstance(entry, ManifestEntry):
            entry = ManifestEntry.from_dict(entry)
        keys.append((entry.name, entry.size, entry.sha256.lower()))
    return sorted(keys)
