"""What changed on lab storage since a version: files added, removed or changed.

One streaming pass over the dataset's files and folders compares sizes and modification
times with the version's frozen file list (memory stays flat whatever the tree: only
counts and the first few paths are kept). Single files whose time moved but whose size
did not are then hashed (sha256, streamed) and compared with the published manifest, so
a `touch` is not a new version. Inside folders the manifest only knows the archive, so a
moved time counts as a change (the archive Wharf would build differs too)."""

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import storage

LISTED = 25  # paths named per kind of change; the rest are counted
MTIME_TOLERANCE = 1e-3
HASH_CHUNK = 1024 * 1024
NOTES_LIMIT = 9000


class ScanError(Exception):
    """A file the dataset points at cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """One file or folder of the dataset as it is now."""

    path: str
    kind: str
    real: Path | None = None  # on lab storage
    upload: str = ""  # or an upload Wharf keeps
    size: int = 0


@dataclass(frozen=True)
class Change:
    path: str
    old_size: int | None
    new_size: int | None


@dataclass
class ChangeList:
    count: int = 0
    bytes: int = 0
    items: list[Change] = field(default_factory=list)

    def add(self, change: Change) -> None:
        self.count += 1
        self.bytes += change.new_size if change.new_size is not None else change.old_size or 0
        if len(self.items) < LISTED:
            self.items.append(change)


@dataclass(frozen=True)
class Suspect:
    """A single file whose time moved but not its size: its bytes decide."""

    path: str
    real: Path
    size: int
    mtime: float
    old_size: int


@dataclass
class Scan:
    added: ChangeList = field(default_factory=ChangeList)
    removed: ChangeList = field(default_factory=ChangeList)
    changed: ChangeList = field(default_factory=ChangeList)
    suspects: list[Suspect] = field(default_factory=list)
    newest_mtime: float | None = None
    newest_path: str = ""
    files_seen: int = 0
    bytes_seen: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    verified: dict = field(default_factory=dict)  # path -> [size, mtime] proven unchanged
    started: float = field(default_factory=time.monotonic)

    @property
    def has_changes(self) -> bool:
        return bool(self.added.count or self.removed.count or self.changed.count)

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def _seen(self, path: str, mtime: float | None) -> None:
        if mtime is not None and (self.newest_mtime is None or mtime > self.newest_mtime):
            self.newest_mtime, self.newest_path = mtime, path

    def unsettled(self, now: float, quiet_seconds: int) -> float | None:
        """Seconds since the newest change when that is within the quiet period (a file
        may still be being written), else None."""
        if self.newest_mtime is None:
            return None
        age = now - self.newest_mtime
        return max(age, 0.0) if abs(age) < quiet_seconds else None

    def confirm(self, manifest: dict[str, str]) -> None:
        """Hashes the suspects; those equal to the published bytes are remembered in
        `verified` so the next run does not hash them again."""
        for suspect in self.suspects:
            expected = manifest.get(suspect.path)
            digest = sha256_of(suspect.real) if expected else None
            if expected:
                self.hashed_files += 1
                self.hashed_bytes += suspect.size
            if digest is not None and digest == expected.lower():
                self.verified[suspect.path] = [suspect.size, suspect.mtime]
            else:
                self.changed.add(Change(suspect.path, suspect.old_size, suspect.size))
        self.suspects = []

    def summary(self) -> dict:
        return {
            "added": self.added.count,
            "removed": self.removed.count,
            "changed": self.changed.count,
            "files": self.files_seen,
            "bytes": self.bytes_seen,
            "hashed_files": self.hashed_files,
            "hashed_bytes": self.hashed_bytes,
            "scan_seconds": self.seconds,
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _differs(a: float | None, b: float | None) -> bool:
    return a is None or b is None or abs(a - b) > MTIME_TOLERANCE


def compare(sources: list[Source], baseline: list[dict], *, verified: dict | None = None) -> Scan:
    """The cheap pass: `baseline` is a submission's frozen file list."""
    scan = Scan()
    verified = verified or {}
    old_by_path = {entry["path"]: entry for entry in baseline}
    for source in sources:
        old = old_by_path.pop(source.path, None)
        if source.upload:
            _compare_upload(scan, source, old)
        elif source.kind == "folder":
            _compare_folder(scan, source, old)
        else:
            _compare_file(scan, source, old, verified)
    for old in old_by_path.values():
        _removed_entry(scan, old)
    return scan


def _removed_entry(scan: Scan, old: dict) -> None:
    if old.get("kind") == "folder":
        for entry in old.get("entries", []):
            scan.removed.add(Change(f"{old['path']}/{entry['path']}", entry["size"], None))
    else:
        scan.removed.add(Change(old["path"], old["size"], None))


def _compare_upload(scan: Scan, source: Source, old: dict | None) -> None:
    # Uploads never change in place: a different stored upload is a new file.
    scan.files_seen += 1
    scan.bytes_seen += source.size
    if old is None:
        scan.added.add(Change(source.path, None, source.size))
    elif old.get("kind") == "folder":
        _removed_entry(scan, old)
        scan.added.add(Change(source.path, None, source.size))
    elif old.get("upload") != source.upload:
        scan.changed.add(Change(source.path, old["size"], source.size))


def _stat(source: Source) -> os.stat_result:
    try:
        return os.stat(source.real)
    except OSError as exc:
        raise ScanError(f"{source.path}: cannot read it on lab storage ({exc.strerror}).") from None


def _compare_file(scan: Scan, source: Source, old: dict | None, verified: dict) -> None:
    st = _stat(source)
    size, mtime = st.st_size, st.st_mtime
    scan.files_seen += 1
    scan.bytes_seen += size
    if old is not None and old.get("kind") == "folder":
        _removed_entry(scan, old)
        old = None
    if old is None:
        scan.added.add(Change(source.path, None, size))
        scan._seen(source.path, mtime)
    elif size != old["size"]:
        scan.changed.add(Change(source.path, old["size"], size))
        scan._seen(source.path, mtime)
    elif old.get("upload") or _differs(mtime, old.get("mtime")):
        memo = verified.get(source.path)
        if memo and memo[0] == size and not _differs(mtime, memo[1]):
            scan.verified[source.path] = memo
            return
        scan.suspects.append(Suspect(source.path, source.real, size, mtime, old["size"]))
        scan._seen(source.path, mtime)


def _compare_folder(scan: Scan, source: Source, old: dict | None) -> None:
    if old is not None and old.get("kind") != "folder":
        scan.removed.add(Change(old["path"], old["size"], None))
        old = None
    before = {e["path"]: (e["size"], e.get("mtime")) for e in (old or {}).get("entries", [])}
    try:
        for entry in storage.walk_folder(source.real):
            name = f"{source.path}/{entry.relpath}"
            scan.files_seen += 1
            scan.bytes_seen += entry.size
            then = before.pop(entry.relpath, None)
            if then is None:
                scan.added.add(Change(name, None, entry.size))
                scan._seen(name, entry.mtime)
            elif then[0] != entry.size or _differs(entry.mtime, then[1]):
                scan.changed.add(Change(name, then[0], entry.size))
                scan._seen(name, entry.mtime)
    except (storage.UnsafePath, OSError) as exc:
        raise ScanError(f"{source.path}: {exc}") from None
    for relpath, (size, _mtime) in before.items():
        scan.removed.add(Change(f"{source.path}/{relpath}", size, None))


# --- version notes --------------------------------------------------------------------


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _printable(path: str) -> str:
    # File names may hold anything but a slash; notes must not hold control characters.
    return "".join("?" if ord(c) < 32 or ord(c) == 127 else c for c in path[:200])


def _plural(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def version_notes(scan: Scan, *, against: int) -> str:
    """Generated notes for a scheduled version: what was added, removed and changed
    since version `against`, with sizes (the first paths of each kind, then a count)."""
    lines = [f"Automatic update from lab storage: files changed since version {against}."]
    sections = (
        ("Added", scan.added, lambda c: human_size(c.new_size)),
        ("Removed", scan.removed, lambda c: human_size(c.old_size)),
        ("Changed", scan.changed, lambda c: f"{human_size(c.old_size)} → {human_size(c.new_size)}"),
    )
    for title, changes, size_of in sections:
        if not changes.count:
            continue
        lines += ["", f"{title}: {_plural(changes.count)}, {human_size(changes.bytes)}"]
        lines += [f"- {_printable(c.path)} ({size_of(c)})" for c in changes.items]
        if changes.count > len(changes.items):
            lines.append(f"- … and {_plural(changes.count - len(changes.items))} more")
    notes = "\n".join(lines)
    return notes if len(notes) <= NOTES_LIMIT else notes[:NOTES_LIMIT] + "\n…"


# --- nothing to publish? ----------------------------------------------------------------


def sources_of(dataset) -> list[Source]:
    """The dataset's files as they are now, for compare()."""
    sources = []
    for item in dataset.files.select_related("storage_root"):
        if item.storage_root_id is None:
            sources.append(Source(item.path, item.kind, upload=item.upload.name, size=item.size))
            continue
        try:
            real = storage.resolve_under_root(
                item.storage_root.path, item.storage_relpath, lab_id=dataset.lab_id
            )
        except storage.UnsafePath as exc:
            raise ScanError(f"{item.path}: {exc}") from None
        sources.append(Source(item.path, item.kind, real=real))
    return sources


def unchanged_since_published(dataset):
    """The last published submission when the dataset, as it is now, equals it (files
    and the metadata Kaggle would get): submitting would publish nothing new. None when
    something changed, or when that cannot be told (a file unreadable)."""
    from .metadata import dataset_kaggle_metadata, kaggle_metadata
    from .models import JobState
    from .selectors import last_published_submission

    published = last_published_submission(dataset)
    if published is None:
        return None
    if dataset_kaggle_metadata(dataset) != kaggle_metadata(published.metadata, published.files):
        return None
    try:
        scan = compare(sources_of(dataset), published.files)
        if scan.has_changes:
            return None
        job = published.jobs.filter(state=JobState.PUBLISHED).order_by("-finished_at").first()
        scan.confirm({e["path"]: e.get("sha256", "") for e in (job.manifest if job else [])})
    except (ScanError, OSError):
        return None
    return None if scan.has_changes else published
