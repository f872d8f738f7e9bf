"""JSON shapes of the responses, field for field from kagglesdk's types:
ApiDataset / ApiDatasetFile / ApiDatasetVersion (datasets/types/dataset_api_service.py)
and DatasetInfo (datasets/types/dataset_types.py). Keys are the `json_name`s."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import quote

from .accounts import Accounts
from .store import Store


def iso(timestamp: float) -> str:
    # kagglesdk's DateTimeSerializer: ISO-8601, milliseconds, "Z".
    moment = datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def ref(ds: dict) -> str:
    return f"{ds['owner']}/{ds['slug']}"


def dataset_url(public_url: str, ds: dict) -> str:
    return f"{public_url}/datasets/{quote(ds['owner'])}/{quote(ds['slug'])}"


def usability(ds: dict, version: dict | None) -> float:
    files = version["files"] if version else []
    checks = [
        bool(ds["subtitle"]),
        bool(ds["description"]),
        bool(ds["keywords"]),
        ds["license"] not in ("unknown", "other"),
        bool(files) and all(f.get("description") for f in files),
        any(f.get("columns") for f in files),
        bool(ds.get("image_token")),
        bool(ds.get("expected_update_frequency")),
    ]
    return round(sum(checks) / len(checks), 2)


def api_file(ds: dict, version: dict, entry: dict, public_url: str) -> dict:
    suffix = PurePosixPath(entry["name"]).suffix
    return {
        "ref": entry["name"],
        "datasetRef": ref(ds),
        "ownerRef": ds["owner"],
        "name": entry["name"],
        "creationDate": iso(entry["created"]),
        "description": entry.get("description") or "",
        "fileType": suffix,
        "url": f"{dataset_url(public_url, ds)}/versions/{version['number']}"
        f"?select={quote(entry['name'])}",
        "totalBytes": entry["size"],
        "columns": [
            {
                "order": c.get("order", i),
                "name": c.get("name", ""),
                "type": c.get("type", ""),
                "originalType": c.get("originalType", ""),
                "description": c.get("description", ""),
            }
            for i, c in enumerate(entry.get("columns") or [])
        ],
    }


def api_dataset(
    ds: dict, store: Store, accounts: Accounts, public_url: str, with_files: bool = False
) -> dict:
    current = store.current_version(ds)
    creator = ds["creator"]
    body = {
        "id": ds["id"],
        "ref": ref(ds),
        "subtitle": ds["subtitle"],
        "creatorName": accounts.display_name(creator),
        "creatorUrl": creator,
        "totalBytes": store.total_bytes(ds),
        "url": dataset_url(public_url, ds),
        "lastUpdated": iso(ds["updated"]),
        "downloadCount": ds["downloads"],
        "isPrivate": ds["is_private"],
        "isFeatured": False,
        "licenseName": ds["license"],
        "description": ds["description"],
        "ownerName": accounts.display_name(ds["owner"]),
        "ownerRef": ds["owner"],
        "kernelCount": 0,
        "title": ds["title"],
        "topicCount": 0,
        "viewCount": 0,
        "voteCount": 0,
        "usabilityRating": usability(ds, current),
        "tags": [{"ref": k.lower().replace(" ", "-"), "name": k} for k in ds["keywords"]],
        "versions": [
            {
                "versionNumber": v["number"],
                "creationDate": iso(v["created"]),
                "creatorName": accounts.display_name(v["creator"]),
                "creatorRef": v["creator"],
                "versionNotes": v["notes"],
                "status": store.version_status(v).lower(),
            }
            for v in reversed(ds["versions"])
            if not v.get("deleted")
        ],
    }
    if current is not None:
        body["currentVersionNumber"] = current["number"]
    if with_files and current is not None:
        body["files"] = [api_file(ds, current, f, public_url) for f in current["files"]]
    return body


def dataset_info(ds: dict, store: Store) -> dict:
    version = store.current_version(ds) or ds["versions"][-1]
    return {
        "datasetId": ds["id"],
        "datasetSlug": ds["slug"],
        "ownerUser": ds["owner"],
        "usabilityRating": usability(ds, store.current_version(ds)),
        "totalViews": 0,
        "totalVotes": 0,
        "totalDownloads": ds["downloads"],
        "title": ds["title"],
        "subtitle": ds["subtitle"],
        "description": ds["description"],
        "isPrivate": ds["is_private"],
        "keywords": list(ds["keywords"]),
        "licenses": [{"name": ds["license"]}],
        "collaborators": [dict(c) for c in ds["collaborators"]],
        "data": [
            {
                "name": f["name"],
                "description": f.get("description") or "",
                "totalBytes": f["size"],
                "columns": [
                    {
                        "name": c.get("name", ""),
                        "description": c.get("description", ""),
                        "type": c.get("type", ""),
                    }
                    for c in f.get("columns") or []
                ],
            }
            for f in version["files"]
        ],
        "expectedUpdateFrequency": ds["expected_update_frequency"],
        "userSpecifiedSources": ds["user_specified_sources"],
    }
