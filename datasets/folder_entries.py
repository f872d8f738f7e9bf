"""A folder's entries, a page at a time: frozen in a submission (what a version holds), or
walked live on lab storage for a dataset's current folder. The web pages
(datasets.views.entries) and the API (datasets.api.views.files) both list them here."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datasets import storage
from datasets.models import DatasetFile, FileKind, Submission

ENTRIES_PER_PAGE = 50


class NotAFolder(LookupError):
    """The file or path named is not a folder with entries; the message says which."""


@dataclass
class EntriesPage:
    number: int
    count: int
    rows: list[dict]
    per_page: int = ENTRIES_PER_PAGE

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def start(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1 if self.rows else 0


def entries_page(
    entries: Iterable, number: int, columns: dict, per_page: int = ENTRIES_PER_PAGE
) -> EntriesPage:
    """One page of an iterable of entries (dicts or storage.Entry), counting the rest
    without keeping them: a live folder of a million files costs one walk, not a list.
    Each row is {path, size, sha256 when known, columns}."""
    first = (number - 1) * per_page
    rows, count = [], 0
    for count, item in enumerate(entries, start=1):
        if first < count <= first + per_page:
            if isinstance(item, storage.Entry):
                item = {"path": item.relpath, "size": item.size}
            rows.append({**item, "columns": columns.get(item["path"]) or []})
    return EntriesPage(number, count, rows, per_page)


def frozen_folder(submission: Submission, path: str) -> dict:
    """The folder `path` as the submission froze it (its `entries` and `entry_columns`)."""
    entry = next(
        (f for f in submission.files if f["path"] == path and f.get("kind") == "folder"),
        None,
    )
    if entry is None:
        raise NotAFolder("No such folder in this version.")
    return entry


def live_entries(item: DatasetFile) -> Iterator[storage.Entry]:
    """The entries of a dataset's folder as they are on lab storage now, walked lazily.
    Raises NotAFolder for a plain file; storage.UnsafePath or OSError (possibly while
    iterating) when storage moved on since the folder was added."""
    if item.kind != FileKind.FOLDER or not item.storage_root_id:
        raise NotAFolder(f"'{item.path}' is a file, not a folder.")
    real = storage.resolve_under_root(
        item.storage_root.path, item.storage_relpath, lab_id=item.dataset.lab_id
    )
    if not real.is_dir():
        raise storage.UnsafePath(f"'{item.storage_relpath}' is no longer a folder.")
    return storage.walk_folder(real)
