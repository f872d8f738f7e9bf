"""Safe access to lab storage. A path is accepted only when it resolves, without
following any symlink out of the root, to a regular file or folder inside one of the
lab's storage roots. The same checks run at registration and again at staging."""

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_RELPATH = 1000


class UnsafePath(Exception):
    """The path is outside the root, not a regular file or folder, or unreadable."""


@dataclass(frozen=True)
class Entry:
    relpath: str  # inside the file or folder being published, POSIX separators
    size: int
    mtime: float


def _clean_relpath(relpath: str) -> PurePosixPath:
    if not relpath or len(relpath) > MAX_RELPATH:
        raise UnsafePath("Give a path inside the storage root (at most 1000 characters).")
    if "\x00" in relpath or any(ord(c) < 32 for c in relpath):
        raise UnsafePath("The path contains control characters.")
    pure = PurePosixPath(relpath)
    if pure.is_absolute():
        raise UnsafePath(
            "Give the path relative to the storage root, not an absolute path "
            f"('{relpath}' starts with '/')."
        )
    if any(part == ".." for part in pure.parts):
        raise UnsafePath("The path may not contain '..': pick a file or folder inside the root.")
    return pure


def resolve_under_root(root: str | os.PathLike, relpath: str) -> Path:
    """Returns the real path of `relpath` inside `root`, or raises UnsafePath.

    Every component is checked with lstat: a symlink is followed only if its target
    stays inside the root, and the final target must be a regular file or a folder."""
    root_real = Path(os.path.realpath(root))
    if not root_real.is_dir():
        raise UnsafePath(f"The storage root {root} is not an existing folder on this server.")
    pure = _clean_relpath(relpath)
    candidate = Path(os.path.realpath(root_real.joinpath(*pure.parts)))
    if candidate != root_real and root_real not in candidate.parents:
        raise UnsafePath(f"'{relpath}' leads outside the storage root (through a symlink).")
    try:
        st = os.stat(candidate)
    except FileNotFoundError:
        raise UnsafePath(f"'{relpath}' does not exist under the storage root.") from None
    except PermissionError:
        raise UnsafePath(f"Wharf may not read '{relpath}' (permission denied).") from None
    except OSError as exc:  # a symlink loop (ELOOP), a name too long, ...
        raise UnsafePath(
            f"'{relpath}' cannot be opened ({exc.strerror or exc}); a symlink loop?"
        ) from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise UnsafePath(f"'{relpath}' is not a regular file or folder (a device, FIFO or socket).")
    return candidate


def walk_folder(folder: Path) -> Iterator[Entry]:
    """Yields every regular file below `folder`, sorted, never following symlinks.

    Symlinks, devices, FIFOs and sockets inside are refused: a folder is published
    only when everything in it is plain data."""
    folder = Path(folder)
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                children = sorted(it, key=lambda e: e.name)
        except PermissionError:
            raise UnsafePath(f"Wharf may not read the folder '{current}'.") from None
        subfolders = []
        for child in children:
            rel = Path(child.path).relative_to(folder).as_posix()
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"'{rel}' is a symbolic link; folders must hold plain files.")
            if stat.S_ISDIR(st.st_mode):
                subfolders.append(Path(child.path))
            elif stat.S_ISREG(st.st_mode):
                yield Entry(rel, st.st_size, st.st_mtime)
            else:
                raise UnsafePath(f"'{rel}' is not a regular file (a device, FIFO or socket).")
        stack.extend(reversed(subfolders))


def describe(path: Path) -> tuple[str, int, int, float]:
    """(kind, total size, entry count, mtime) of a resolved file or folder."""
    st = os.stat(path)
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size, 1, st.st_mtime
    total = count = 0
    for entry in walk_folder(path):
        total += entry.size
        count += 1
    return "folder", total, count, st.st_mtime


def list_children(folder: Path, root: Path) -> list[dict]:
    """One level of a folder for the storage browser: name, relpath, kind, size."""
    root_real = Path(os.path.realpath(root))
    rows = []
    with os.scandir(folder) as it:
        for child in sorted(it, key=lambda e: (not e.is_dir(follow_symlinks=False), e.name)):
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                kind = "folder"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            elif stat.S_ISLNK(st.st_mode):
                kind = "symlink"
            else:
                kind = "special"
            rows.append(
                {
                    "name": child.name,
                    "relpath": Path(child.path).relative_to(root_real).as_posix(),
                    "kind": kind,
                    "size": st.st_size if kind == "file" else None,
                }
            )
    return rows
