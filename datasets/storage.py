"""Safe access to lab storage. A path is accepted only when it resolves, without
following any symlink out of the root, to a regular file or folder inside one of the
lab's storage roots. The same checks run at registration and again at every read
(storage browser, file add, submission, scanning, staging).

Labs stay apart: no lab's root may overlap another lab's (one inside the other, or the
same folder, after resolving symlinks and '..'). StorageRoot.clean refuses a new
overlap; an old one is reported by `manage.py check` and in the admin, and nothing is
read where two labs' roots overlap until an administrator removes it.

A regular file with more than one hard link is refused unless its lab allows them: a
hard link is a second name for the same bytes, so a link placed inside a root can make
a file from outside it (another lab's, anyone's) look like lab data, and unlike a
symlink nothing in the path shows it."""

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_RELPATH = 1000


class UnsafePath(Exception):
    """The path is outside the root, not a regular file or folder, or unreadable."""


class ResolvedPath(Path):
    """A path resolve_under_root checked, carrying its lab's hard-link policy so that
    describe() and walk_folder() apply it to a folder's members. Paths derived from it
    (joinpath, parent) fall back to the safe default."""

    allow_hard_links = False


@dataclass(frozen=True)
class Entry:
    relpath: str  # inside the file or folder being published, POSIX separators
    size: int
    mtime: float


# --- Roots of different labs never overlap ---------------------------------------------


def real_path(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def paths_overlap(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when one path is the other or lies inside it, after resolving both."""
    a, b = real_path(a), real_path(b)
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def describe_overlap(path: str | os.PathLike, other: str | os.PathLike) -> str:
    a, b = real_path(path), real_path(other)
    if a == b:
        return "is the same folder as"
    return "lies inside" if a.is_relative_to(b) else "holds"


def check_root_path(path: str) -> str:
    """The real path of a folder that may become a storage root, or ValidationError:
    absolute, an existing folder, inside WHARF_STORAGE_ROOTS_ALLOWED_UNDER."""
    path = (path or "").strip()
    if not path.startswith("/") or "\x00" in path:
        raise ValidationError(
            "Give the absolute path of the folder, e.g. /lab-storage/project.", code="root_path"
        )
    real = os.path.realpath(path)
    if not Path(real).is_dir():
        raise ValidationError(
            f"{path} is not an existing folder on the Wharf servers.", code="root_missing"
        )
    allowed = [os.path.realpath(p) for p in settings.STORAGE_ROOTS_ALLOWED_UNDER]
    if not any(real == a or real.startswith(a.rstrip("/") + "/") for a in allowed):
        where = ", ".join(allowed) or "nowhere (set WHARF_STORAGE_ROOTS_ALLOWED_UNDER)"
        raise ValidationError(f"Storage roots must be inside {where}.", code="root_not_allowed")
    return real


def _all_roots() -> list[tuple[Path, int, str, bool]]:
    """(real path, lab id, lab name, lab allows hard links) of every registered root,
    read now: a root registered or removed a second ago counts."""
    from django.apps import apps  # the app registry, not the models module: no cycle

    rows = (
        apps.get_model("datasets", "StorageRoot")
        .objects.order_by("pk")
        .values_list("path", "lab_id", "lab__name", "lab__allow_hard_links")
    )
    return [(real_path(path), lab_id, name, allow) for path, lab_id, name, allow in rows]


def _lab_check(real: Path, root_real: Path, lab_id: int | None, *, folder: bool) -> bool:
    """Refuses a read unless `root_real` is a registered root of one lab (the given one,
    when given) and no other lab's root overlaps `real`. Returns the lab's hard-link
    policy."""
    roots = _all_roots()
    own = [r for r in roots if r[0] == root_real and (lab_id is None or r[1] == lab_id)]
    if not own:
        raise UnsafePath(
            f"{root_real} is not a storage root of this lab (any more); ask the lab's "
            "engineer to register it."
        )
    owner = own[0][1]
    for other_real, other_lab, other_name, _allow in roots:
        if other_lab == owner:
            continue
        if real.is_relative_to(other_real) or (folder and other_real.is_relative_to(real)):
            raise UnsafePath(
                f"This lab's storage root {root_real} overlaps a storage root of "
                f"{other_name}, so Wharf reads nothing where they meet. An administrator "
                "must remove the overlap (`manage.py check` lists it)."
            )
    return own[0][3]


# --- Reading under a root ----------------------------------------------------------------


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


def check_links(st: os.stat_result, relpath: str, allow_hard_links: bool) -> None:
    """Refuses a regular file with more than one hard link unless the lab allows them."""
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and not allow_hard_links:
        raise UnsafePath(
            f"'{relpath}' has {st.st_nlink} hard links. A hard link can make a file from "
            "outside the storage root appear inside it, so Wharf refuses files with more "
            "than one link: copy the file instead of linking it (cp, not ln), or ask an "
            "administrator to allow hard links for the lab."
        )


def resolve_under_root(
    root: str | os.PathLike, relpath: str, *, lab_id: int | None = None
) -> ResolvedPath:
    """Returns the real path of `relpath` inside `root`, or raises UnsafePath.

    Every component is checked: a symlink is followed only if its target stays inside
    the root, and the final target must be a regular file or a folder. The root must be
    a registered root of the lab (`lab_id`, or the one lab that registered it) and no
    other lab's root may overlap the target; a file with several hard links is refused
    unless the lab allows them. "." names the root itself."""
    root_real = real_path(root)
    if not root_real.is_dir():
        raise UnsafePath(f"The storage root {root} is not an existing folder on this server.")
    if relpath == ".":
        candidate = root_real
    else:
        pure = _clean_relpath(relpath)
        candidate = real_path(root_real.joinpath(*pure.parts))
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
    allow = _lab_check(candidate, root_real, lab_id, folder=stat.S_ISDIR(st.st_mode))
    check_links(st, relpath, allow)
    resolved = ResolvedPath(candidate)
    resolved.allow_hard_links = allow
    return resolved


def walk_folder(folder: Path, *, allow_hard_links: bool | None = None) -> Iterator[Entry]:
    """Yields every regular file below `folder`, sorted, never following symlinks.

    Symlinks, devices, FIFOs and sockets inside are refused: a folder is published
    only when everything in it is plain data. Files with several hard links too, unless
    the lab allows them (taken from a ResolvedPath when not given)."""
    if allow_hard_links is None:
        allow_hard_links = getattr(folder, "allow_hard_links", False)
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
                check_links(st, rel, allow_hard_links)
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
    """One level of a folder for the storage browser: name, relpath, kind, size. Pass a
    folder from resolve_under_root, which made the lab checks."""
    root_real = real_path(root)
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
                    "links": st.st_nlink if kind == "file" else None,
                }
            )
    return rows
