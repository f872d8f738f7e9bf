"""Datasets, their numbered versions and the files of each version, kept on disk.

Layout under the data dir: `state.json` (every dataset and version, written
atomically after each change), `files/<dataset id>/<version>/<path>` (the files
of each version, kept for as long as the version exists) and
`files/<dataset id>/<version>.zip` (the whole-version archive, built on demand).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from .rules import too_large, too_many_files

# kagglesdk DatabundleVersionStatus (datasets/types/dataset_enums.py): a new version
# passes through these, in this order, before it ends READY (or FAILED / DELETED).
PROCESSING_STAGES = (
    "NOT_YET_PERSISTED",
    "BLOBS_RECEIVED",
    "BLOBS_DECOMPRESSED",
    "BLOBS_COPIED_TO_SDS",
    "INDIVIDUAL_BLOBS_COMPRESSED",
)
# How a version's processing ends: the "end" of a version record.
ENDS = ("ready", "failed", "stuck", "deleted", "reprocessing")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


class Store:
    def __init__(
        self, data_dir: Path, processing_delay: float = 3.0, clock: Callable[[], float] = time.time
    ):
        self.data_dir = data_dir
        self.files_dir = data_dir / "files"
        self.state_path = data_dir / "state.json"
        self.processing_delay = processing_delay
        self.clock = clock
        self.lock = threading.RLock()
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.state = {"next_id": 1, "datasets": {}}
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text(encoding="utf-8"))

    def save(self) -> None:
        with self.lock:
            tmp = self.state_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.state, indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.state_path)

    # --- lookups ----------------------------------------------------------------
    @staticmethod
    def key(owner: str, slug: str) -> str:
        return f"{owner}/{slug}".lower()

    @staticmethod
    def visible(ds: dict | None) -> bool:
        """Deleted datasets and those over the private quota answer as missing, but
        keep their slug and title taken (kaggle-cli #243, #284)."""
        return ds is not None and not ds.get("deleted") and not ds.get("hidden")

    def find(self, owner: str, slug: str) -> dict | None:
        ds = self.find_any(owner, slug)
        return ds if self.visible(ds) else None

    def find_any(self, owner: str, slug: str) -> dict | None:
        return self.state["datasets"].get(self.key(owner or "", slug or ""))

    def find_by_id(self, dataset_id: int) -> dict | None:
        return next((d for d in self.all() if d["id"] == dataset_id), None)

    def all(self) -> list[dict]:
        return [d for d in self.every() if self.visible(d)]

    def every(self) -> list[dict]:
        return list(self.state["datasets"].values())

    def title_taken(self, owner: str, title: str, *, besides: dict | None = None) -> bool:
        """Titles are unique per owner, and stay taken after a delete (#243, #424)."""
        return any(
            d is not besides
            and d["owner"].lower() == owner.lower()
            and d["title"].lower() == title.lower()
            for d in self.every()
        )

    def private_bytes(self, owner: str) -> int:
        return sum(
            self.total_bytes(d)
            for d in self.all()
            if d["is_private"] and d["owner"].lower() == owner.lower()
        )

    # --- versions and processing ------------------------------------------------
    def version_status(self, version: dict) -> str:
        if version.get("deleted"):
            return "DELETED"
        now = self.clock()
        end = version.get("end") or ("failed" if version.get("fail") else "ready")
        if now < version["ready_at"] or end == "stuck":
            span = max(version["ready_at"] - version["created"], 1e-6)
            stage = int((now - version["created"]) / span * len(PROCESSING_STAGES))
            return PROCESSING_STAGES[min(max(stage, 0), len(PROCESSING_STAGES) - 1)]
        if end == "failed":
            return "FAILED"
        if end == "deleted":
            return "DELETED"
        if end == "reprocessing" and now < version["ready_at"] + self.processing_delay:
            return "REPROCESSING"
        if now < version.get("reprocess_until", 0):
            return "REPROCESSING"
        return "READY"

    def dataset_status(self, ds: dict) -> str:
        return self.version_status(ds["versions"][-1]) if ds["versions"] else "NOT_YET_PERSISTED"

    def current_version(self, ds: dict) -> dict | None:
        """The newest version that finished processing: what Kaggle shows and serves.
        currentVersionNumber does not move before a version is READY."""
        ready = [v for v in ds["versions"] if self.version_status(v) == "READY"]
        return ready[-1] if ready else None

    def version(self, ds: dict, number: int) -> dict | None:
        return next((v for v in ds["versions"] if v["number"] == number), None)

    def version_dir(self, ds: dict, version: dict) -> Path:
        return self.files_dir / str(ds["id"]) / str(version["number"])

    def file_path(self, ds: dict, version: dict, name: str) -> Path | None:
        entry = next((f for f in version["files"] if f["name"] == name), None)
        return self.version_dir(ds, version) / name if entry else None

    def total_bytes(self, ds: dict) -> int:
        version = self.current_version(ds) or (ds["versions"][-1] if ds["versions"] else None)
        return sum(f["size"] for f in version["files"]) if version else 0

    # --- changes -----------------------------------------------------------------
    def create(self, fields: dict) -> dict:
        with self.lock:
            now = self.clock()
            ds = {
                "id": self.state["next_id"],
                "subtitle": "",
                "description": "",
                "keywords": [],
                "collaborators": [],
                "expected_update_frequency": "",
                "user_specified_sources": "",
                "image_token": None,
                "downloads": 0,
                "created": now,
                "updated": now,
                "versions": [],
                **fields,
            }
            self.state["next_id"] += 1
            self.state["datasets"][self.key(ds["owner"], ds["slug"])] = ds
            return ds

    def add_version(
        self,
        ds: dict,
        *,
        creator: str,
        notes: str,
        uploads: list[dict],
        end: str = "ready",
        delete_old: bool = False,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> dict:
        """`uploads`: {"path": blob data file, "name" (a path, folders included),
        "description", "columns"} each. The data is linked into the version (the blob
        stays, so a re-sent token can make the same version again) and archives are
        unpacked as Kaggle does. The limits fail the version at processing (#424)."""
        with self.lock:
            now = self.clock()
            number = ds["versions"][-1]["number"] + 1 if ds["versions"] else 1
            version = {
                "number": number,
                "created": now,
                "ready_at": now + self.processing_delay,
                "creator": creator,
                "notes": notes or "",
                "end": end,
                "error": None,
                "files": [],
            }
            target = self.version_dir(ds, version)
            target.mkdir(parents=True, exist_ok=True)
            for upload in uploads:
                version["files"].extend(_ingest(upload, target, now))
            size = sum(f["size"] for f in version["files"])
            if max_bytes is not None and size > max_bytes:
                version.update(end="failed", error=too_large(size, max_bytes))
            elif max_files is not None and len(version["files"]) > max_files:
                version.update(end="failed", error=too_many_files(max_files))
            if delete_old:
                for old in ds["versions"]:
                    old["deleted"] = True
                    shutil.rmtree(self.version_dir(ds, old), ignore_errors=True)
                    self.version_zip(ds, old, build=False).unlink(missing_ok=True)
            ds["versions"].append(version)
            ds["updated"] = now
            self.save()
            return version

    def delete(self, ds: dict) -> None:
        """The files go; the record stays as a tombstone that keeps slug and title."""
        with self.lock:
            ds["deleted"] = True
            ds["updated"] = self.clock()
            shutil.rmtree(self.files_dir / str(ds["id"]), ignore_errors=True)
            self.save()

    def reprocess(self, ds: dict, seconds: float | None = None) -> dict | None:
        """Sends the newest READY version through REPROCESSING again (for `seconds`,
        default the processing delay)."""
        with self.lock:
            version = self.current_version(ds)
            if version is not None:
                span = self.processing_delay if seconds is None else float(seconds)
                version["reprocess_until"] = self.clock() + span
                self.save()
            return version

    def version_zip(self, ds: dict, version: dict, build: bool = True) -> Path:
        path = self.files_dir / str(ds["id"]) / f"{version['number']}.zip"
        if build and not path.exists():
            with self.lock:
                if not path.exists():
                    tmp = path.with_suffix(".zip.tmp")
                    source = self.version_dir(ds, version)
                    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                        for entry in version["files"]:
                            zf.write(source / entry["name"], entry["name"])
                    tmp.replace(path)
        return path


def _ingest(upload: dict, target: Path, now: float) -> list[dict]:
    name = upload["name"]
    dest = target / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(upload["path"], dest)
    except OSError:
        shutil.copyfile(upload["path"], dest)
    stem = next((name[: -len(s)] for s in ARCHIVE_SUFFIXES if name.lower().endswith(s)), None)
    if stem and not (target / stem).exists():
        extracted = _unpack(dest, target / stem)
        if extracted is not None:
            dest.unlink()
            return [_entry(f"{stem}/{rel}", target / stem / rel, now) for rel in extracted]
    entry = _entry(name, dest, now)
    entry["description"] = upload.get("description") or ""
    entry["columns"] = upload.get("columns") or []
    return [entry]


def _entry(name: str, path: Path, now: float) -> dict:
    return {
        "name": name,
        "size": path.stat().st_size,
        "created": now,
        "description": "",
        "columns": [],
    }


def _unpack(archive: Path, dest: Path) -> list[str] | None:
    """Kaggle unpacks uploaded archives into a folder of the same name. Returns the
    relative paths of the regular files, or None when it is not a readable archive."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    rel = _safe_relative(info.filename)
                    if info.is_dir() or rel is None:
                        continue
                    out = dest / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, out.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
        else:
            return None
    except (OSError, zipfile.BadZipFile, tarfile.TarError):
        shutil.rmtree(dest, ignore_errors=True)
        return None
    dest.mkdir(parents=True, exist_ok=True)
    return sorted(
        p.relative_to(dest).as_posix()
        for p in dest.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def _safe_relative(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        return None
    return "/".join(parts)
