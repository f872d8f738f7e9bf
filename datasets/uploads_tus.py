"""Resumable browser uploads: the server side of the tus protocol 1.0.0 (core, creation,
termination and expiration extensions; https://tus.io/protocols/resumable-upload).

The browser (static/vendor/tus/tus.min.js) creates an upload with its length and name,
then PATCHes bytes from the offset the server holds; a dropped connection or a reloaded
page asks that offset again (HEAD) and goes on from there. When the last byte is in, the
file becomes a DatasetFile through `services.files.file_add_upload`, the same path (and
the same checks) as a one-request upload: the partial file is moved into storage, not
copied.

No maintained Django implementation fits (django-tus is unmaintained since 2020, drf-tus
needs DRF views and keeps its state in the cache); this one is small: one partial file
and one JSON sidecar per upload under WHARF_TUS_DIR, owned by one user and one dataset.
Abandoned uploads expire (WHARF_TUS_EXPIRE_SECONDS after their last byte) and
`tus_sweep()` deletes them."""

import base64
import binascii
import fcntl
import json
import logging
import os
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_protect

from datasets.services.errors import Forbidden, ServiceError
from datasets.services.files import file_add_upload, file_upload_check
from datasets.views.datasets import readonly_reason
from datasets.views.mixins import DatasetChildMixin, error_message

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
CHUNK = 1024 * 1024
UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def tus_dir() -> Path:
    # Beside MEDIA_ROOT by default, so that completing an upload is a rename, not a copy.
    return Path(settings.WHARF_TUS_DIR or settings.DATA_DIR / "uploads-partial")


def chunk_bytes() -> int:
    """The piece the browser sends per PATCH."""
    return settings.WHARF_TUS_CHUNK_BYTES


def expire_seconds() -> int:
    return settings.WHARF_TUS_EXPIRE_SECONDS


class _Partial(UploadedFile):
    """A finished partial file handed to the storage as a temporary upload: the storage
    moves it into place (`temporary_file_path`), as it does Django's own big uploads."""

    def __init__(self, path: Path, name: str, size: int):
        super().__init__(open(path, "rb"), name=name, size=size)  # noqa: SIM115
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def _paths(upload_id: str) -> tuple[Path, Path]:
    base = tus_dir()
    return base / f"{upload_id}.part", base / f"{upload_id}.json"


def _read_state(upload_id: str) -> dict | None:
    if not UPLOAD_ID.match(upload_id):
        return None
    _, info = _paths(upload_id)
    try:
        return json.loads(info.read_text())
    except (OSError, ValueError):
        return None


def _write_state(upload_id: str, state: dict) -> None:
    _, info = _paths(upload_id)
    tmp = info.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, info)


def _delete(upload_id: str) -> None:
    for path in _paths(upload_id):
        path.unlink(missing_ok=True)


def _offset(upload_id: str) -> int:
    part, _ = _paths(upload_id)
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _expires(state: dict) -> float:
    return state.get("touched", state["created"]) + expire_seconds()


def _http_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata: key base64value,key2 base64value2` (values may be absent)."""
    result = {}
    for pair in filter(None, (p.strip() for p in (header or "").split(","))):
        key, _, value = pair.partition(" ")
        try:
            result[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(f"Upload-Metadata '{key}' is not base64 of UTF-8 text.") from None
    return result


def tus_sweep(now: float | None = None) -> int:
    """Deletes the uploads nobody finished in time (and stray partial files); returns
    how many. Run periodically (the beat schedule's sweep)."""
    now = time.time() if now is None else now
    base = tus_dir()
    if not base.is_dir():
        return 0
    removed = 0
    for info in base.glob("*.json"):
        upload_id = info.stem
        state = _read_state(upload_id)
        if state is None or _expires(state) < now:
            _delete(upload_id)
            removed += 1
            log.info(
                "tus upload %s expired",
                upload_id,
                extra={"dataset_id": (state or {}).get("dataset_id")},
            )
    for part in base.glob("*.part"):
        if not part.with_suffix(".json").exists() and part.stat().st_mtime + expire_seconds() < now:
            part.unlink(missing_ok=True)
            removed += 1
    return removed


def _tus_response(status: int = 204, body: dict | None = None, **headers) -> HttpResponse:
    if body is not None:
        response = JsonResponse(body, status=status)
    else:
        response = HttpResponse(status=status)
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = str(value)
    return response


def _error(status: int, message: str) -> HttpResponse:
    # tus-js-client shows the response body of a refusal: keep it a sentence.
    return _tus_response(status, {"ok": False, "errors": [message]})


@method_decorator(csrf_protect, name="dispatch")
class TusMixin(DatasetChildMixin):
    """Logged in (else the login page, as everywhere on the web), the dataset in the
    user's labs (else 404), CSRF-checked like every POST of the portal (tus-js-client
    sends the X-CSRFToken header), then the protocol's version header."""

    def check_access(self):
        self.get_dataset()
        if self.request.method.lower() not in self.http_method_names:
            return None  # the view answers 405 (a GET is no tus request at all)
        version = self.request.headers.get("Tus-Resumable")
        if self.request.method != "OPTIONS" and version != TUS_VERSION:
            body = {"ok": False, "errors": ["Tus-Resumable 1.0.0 expected."]}
            return _tus_response(412, body, Tus_Version=TUS_VERSION)
        return None

    def options(self, request, *args, **kwargs):
        return _tus_response(
            204,
            Tus_Version=TUS_VERSION,
            Tus_Extension=EXTENSIONS,
            Tus_Max_Size=settings.WHARF_UPLOAD_MAX_BYTES,
        )


class TusCreateView(TusMixin, View):
    """POST: a new upload (Upload-Length, Upload-Metadata filename/description). Every
    refusal known before the bytes (role, read-only dataset, name, size) comes now."""

    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        if request.headers.get("Upload-Defer-Length"):
            return _error(400, "The upload's length must be known when it starts.")
        try:
            length = int(request.headers.get("Upload-Length", ""))
        except ValueError:
            return _error(400, "Upload-Length is missing or not a number.")
        if length < 0:
            return _error(400, "Upload-Length is negative.")
        try:
            meta = parse_metadata(request.headers.get("Upload-Metadata", ""))
        except ValueError as exc:
            return _error(400, str(exc))
        name = meta.get("filename") or meta.get("name") or ""
        description = meta.get("description", "")
        reason = readonly_reason(dataset)
        if reason:
            return _error(409, reason)
        try:
            name = file_upload_check(
                dataset, actor=request.user, name=name, size=length, description=description
            )
        except Forbidden as exc:
            return _error(403, exc.message)
        except (ServiceError, ValidationError) as exc:
            status = 413 if getattr(exc, "code", "") == "file_too_large" else 400
            return _error(status, error_message(exc))
        upload_id = secrets.token_urlsafe(24)
        tus_dir().mkdir(parents=True, exist_ok=True)
        part, _ = _paths(upload_id)
        part.touch(mode=0o600)
        now = time.time()
        state = {
            "user_id": request.user.pk,
            "dataset_id": dataset.pk,
            "length": length,
            "name": name,
            "description": description,
            "created": now,
            "touched": now,
        }
        _write_state(upload_id, state)
        log.info("tus upload %s created (%s bytes)", upload_id, length,
                 extra={"dataset_id": dataset.pk})  # fmt: skip
        location = request.build_absolute_uri(
            reverse("datasets:file_tus_upload", args=[dataset.pk, upload_id])
        )
        return _tus_response(201, Location=location, Upload_Expires=_http_date(_expires(state)))


class TusUploadView(TusMixin, View):
    """HEAD: the offset the server holds. PATCH: bytes from that offset (streamed to the
    partial file, never past Upload-Length). DELETE: give up."""

    http_method_names = ["head", "patch", "delete", "options"]

    def _state(self):
        """(upload_id, state) of an upload of this user and this dataset, or a 404."""
        dataset = self.get_dataset()
        upload_id = self.kwargs["upload_id"]
        state = _read_state(upload_id)
        if (
            state is None
            or state["user_id"] != self.request.user.pk
            or state["dataset_id"] != dataset.pk
        ):
            return upload_id, None
        if state.get("done") is None and _expires(state) < time.time():
            _delete(upload_id)
            return upload_id, None
        return upload_id, state

    def head(self, request, *args, **kwargs):
        upload_id, state = self._state()
        if state is None:
            return _tus_response(404)
        offset = state["length"] if state.get("done") else _offset(upload_id)
        return _tus_response(
            200,
            Upload_Offset=offset,
            Upload_Length=state["length"],
            Upload_Expires=_http_date(_expires(state)),
        )

    def delete(self, request, *args, **kwargs):
        upload_id, state = self._state()
        if state is None:
            return _tus_response(404)
        _delete(upload_id)
        return _tus_response(204)

    def patch(self, request, *args, **kwargs):
        upload_id, state = self._state()
        if state is None:
            return _error(404, "This upload expired or does not exist; start it again.")
        if request.content_type != "application/offset+octet-stream":
            return _error(415, "Content-Type application/offset+octet-stream expected.")
        if state.get("done"):
            return _error(409, f"'{state['name']}' is already added.")
        try:
            claimed = int(request.headers.get("Upload-Offset", ""))
        except ValueError:
            return _error(400, "Upload-Offset is missing or not a number.")
        part, _ = _paths(upload_id)
        offset = _offset(upload_id)
        if claimed != offset:
            return _tus_response(409, {"ok": False, "errors": ["Offset mismatch."]},
                                 Upload_Offset=offset)  # fmt: skip
        with open(part, "ab") as out:
            try:
                # One PATCH at a time per upload: a client retrying while its first
                # request still runs would interleave bytes. tus-js-client retries a 423.
                fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _error(423, "This upload is receiving bytes already.")
            if _offset(upload_id) != claimed:
                return _tus_response(409, {"ok": False, "errors": ["Offset mismatch."]},
                                     Upload_Offset=_offset(upload_id))  # fmt: skip
            offset = self._receive(request, out, upload_id, offset, state["length"])
        if offset is None:
            return _error(413, "More bytes than the upload's declared length.")
        state["touched"] = time.time()
        _write_state(upload_id, state)
        if offset < state["length"]:
            return _tus_response(204, Upload_Offset=offset,
                                 Upload_Expires=_http_date(_expires(state)))  # fmt: skip
        return self._complete(upload_id, state, part)

    def _receive(self, request, out, upload_id: str, offset: int, length: int) -> int | None:
        """Appends the body to the partial file as it arrives; a dropped connection keeps
        every byte written so far (the next HEAD says where to go on). None when the
        client sends past the declared length (those bytes are not kept)."""
        room = length - offset
        try:
            declared = int(request.headers.get("Content-Length") or -1)
        except ValueError:
            declared = -1
        if declared > room:
            return None
        try:
            while room > 0:
                chunk = request.read(min(CHUNK, room))
                if not chunk:
                    break
                out.write(chunk)
                room -= len(chunk)
                offset += len(chunk)
        except OSError:
            # The connection dropped mid-body (the client resumes from the offset).
            log.info("tus upload %s interrupted at %s", upload_id, offset)
        out.flush()
        os.fsync(out.fileno())
        return offset

    def _complete(self, upload_id: str, state: dict, part: Path) -> HttpResponse:
        dataset = self.get_dataset()
        uploaded = _Partial(part, state["name"], state["length"])
        try:
            item = file_add_upload(
                dataset,
                actor=self.request.user,
                uploaded_file=uploaded,
                description=state["description"],
            )
        except (ServiceError, ValidationError) as exc:
            # Refused at the end (e.g. the same name was added meanwhile): nothing is kept.
            # 422, not 409: tus clients retry a 409, and this refusal is final.
            _delete(upload_id)
            return _error(422, error_message(exc))
        finally:
            uploaded.close()
        state["done"] = item.path
        _write_state(upload_id, state)
        part.unlink(missing_ok=True)
        log.info("tus upload %s added as %s", upload_id, item.path,
                 extra={"dataset_id": dataset.pk})  # fmt: skip
        return _tus_response(204, Upload_Offset=state["length"], Wharf_File=item.path)
