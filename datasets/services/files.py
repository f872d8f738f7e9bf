"""Attaching files to a dataset: browser uploads kept by Wharf, or files and folders
under the lab's storage roots."""

import os
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat

from datasets import rules, storage, tabular
from datasets.models import Dataset, DatasetFile, FileKind, StorageRoot

from .datasets import ensure_editable
from .errors import ServiceError
from .events import event_record
from .roles import require_member


def _clean_name(dataset: Dataset, name: str, exclude_pk: int | None = None) -> str:
    try:
        name = rules.clean_file_name(name)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], code="file_name", field="path") from None
    key = rules.file_name_key(name)
    others = dataset.files.exclude(pk=exclude_pk) if exclude_pk else dataset.files.all()
    for other in others.values_list("path", flat=True):
        if rules.file_name_key(other) == key:
            raise ServiceError(
                f"The dataset already has a file named '{other}'; rename one of them.",
                code="file_name_taken",
                field="path",
            )
    return name


def _check_description(text: str) -> str:
    text = (text or "").strip()
    if len(text) > rules.FILE_DESCRIPTION_MAX:
        raise ServiceError(
            f"Keep a file description under {rules.FILE_DESCRIPTION_MAX} characters.",
            field="description",
        )
    try:
        rules.check_no_control_characters(text.replace("\r", ""), "The description")
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], field="description") from None
    return text


def _measure(real, relpath: str) -> tuple[str, int, int]:
    """(kind, size, entry count) of a resolved storage file or folder. A folder's every
    name must pass the rules staging and Kaggle apply (datasets.rules), checked in the
    same walk that sums its size."""
    if not real.is_dir():
        return "file", real.stat().st_size, 1
    totals = [0, 0]

    def counted():
        for entry in storage.walk_folder(real):
            totals[0] += entry.size
            totals[1] += 1
            yield entry.relpath

    rules.check_folder_entries(counted(), f"The folder '{relpath}'")
    return "folder", totals[0], totals[1]


def file_upload_check(
    dataset: Dataset, *, actor, name: str, size: int, description: str = ""
) -> str:
    """The refusals of `file_add_upload` that are known before a byte is sent (role,
    editable, name, size, description), for resumable uploads to ask first; returns the
    cleaned name. `file_add_upload` checks them again when the upload is complete."""
    require_member(actor, dataset.lab)
    ensure_editable(dataset)
    name = _clean_name(dataset, name)
    limit = settings.WHARF_UPLOAD_MAX_BYTES
    if size > limit:
        raise ServiceError(
            f"'{name}' is {filesizeformat(size)}; uploads are limited to "
            f"{filesizeformat(limit)}. Put larger files on lab storage instead.",
            code="file_too_large",
            field="file",
        )
    if size == 0:
        raise ServiceError(
            f"'{name}' is empty (0 bytes); Kaggle does not take empty files.",
            code="file_empty",
            field="file",
        )
    _check_description(description)
    return name


def file_add_upload(
    dataset: Dataset, *, actor, uploaded_file, path: str = "", description: str = ""
) -> DatasetFile:
    """Keeps an upload under a generated name; its original name is only metadata."""
    require_member(actor, dataset.lab)
    ensure_editable(dataset)
    name = _clean_name(dataset, path or uploaded_file.name or "")
    limit = settings.WHARF_UPLOAD_MAX_BYTES
    if uploaded_file.size > limit:
        raise ServiceError(
            f"'{name}' is {filesizeformat(uploaded_file.size)}; uploads are limited to "
            f"{filesizeformat(limit)}. Put larger files on lab storage instead.",
            code="file_too_large",
            field="file",
        )
    if uploaded_file.size == 0:
        raise ServiceError(
            f"'{name}' is empty (0 bytes); Kaggle does not take empty files.",
            code="file_empty",
            field="file",
        )
    description = _check_description(description)
    try:
        with transaction.atomic():
            item = DatasetFile(
                dataset=dataset,
                path=name,
                description=description,
                kind=FileKind.FILE,
                size=uploaded_file.size,
                added_by=actor,
            )
            # FileSystemStorage moves a temporary upload into place (no second copy).
            item.upload.save(name, uploaded_file, save=False)
            for field, value in tabular.inferred_fields(name, item.upload.path, "file").items():
                setattr(item, field, value)
            item.save()
            event_record(
                "file.added",
                dataset=dataset,
                actor=actor,
                data={"path": name, "size": item.size, "origin": "upload"},
            )
    except IntegrityError:
        raise ServiceError(
            f"The dataset already has a file named '{name}'.", code="file_name_taken", field="path"
        ) from None
    return item


def file_add_storage(
    dataset: Dataset,
    *,
    actor,
    storage_root: StorageRoot,
    relpath: str,
    path: str = "",
    description: str = "",
) -> DatasetFile:
    """Points at a file or folder under one of the lab's storage roots."""
    require_member(actor, dataset.lab)
    ensure_editable(dataset)
    if storage_root.lab_id != dataset.lab_id:
        raise ServiceError("That storage root belongs to another lab.", field="storage_root")
    relpath = (relpath or "").strip()
    root_prefix = storage_root.path.rstrip("/") + "/"
    if relpath.startswith(root_prefix):
        # People paste the full path they see on the cluster; inside the root, that is fine.
        relpath = relpath[len(root_prefix) :]
    try:
        real = storage.resolve_under_root(storage_root.path, relpath, lab_id=dataset.lab_id)
        kind, size, count = _measure(real, relpath)
    except storage.UnsafePath as exc:
        raise ServiceError(str(exc), code="unsafe_path", field="storage_path") from None
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], code="file_name", field="storage_path") from None
    if kind == "file" and size == 0:
        raise ServiceError(
            f"'{relpath}' is empty (0 bytes).", code="file_empty", field="storage_path"
        )
    if kind == "folder" and count == 0:
        raise ServiceError(
            f"The folder '{relpath}' holds no files.", code="folder_empty", field="storage_path"
        )
    name = _clean_name(dataset, path or PurePosixPath(relpath).name or storage_root.name)
    description = _check_description(description)
    try:
        with transaction.atomic():
            item = DatasetFile.objects.create(
                dataset=dataset,
                path=name,
                description=description,
                kind=kind,
                storage_root=storage_root,
                storage_relpath=os.path.relpath(real, os.path.realpath(storage_root.path)),
                size=size,
                entry_count=count,
                added_by=actor,
                **tabular.inferred_fields(name, real, kind),
            )
            event_record(
                "file.added",
                dataset=dataset,
                actor=actor,
                data={
                    "path": name,
                    "size": size,
                    "origin": "storage",
                    "kind": kind,
                    "root": storage_root.name,
                    "relpath": item.storage_relpath,
                },
            )
    except IntegrityError:
        raise ServiceError(
            f"The dataset already has a file named '{name}'.", code="file_name_taken", field="path"
        ) from None
    return item


def file_update(
    item: DatasetFile,
    *,
    actor,
    path: str | None = None,
    description: str | None = None,
    columns: list[dict] | None = None,
    entry_columns: dict[str, list[dict]] | None = None,
) -> DatasetFile:
    """`columns`: the researcher's type and description for each column, in order.
    `entry_columns`: the same for tabular entries of a folder, {path inside: edits}
    (entries not named keep theirs)."""
    dataset = item.dataset
    require_member(actor, dataset.lab)
    ensure_editable(dataset)
    changed = []
    if path is not None and path != item.path:
        item.path = _clean_name(dataset, path, exclude_pk=item.pk)
        changed.append("path")
    if description is not None and description != item.description:
        item.description = _check_description(description)
        changed.append("description")
    if columns is not None:
        try:
            cleaned = tabular.clean_columns(item.columns, columns)
        except tabular.TabularError as exc:
            raise ServiceError(str(exc), code="columns", field="columns") from None
        if cleaned != item.columns:
            item.columns = cleaned
            changed.append("columns")
    entries = []
    if entry_columns:
        updated = _clean_entry_columns(item, entry_columns)
        entries = sorted(p for p in updated if updated[p] != item.entry_columns.get(p))
        if entries:
            item.entry_columns = updated
            changed.append("entry_columns")
    if changed:
        data = {"path": item.path, "fields": changed}
        if entries:
            data["entries"] = entries[:20]
        with transaction.atomic():
            item.save()
            event_record("file.updated", dataset=dataset, actor=actor, data=data)
    return item


def _clean_entry_columns(item: DatasetFile, edits: dict[str, list[dict]]) -> dict:
    """The folder's entry columns with `edits` applied, each checked as a file's columns
    are (tabular.clean_columns); only entries whose columns were read can be edited."""
    if item.kind != FileKind.FOLDER:
        raise ServiceError(
            f"'{item.path}' is a file, not a folder: edit its columns instead.",
            code="columns",
            field="entry_columns",
        )
    updated = dict(item.entry_columns or {})
    for relpath, submitted in edits.items():
        current = updated.get(relpath)
        if not current:
            known = ", ".join(sorted(p for p, c in updated.items() if c)[:20]) or "none"
            raise ServiceError(
                f"The folder '{item.path}' has no table '{str(relpath)[:200]}' with columns "
                f"(its tables: {known}).",
                code="columns",
                field="entry_columns",
            )
        try:
            updated[relpath] = tabular.clean_columns(current, submitted)
        except tabular.TabularError as exc:
            raise ServiceError(f"{relpath}: {exc}", code="columns", field="entry_columns") from None
    return updated


def file_remove(item: DatasetFile, *, actor) -> None:
    dataset = item.dataset
    require_member(actor, dataset.lab)
    ensure_editable(dataset)
    upload_name = item.upload.name if item.upload else None
    with transaction.atomic():
        event_record("file.removed", dataset=dataset, actor=actor, data={"path": item.path})
        item.delete()
        if upload_name:
            # Only once the row is gone for good: a rolled-back delete keeps its bytes.
            from django.core.files.storage import default_storage

            transaction.on_commit(lambda: default_storage.delete(upload_name))
