"""The RPCs that change datasets: create, new version, metadata update, delete.

A create or version Kaggle refuses is an HTTP 200 whose `status` is not "ok" and
whose `error` says why (ApiCreateDatasetResponse); the client prints it and the
CLI still exits 0. Permission problems are HTTP errors instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import rules, shapes
from .calls import ApiError, Call

if TYPE_CHECKING:
    from .service import Service


def _refused(error: str) -> dict:
    return {"status": "error", "error": error}


class Writes:
    def __init__(self, svc: Service):
        self.svc = svc
        self.store = svc.store
        self.blobs = svc.blobs
        self.accounts = svc.accounts

    def _accepted(self, ds: dict, call: Call, keywords: list[str] | None) -> dict:
        response = {
            "ref": shapes.ref(ds),
            "url": shapes.dataset_url(call.public_url, ds),
            "status": "ok",
        }
        invalid = rules.invalid_tags(keywords)
        if invalid:
            response["invalidTags"] = invalid
        return response

    def _resolve_files(self, call: Call, files: list | None) -> tuple[str | None, list[dict]]:
        if not files:
            return rules.NO_FILES, []
        uploads: list[dict] = []
        for item in files:
            token = str((item or {}).get("token") or "")
            blob = self.blobs.by_token(token)
            if blob is None or blob["type"] != "DATASET" or blob["username"] != call.username:
                return f'The upload token "{token}" is not valid or has expired.', []
            if blob["used_by"] or any(u["token"] == token for u in uploads):
                return f'The upload token "{token}" has already been used.', []
            if not blob["complete"]:
                received = self.blobs.received(blob)
                return (
                    f'The upload of "{blob["name"]}" is not complete '
                    f"({received} of {blob['content_length']} bytes received).",
                    [],
                )
            if any(u["name"] == blob["name"] for u in uploads):
                return f'The file name "{blob["name"]}" is used more than once.', []
            uploads.append(
                {
                    "token": token,
                    "path": self.blobs.data_path(blob),
                    "name": blob["name"],
                    "description": item.get("description") or "",
                    "columns": item.get("columns") or [],
                }
            )
        return None, uploads

    def _add_version(self, call: Call, ds: dict, uploads: list[dict], **kwargs) -> None:
        fail = self.svc.faults.take(call.method, processing=True) is not None
        self.store.add_version(
            ds, creator=call.username or "", uploads=uploads, fail=fail, **kwargs
        )
        for upload in uploads:
            self.blobs.mark_used(upload["token"], shapes.ref(ds))

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
        if not error and self.store.find(owner, slug):
            error = (
                f'The requested slug "{slug}" is already in use by a dataset. '
                "Please choose another slug."
            )
        if not error and self.store.title_taken(owner, title):
            error = (
                f'The requested title "{title}" is already in use by a dataset. '
                "Please choose another title."
            )
        uploads: list[dict] = []
        if not error:
            error, uploads = self._resolve_files(call, body.get("files"))
        if error:
            return _refused(error)
        ds = self.store.create(
            {
                "owner": owner,
                "slug": slug,
                "title": title,
                "subtitle": body.get("subtitle") or "",
                "description": body.get("description") or "",
                "license": body["licenseName"],
                "keywords": list(body.get("categoryIds") or []),
                # isPrivate false is the default, so the client leaves it out for --public.
                "is_private": bool(body.get("isPrivate", False)),
                "creator": call.username,
            }
        )
        try:
            self._add_version(call, ds, uploads, notes="")
        except BaseException:
            self.store.state["datasets"].pop(self.store.key(owner, slug), None)
            raise
        return self._accepted(ds, call, body.get("categoryIds"))

    # --- CreateDatasetVersion / ...ById -------------------------------------------
    def create_version(self, call: Call, body: dict) -> dict:
        ds = self.store.find(body.get("ownerSlug") or "", body.get("datasetSlug") or "")
        return self._version(call, ds, body.get("body") or {})

    def create_version_by_id(self, call: Call, body: dict) -> dict:
        try:
            ds = self.store.find_by_id(int(body.get("id") or 0))
        except (TypeError, ValueError):
            ds = None
        return self._version(call, ds, body.get("body") or {})

    def _version(self, call: Call, ds: dict | None, body: dict) -> dict:
        if ds is None or not self.svc.can_read(ds, call.username):
            return _refused(rules.UNRESOLVED)
        if not self.svc.can_write(ds, call.username):
            raise ApiError(403, "You do not have permission to create a version of this dataset.")
        error = rules.subtitle_error(body.get("subtitle"))
        uploads: list[dict] = []
        if not error:
            error, uploads = self._resolve_files(call, body.get("files"))
        if error:
            return _refused(error)
        if body.get("subtitle"):
            ds["subtitle"] = body["subtitle"]
        if body.get("description"):
            ds["description"] = body["description"]
        if body.get("categoryIds"):
            ds["keywords"] = list(body["categoryIds"])
        self._add_version(
            call,
            ds,
            uploads,
            notes=body.get("versionNotes") or "",
            delete_old=bool(body.get("deleteOldVersions")),
        )
        return self._accepted(ds, call, body.get("categoryIds"))

    # --- UpdateDatasetMetadata ------------------------------------------------------
    def update_metadata(self, call: Call, body: dict) -> dict:
        """There is no field mask: like Kaggle's proto handler, an omitted field is its
        default (empty text, no keywords, not private). Title and license, which a
        dataset cannot be without, are kept when omitted."""
        ds = self.svc.lookup(call, body.get("ownerSlug"), body.get("datasetSlug"))
        if not self.svc.can_write(ds, call.username):
            raise ApiError(403, "You do not have permission to update this dataset.")
        settings = body.get("settings") or {}
        errors = [
            e
            for e in (
                rules.title_error(settings.get("title") or ds["title"]),
                rules.subtitle_error(settings.get("subtitle")),
            )
            if e
        ]
        licenses = settings.get("licenses") or []
        if len(licenses) > 1:
            errors.append("Please specify exactly one license")
        elif licenses and rules.license_error(licenses[0].get("name")):
            errors.append(rules.license_error(licenses[0].get("name")))
        private = bool(settings.get("isPrivate", False))
        if private and not ds["is_private"]:
            errors.append(rules.PUBLIC_TO_PRIVATE)
        collaborators = []
        for person in settings.get("collaborators") or []:
            username = person.get("username") or ""
            if username not in self.accounts.users:
                errors.append(f'Collaborator "{username}" is not a Kaggle user.')
            role = person.get("role") or "READER"
            collaborators.append(
                {"username": username, "role": "READER" if role.startswith("COLLAB") else role}
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
        ds.update(
            title=settings.get("title") or ds["title"],
            subtitle=settings.get("subtitle") or "",
            description=settings.get("description") or "",
            is_private=private,
            keywords=list(settings.get("keywords") or []),
            collaborators=collaborators,
            expected_update_frequency=settings.get("expectedUpdateFrequency") or "",
            user_specified_sources=settings.get("userSpecifiedSources") or "",
        )
        if licenses:
            ds["license"] = licenses[0]["name"]
        if blob is not None:
            ds["image_token"] = blob["token"]
            self.blobs.mark_used(blob["token"], shapes.ref(ds))
        for item in settings.get("data") or []:
            entry = files[item["name"]]
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
