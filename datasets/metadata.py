"""What Wharf sends to Kaggle: the metadata snapshot frozen in a submission, and the
exact `dataset-metadata.json` built from it (`isPrivate` always present: Kaggle reads
a missing value as public)."""

from .models import Dataset

SNAPSHOT_FIELDS = (
    "owner_slug",
    "slug",
    "title",
    "subtitle",
    "description",
    "license",
    "keywords",
    "is_private",
    "folder_packaging",
)


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
        "resources": [
            {
                "path": published_name(entry, snapshot.get("folder_packaging", "zip")),
                "description": entry.get("description", ""),
            }
            for entry in files
        ],
    }
    if snapshot.get("subtitle"):
        metadata["subtitle"] = snapshot["subtitle"]
    if snapshot.get("description"):
        metadata["description"] = snapshot["description"]
    return metadata


def file_entries(files) -> list[dict]:
    return [{"path": f.path, "kind": f.kind, "description": f.description} for f in files]


def current_files(dataset: Dataset) -> list[dict]:
    return file_entries(dataset.files.all())


def dataset_kaggle_metadata(dataset: Dataset) -> dict:
    """The metadata Wharf would send if the dataset were submitted now."""
    return kaggle_metadata(dataset_snapshot(dataset), current_files(dataset))
