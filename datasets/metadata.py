"""What Wharf sends to Kaggle: the metadata snapshot frozen in a submission, and the
exact `dataset-metadata.json` built from it (`isPrivate` always present: Kaggle reads
a missing value as public)."""

from dataclasses import dataclass

from . import tabular
from .models import Dataset


@dataclass(frozen=True)
class MetadataField:
    """One field of a dataset's metadata. The form, the services, the API, the review
    page and the diff all read this list; adding a field here adds it everywhere."""

    name: str
    label: str
    # Frozen in each submission (so reviewed and diffed); the rest are Wharf's own.
    snapshot: bool = True
    # Set by the researcher (form and API); otherwise derived by a service.
    editable: bool = True
    # The form tab it is shown on.
    tab: str = ""


BASICS, DESCRIPTION, PUBLISHING = "1. Basics", "2. Description", "3. Publishing"

METADATA_FIELDS = (
    MetadataField("kaggle_account", "Kaggle account (owner)", snapshot=False, tab=BASICS),
    MetadataField("owner_slug", "Kaggle owner", editable=False),
    MetadataField("title", "Title", tab=BASICS),
    MetadataField("slug", "Slug", tab=BASICS),
    MetadataField("subtitle", "Subtitle", tab=BASICS),
    MetadataField("description", "Description", tab=DESCRIPTION),
    MetadataField("keywords", "Keywords", tab=DESCRIPTION),
    MetadataField("license", "License", tab=DESCRIPTION),
    MetadataField("is_private", "Private on Kaggle", tab=PUBLISHING),
    MetadataField("source", "Where the files come from", snapshot=False, tab=PUBLISHING),
    MetadataField("folder_packaging", "Folder packaging", tab=PUBLISHING),
)

FIELDS_BY_NAME = {f.name: f for f in METADATA_FIELDS}
SNAPSHOT_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.snapshot)
EDITABLE_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.editable)
# What the API shows of a dataset: every field but the account row (shown as owner_slug).
PUBLIC_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.name != "kaggle_account")
FIELD_LABELS = {f.name: f.label for f in METADATA_FIELDS}


def form_tabs() -> list[tuple[str, list[str]]]:
    """(tab, field names) in declaration order, for the dataset form's layout."""
    tabs: dict[str, list[str]] = {}
    for f in METADATA_FIELDS:
        if f.editable and f.tab:
            tabs.setdefault(f.tab, []).append(f.name)
    return list(tabs.items())


def dataset_snapshot(dataset: Dataset) -> dict:
    return {field: getattr(dataset, field) for field in SNAPSHOT_FIELDS}


def published_name(entry: dict, packaging: str) -> str:
    """The file name Kaggle will show for a file list entry: folders become archives."""
    if entry.get("kind") == "folder":
        return f"{entry['path']}.{'zip' if packaging == 'zip' else 'tar'}"
    return entry["path"]


def kaggle_metadata(snapshot: dict, files: list[dict]) -> dict:
    """`dataset-metadata.json` for a snapshot and its file list (dicts with path, kind,
    description), in the shape the official client reads."""
    metadata = {
        "title": snapshot["title"],
        "id": f"{snapshot['owner_slug']}/{snapshot['slug']}",
        "licenses": [{"name": snapshot["license"]}],
        "isPrivate": bool(snapshot["is_private"]),
        "keywords": list(snapshot.get("keywords") or []),
        "resources": [_resource(entry, snapshot.get("folder_packaging", "zip")) for entry in files],
    }
    if snapshot.get("subtitle"):
        metadata["subtitle"] = snapshot["subtitle"]
    if snapshot.get("description"):
        metadata["description"] = snapshot["description"]
    return metadata


def _resource(entry: dict, packaging: str) -> dict:
    resource = {
        "path": published_name(entry, packaging),
        "description": entry.get("description", ""),
    }
    # Kaggle describes the columns of a file it can read; an archive's entries are
    # unpacked on Kaggle's side and cannot be named by a resource (Wharf shows them).
    if entry.get("columns") and entry.get("kind") != "folder":
        resource["schema"] = {"fields": tabular.schema_fields(entry["columns"])}
    return resource


def file_entry(item) -> dict:
    """What a DatasetFile contributes to the metadata: frozen into each submission's
    file list, and read by `kaggle_metadata`."""
    entry = {"path": item.path, "kind": item.kind, "description": item.description}
    if item.columns:
        entry["columns"] = item.columns
    if item.entry_columns:
        entry["entry_columns"] = item.entry_columns
    return entry


def file_entries(files) -> list[dict]:
    return [file_entry(f) for f in files]


def current_files(dataset: Dataset) -> list[dict]:
    return file_entries(dataset.files.all())


def dataset_kaggle_metadata(dataset: Dataset) -> dict:
    """The metadata Wharf would send if the dataset were submitted now."""
    return kaggle_metadata(dataset_snapshot(dataset), current_files(dataset))
