"""The RPCs that change datasets: create, new version, metadata update, delete.

A create or version Kaggle refuses is an HTTP 200 whose `status` is not "ok" and
whose `error` says why (ApiCreateDatasetResponse); the client prints it and the
CLI still exits 0. A metadata update Kaggle refuses is an HTTP 200 whose `errors`
list is not empty (ApiUpdateDatasetMetadataResponse); the client prints each and
calls exit(1). Permission problems are HTTP errors instead.

Requests are read the way Kaggle's proto handlers read them: a field kagglesdk
marks `optional` has presence (absent = leave it alone), any other field does not
(absent = its default: false, an empty list). FIDELITY.md lists every rule here
with its source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import rules, shapes, tags
from .calls import ApiError, Call

if TYPE_CHECKING:
    from .service import Service

COLLABORATOR_ROLES = {"READER", "WRITER", "OWNER", "ADMIN"}


def _refused(error: str) -> dict:
    return {"status": "error", "error": error}


class Writes:
    def __init__(self, svc: Service):
        self.svc = svc
        self.store = svc.store
        self.blobs = svc.blobs
        self.accounts = svc.accounts

    @property
    def settings(self):
        return self.svc.settings

    def _keywords(self, keywords: list | None) -> tuple[list[str], list[str]]:
        return tags.split_keywords(keywords, self.settings.tag_vocabulary == "extended")

    def _accepted(self, ds: dict, call: Call, invalid: list[str]) -> dict:
        response = {
            "ref": shapes.ref(ds),
            "url": shapes.dataset_url(call.public_url, ds),
            "status": "ok",
        }
        if invalid:
            response["invalidTags"] = invalid
        return response

    # --- the files of a new version -------------------------------------------------
    def _resolve_files(self, call: Call, body: dict) -> tuple[str | None, list[dict]]:
        """The uploads named by `files` (at the top) and `directories`
        (ApiUploadDirectoryInfo: a named folder with its files and sub-folders)."""
        items = [("", item) for item in body.get("files") or []]
        items += _directory_files(body.get("directories") or [], "")
        if not items:
            return rules.NO_FILES, []
        if len(items) > self.settings.max_files:
            return rules.too_many_files(self.settings.max_files), []
        uploads: list[dict] = []
        for folder, item in items:
            token = str((item or {}).get("token") or "")
            blob = self.blobs.by_token(token)
            if blob is None or blob["type"] != "DATASET" or blob["username"] != call.username:
                return f'The upload token "{token}" is not valid or has expired.', []
            reused = blob["used_by"] and self.settings.resent_uploads == "refuse"
            if reused or any(u["token"] == token for u in uploads):
                return f'The upload token "{token}" has already been used.', []
            if not blob["complete"]:
                received = self.blobs.received(blob)
                return (
                    f'The upload of "{blob["name"]}" is not complete '
                    f"({received} of {blob['content_length']} bytes received).",
                    [],
                )
            name = folder + blob["name"]
            if any(u["name"] == name for u in uploads):
                return f'The file name "{name}" is used more than once.', []
            uploads.append(
                {
                    "token": token,
                    "path": self.blobs.data_path(blob),
                    "name": name,
                    "size": blob["content_length"],
                    "description": item.get("description") or "",
                    "columns": item.get("columns") or [],
                }
            )
        return None, uploads

    def _add_version(self, call: Call, ds: dict, uploads: list[dict], **kwargs) -> dict:
        fault = self.svc.faults.take(call.method, phase="processing")
        end = {
            None: "ready",
            "fail_processing": "failed",
            "stuck_processing": "stuck",
            "deleted_processing": "deleted",
            "reprocessing": "reprocessing",
        }[fault.kind if fault else None]
        version = self.store.add_version(
            ds,
            creator=call.username or "",
            uploads=uploads,
            end=end,
            max_files=self.settings.max_files,
            max_bytes=self.settings.max_dataset_bytes,
            **kwargs,
        )
        for upload in uploads:
            self.blobs.mark_used(upload["token"], shapes.ref(ds))
        return version

    def _over_quota(self, owner: str, extra: int) -> bool:
        return self.store.private_bytes(owner) + extra > self.settings.private_quota_bytes

    # --- CreateDataset ------------------------------------------------------------
    def create_dataset(self, call: Call, body: dict) -> dict:
        owner = body.get("ownerSlug") or ""
        if not self.accounts.can_write_owner(call.username, owner):
            raise ApiError(403, rules.NOT_ALLOWED_OWNER)
        slug = body.get("slug") or ""
        title = body.get("title") or ""
        error = (
            rules.slug_error(slug)
            or rules.title_error(title)
            or rules.subtitle_error(body.get("subtitle"))
            or rules.license_error(body.get("licenseName"))
        )
        if not error and self.accounts.has_notebook(owner, slug):
            raise ApiError(400, rules.BAD_REQUEST)
        if not error and self.store.find_any(owner, slug):
            error = rules.slug_taken(slug)
        if not error and self.store.title_taken(owner, title):
            error = rules.title_taken(title)
        uploads: list[dict] = []
        if not error:
            error, uploads = self._resolve_files(call, body)
        if error:
            return _refused(error)
        kept, invalid = self._keywords(body.get("categoryIds"))
        # isPrivate false is the proto default, so the client leaves it out for --public.
        private = bool(body.get("isPrivate", False))
        size = sum(u["size"] for u in uploads)
        ds = self.store.create(
            {
                "owner": owner,
                "slug": slug,
                "title": title,
                "subtitle": body.get("subtitle") or "",
                "description": body.get("description") or "",
                "license": body["licenseName"],
                "keywords": kept,
                "is_private": private,
                "creator": call.username,
                # kaggle-cli #284: over the private quota the create still says ok,
                # and the dataset then answers 404 everywhere.
                "hidden": private and self._over_quota(owner, size),
            }
        )
        try:
            self._add_version(call, ds, uploads, notes="")
        except BaseException:
            self.store.state["datasets"].pop(self.store.key(owner, slug), None)
            raise
        return self._accepted(ds, call, invalid)

    # --- CreateDatasetVersion / ...ById -------------------------------------------
    def create_version(self, call: Call, body: dict) -> dict:
        ds = self.store.find(body.get("ownerSlug") or "", body.get("datasetSlug") or "")
        return self._version(call, ds, body.get("body") or {})

    def create_version_by_id(self, call: Call, body: dict) -> dict:
        try:
            ds = self.store.find_by_id(int(body.get("id") or 0))
        except (TypeError, ValueError):
            ds = None
        ds = ds if self.store.visible(ds) else None
        return self._version(call, ds, body.get("body") or {})

    def _version(self, call: Call, ds: dict | None, body: dict) -> dict:
        """A version carries notes, files, directories, subtitle, description and
        keywords (ApiCreateDatasetVersionRequestBody); title, license and privacy
        never change by version."""
        if ds is None or not self.svc.can_read(ds, call.username):
            return _refused(rules.UNRESOLVED)
        if not self.svc.can_write(ds, call.username):
            raise ApiError(403, "You do not have permission to create a version of this dataset.")
        error = rules.subtitle_error(body.get("subtitle"))
        uploads: list[dict] = []
        if not error:
            error, uploads = self._resolve_files(call, body)
        if error:
            return _refused(error)
        if self.settings.version_applies_text:
            if body.get("subtitle"):
                ds["subtitle"] = body["subtitle"]
            if body.get("description"):
                ds["description"] = body["description"]
        kept, invalid = self._keywords(body.get("categoryIds"))
        if body.get("categoryIds"):
            ds["keywords"] = kept
        size = sum(u["size"] for u in uploads)
        over_quota = ds["is_private"] and self._over_quota(
            ds["owner"], size - self.store.total_bytes(ds)
        )
        version = self._add_version(
            call,
            ds,
            uploads,
            notes=body.get("versionNotes") or "",
            delete_old=bool(body.get("deleteOldVersions")),
        )
        if over_quota and version["end"] == "ready":
            version.update(end="failed", error="Private dataset quota exceeded")
            self.store.save()
        return self._accepted(ds, call, invalid)

    # --- UpdateDatasetMetadata ------------------------------------------------------
    def update_metadata(self, call: Call, body: dict) -> dict:
        ds = self.svc.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        if not self.svc.can_write(ds, call.username):
            raise ApiError(403, "You do not have permission to update this dataset.")
        settings = body.get("settings") or {}
        errors: list[str] = []
        title = settings.get("title", ds["title"]) or ""
        errors += [e for e in (rules.title_error(title),) if e]
        if not errors and self.store.title_taken(ds["owner"], title, besides=ds):
            errors.append(rules.title_taken(title))
        subtitle = settings.get("subtitle", ds["subtitle"]) or ""
        errors += [e for e in (rules.subtitle_error(subtitle),) if e]
        licenses = settings.get("licenses") or []
        if len(licenses) != 1:
            errors.append(rules.ONE_LICENSE)
        elif rules.license_error(licenses[0].get("name")):
            errors.append(rules.license_error(licenses[0].get("name")))
        private = bool(settings.get("isPrivate", False))
        if private and not ds["is_private"]:
            errors.append(rules.PUBLIC_TO_PRIVATE)
        collaborators = []
        for person in settings.get("collaborators") or []:
            username = person.get("username") or ""
            if username not in self.accounts.users:
                errors.append(f'Collaborator "{username}" is not a Kaggle user.')
            role = str(person.get("role") or "READER").removeprefix("COLLABORATOR_TYPE_")
            collaborators.append(
                {"username": username, "role": role if role in COLLABORATOR_ROLES else "READER"}
            )
        version = self.store.current_version(ds) or ds["versions"][-1]
        files = {f["name"]: f for f in version["files"]}
        errors += [
            f'File "{d.get("name")}" is not part of this dataset.'
            for d in settings.get("data") or []
            if d.get("name") not in files
        ]
        image = settings.get("image")
        blob = self.blobs.by_token((image or {}).get("token") or "") if image else None
        if image and (blob is None or blob["type"] != "INBOX" or not blob["complete"]):
            errors.append("The cover image upload is not valid or not complete.")
        if errors:
            return {"errors": errors}
        kept, _dropped = self._keywords(settings.get("keywords"))
        ds.update(
            title=title,
            subtitle=subtitle,
            description=settings.get("description", ds["description"]) or "",
            is_private=private,
            keywords=kept,
            collaborators=collaborators,
            license=licenses[0]["name"],
            expected_update_frequency=settings.get(
                "expectedUpdateFrequency", ds["expected_update_frequency"]
            )
            or "",
            user_specified_sources=settings.get(
                "userSpecifiedSources", ds["user_specified_sources"]
            )
            or "",
        )
        if blob is not None:
            ds["image_token"] = blob["token"]
            self.blobs.mark_used(blob["token"], shapes.ref(ds))
        for item in settings.get("data") or []:
            entry = files[item["name"]]
            if "description" in item:
                entry["description"] = item.get("description") or ""
            entry["columns"] = [
                {
                    "order": i,
                    "name": c.get("name", ""),
                    "type": c.get("type", ""),
                    "originalType": c.get("type", ""),
                    "description": c.get("description", ""),
                }
                for i, c in enumerate(item.get("columns") or [])
            ]
        self.store.save()
        return {"errors": []}

    # --- DeleteDataset -------------------------------------------------------------
    def delete_dataset(self, call: Call, body: dict) -> dict:
        ds = self.svc.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        if not self.accounts.can_write_owner(call.username, ds["owner"]):
            raise ApiError(403, "You do not have permission to delete this dataset.")
        self.store.delete(ds)
        return {}


def _directory_files(directories: list, prefix: str) -> list[tuple[str, dict]]:
    """Flattens ApiUploadDirectoryInfo trees into (folder path, ApiDatasetNewFile)."""
    found: list[tuple[str, dict]] = []
    for directory in directories:
        name = str((directory or {}).get("name") or "").strip("/")
        if not name or rules.file_name_error(name):
            raise ApiError(400, f"Directory name is not valid: {name!r}")
        folder = f"{prefix}{name}/"
        found += [(folder, item) for item in directory.get("files") or []]
        found += _directory_files(directory.get("directories") or [], folder)
    return found
