"""The RPCs: `POST /api/v1/<service>/<method>` with a JSON body, answered with JSON.

Request and response field names are kagglesdk's `json_name`s (camelCase; enums
by name). Errors are Kaggle's envelope `{"code": N, "message": ...}` with HTTP
status N, which the client raises as `requests.HTTPError(message)`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from . import rules, shapes
from .accounts import Accounts
from .blobs import BLOB_TYPES, BlobStore
from .calls import ApiError, Call, Redirect
from .downloads import Signer
from .faults import FaultInjector
from .settings import Settings
from .store import Store
from .writes import Writes

READ_ONLY = {
    "GetDataset",
    "GetDatasetStatus",
    "ListDatasets",
    "ListDatasetFiles",
    "GetDatasetMetadata",
    "DownloadDataset",
    "IntrospectToken",
}


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def parse_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1]))
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid page token") from exc


class Service:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        accounts: Accounts,
        faults: FaultInjector,
        signer: Signer,
        settings: Settings | None = None,
    ):
        self.settings = settings or Settings()
        self.store = store
        self.blobs = blobs
        self.accounts = accounts
        self.faults = faults
        self.signer = signer
        w = Writes(self)
        self.methods: dict[str, Callable[[Call, dict], dict | Redirect]] = {
            "blobs.BlobApiService/StartBlobUpload": self.start_blob_upload,
            "security.OAuthService/IntrospectToken": self.introspect_token,
            "datasets.DatasetApiService/GetDatasetStatus": self.get_dataset_status,
            "datasets.DatasetApiService/GetDataset": self.get_dataset,
            "datasets.DatasetApiService/ListDatasets": self.list_datasets,
            "datasets.DatasetApiService/ListDatasetFiles": self.list_dataset_files,
            "datasets.DatasetApiService/GetDatasetMetadata": self.get_dataset_metadata,
            "datasets.DatasetApiService/DownloadDataset": self.download_dataset,
            "datasets.DatasetApiService/CreateDataset": w.create_dataset,
            "datasets.DatasetApiService/CreateDatasetVersion": w.create_version,
            "datasets.DatasetApiService/CreateDatasetVersionById": w.create_version_by_id,
            "datasets.DatasetApiService/UpdateDatasetMetadata": w.update_metadata,
            "datasets.DatasetApiService/DeleteDataset": w.delete_dataset,
        }

    def dispatch(self, rpc: str, call: Call, body: dict) -> dict | Redirect:
        handler = self.methods.get(rpc)
        if handler is None:
            raise ApiError(501, f"{rpc} is not implemented by the Kaggle sandbox")
        if call.username is None and call.method not in READ_ONLY:
            raise ApiError(401, "Unauthenticated")
        with self.store.lock:
            return handler(call, body)

    # --- permissions ----------------------------------------------------------
    def collaborator_role(self, ds: dict, username: str | None) -> str | None:
        return next((c["role"] for c in ds["collaborators"] if c["username"] == username), None)

    def can_read(self, ds: dict, username: str | None) -> bool:
        return (
            not ds["is_private"]
            or self.accounts.can_write_owner(username, ds["owner"])
            or self.collaborator_role(ds, username) is not None
        )

    def can_write(self, ds: dict, username: str | None) -> bool:
        return self.accounts.can_write_owner(username, ds["owner"]) or self.collaborator_role(
            ds, username
        ) in ("WRITER", "ADMIN", "OWNER")

    def lookup(self, call: Call, owner: str | None, slug: str | None) -> dict:
        """Private datasets the caller cannot see answer exactly like missing ones."""
        ds = self.store.find(owner or "", slug or "")
        if ds is None or not self.can_read(ds, call.username):
            raise ApiError(404, rules.NOT_FOUND)
        return ds

    # --- blobs and tokens -----------------------------------------------------
    def start_blob_upload(self, call: Call, body: dict) -> dict:
        blob_type = str(body.get("type") or "API_BLOB_TYPE_UNSPECIFIED").upper()
        if blob_type not in BLOB_TYPES:
            raise ApiError(400, f"Invalid blob type: {blob_type}")
        name = body.get("name") or ""
        error = rules.file_name_error(name)
        if error:
            raise ApiError(400, error)
        try:
            length = int(body.get("contentLength") or 0)
            modified = body.get("lastModifiedEpochSeconds")
            modified = int(modified) if modified is not None else None
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "contentLength must be an integer") from exc
        if length < 0:
            raise ApiError(400, "contentLength must not be negative")
        blob = self.blobs.start(
            username=call.username or "",
            blob_type=blob_type,
            name=name,
            content_length=length,
            last_modified=modified,
        )
        create_url = (
            f"{call.api_base}/upload/storage/v1/b/kaggle-sandbox-uploads/o"
            f"?uploadType=resumable&upload_id={blob['upload_id']}"
        )
        return {"token": blob["token"], "createUrl": create_url}

    def introspect_token(self, call: Call, body: dict) -> dict:
        username = self.accounts.user_for_token(str(body.get("token") or ""))
        if username is None:
            return {"active": False}
        return {"active": True, "username": username, "clientId": "kaggle-sandbox", "scope": ""}

    # --- reads ----------------------------------------------------------------
    def get_dataset_status(self, call: Call, body: dict) -> dict:
        """Only for datasets one can write: someone else's, even public, is 404 (#368)."""
        ds = self.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        if not self.can_write(ds, call.username):
            raise ApiError(404, rules.NOT_FOUND)
        return {"status": self.store.dataset_status(ds)}

    def get_dataset(self, call: Call, body: dict) -> dict:
        ds = self.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        return shapes.api_dataset(ds, self.store, self.accounts, call.public_url, with_files=True)

    def get_dataset_metadata(self, call: Call, body: dict) -> dict:
        ds = self.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        return {"info": shapes.dataset_info(ds, self.store)}

    def served_version(self, ds: dict, number: int | None) -> dict:
        """The version reads are served from; one still processing is not served yet."""
        version = self.store.version(ds, number) if number else self.store.current_version(ds)
        if version is None or self.store.version_status(version) != "READY":
            raise ApiError(404, rules.NOT_FOUND)
        return version

    def list_dataset_files(self, call: Call, body: dict) -> dict:
        ds = self.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        version = self.served_version(ds, body.get("datasetVersionNumber"))
        size = min(max(int(body.get("pageSize") or 20), 1), 200)
        offset = parse_page_token(body.get("pageToken"))
        files = version["files"][offset : offset + size]
        response = {
            "datasetFiles": [shapes.api_file(ds, version, f, call.public_url) for f in files]
        }
        if offset + size < len(version["files"]):
            response["nextPageToken"] = page_token(offset + size)
        return response

    def list_datasets(self, call: Call, body: dict) -> dict:
        group = body.get("group") or "DATASET_SELECTION_GROUP_PUBLIC"
        user = call.username
        mine_groups = ("MY", "MY_PRIVATE", "MY_PUBLIC")
        if any(group == f"DATASET_SELECTION_GROUP_{g}" for g in mine_groups) and user is None:
            raise ApiError(401, "Unauthenticated")
        selected = []
        for ds in self.store.all():
            mine = self.accounts.can_write_owner(user, ds["owner"]) or ds["creator"] == user
            keep = {
                "DATASET_SELECTION_GROUP_MY": mine,
                "DATASET_SELECTION_GROUP_MY_PRIVATE": mine and ds["is_private"],
                "DATASET_SELECTION_GROUP_MY_PUBLIC": mine and not ds["is_private"],
                # `list --user` shows public datasets only, the caller's own included.
                "DATASET_SELECTION_GROUP_USER": ds["owner"] == body.get("user")
                and not ds["is_private"],
            }.get(group, not ds["is_private"])
            if keep and _matches(ds, body, self.store.total_bytes(ds)):
                selected.append(ds)
        sort_by = body.get("sortBy") or "DATASET_SORT_BY_HOTTEST"
        field = "created" if sort_by == "DATASET_SORT_BY_PUBLISHED" else "updated"
        selected.sort(key=lambda d: (d[field], d["id"]), reverse=True)
        size = min(max(int(body.get("pageSize") or 20), 1), 200)
        if body.get("pageToken"):
            offset = parse_page_token(body["pageToken"])
        else:
            offset = (max(int(body.get("page") or 1), 1) - 1) * size
        page = selected[offset : offset + size]
        response = {
            "datasets": [
                shapes.api_dataset(d, self.store, self.accounts, call.public_url) for d in page
            ]
        }
        if offset + size < len(selected):
            response["nextPageToken"] = page_token(offset + size)
        return response

    def download_dataset(self, call: Call, body: dict) -> Redirect:
        ds = self.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        version = self.served_version(ds, body.get("datasetVersionNumber"))
        name = body.get("fileName")
        if name:
            if self.store.file_path(ds, version, name) is None:
                raise ApiError(404, f"File {name} not found in {shapes.ref(ds)}")
            path = self.signer.url(call.api_base, "file", ds["id"], version["number"], name)
        else:
            archive = f"{ds['slug']}.zip"
            path = self.signer.url(call.api_base, "archive", ds["id"], version["number"], archive)
        ds["downloads"] += 1
        self.store.save()
        return Redirect(path)


def _matches(ds: dict, body: dict, total: int) -> bool:
    search = (body.get("search") or "").lower()
    if search and not any(search in (ds[k] or "").lower() for k in ("title", "slug", "subtitle")):
        return False
    tags = [t.strip().lower() for t in (body.get("tagIds") or "").split(",") if t.strip()]
    keywords = {k.lower() for k in ds["keywords"]}
    if tags and not all(t in keywords for t in tags):
        return False
    if body.get("minSize") is not None and total < int(body["minSize"]):
        return False
    return not (body.get("maxSize") is not None and total > int(body["maxSize"]))
