"""The only code that imports the official `kaggle` client.

It runs as `python -m datasets.kaggle.child`, started by `datasets.kaggle.runner`: the
client keeps its configuration process-wide, reads it at import time and calls `exit()`
on a missing key, and none of its calls has a timeout. A process of its own contains all
of that, and the parent can kill it when Kaggle stops answering.

The child imports the client at once (so a spare is warm before anyone needs it), then
reads one line on stdin with one account's credentials, then serves requests, one JSON
line each with an `id`, each in a thread of its own (a job uploads files in parallel),
until stdin closes. Events (progress, session, then one result or error) go out as JSON
lines tagged with the request's id on the file descriptor named by
WHARF_KAGGLE_EVENTS_FD, because the client prints to stdout and stderr on its own."""

import hashlib
import json
import os
import sys
import threading
import time

EVENTS = None
_emit_lock = threading.Lock()
_current = threading.local()  # the id of the request this thread serves


def emit(**event) -> None:
    line = json.dumps({"id": getattr(_current, "id", None), **event}) + "\n"
    with _emit_lock:
        EVENTS.write(line)
        EVENTS.flush()


def _install_progress_hook() -> None:
    # The client's only progress signal is the module-level `tqdm` it wraps uploads in.
    # A subclass that also reports each update lets the job page show bytes uploaded.
    from kaggle.api import kaggle_api_extended
    from tqdm import tqdm

    class ReportingTqdm(tqdm):
        # Updates come per read chunk (thousands a second): sum them, report 4 times a
        # second and at the end, so progress costs nothing noticeable.
        _pending, _last = 0, 0.0

        def update(self, n=1):
            self._pending += int(n or 0)
            now = time.monotonic()
            if self._pending and now - self._last >= 0.25:
                emit(progress=self._pending)
                self._pending, self._last = 0, now
            return super().update(n)

        def close(self):
            if self._pending:
                emit(progress=self._pending)
                self._pending = 0
            return super().close()

    kaggle_api_extended.tqdm = ReportingTqdm


class _SentHash:
    """The sha256 of the bytes one upload sent, as the client read them from the file.
    Bytes before the first read (a resumed upload's start, hashed when the reader is
    made, before the PUT goes out) and after a rewind (urllib3 re-sending a body) are
    hashed again from the file itself, so the digest always covers the file from its
    first byte to where the client got. At the end of the file its identity (device,
    inode, size, mtime, ctime) is taken: any write to it since it was staged shows
    there. Long reads that send nothing tell the parent they are alive."""

    def __init__(self, fd: int):
        self.fd, self.digest, self.count, self.end = fd, hashlib.sha256(), 0, None

    def before_read(self, position: int) -> None:
        if position == self.count:
            return
        self.digest, self.count, self.end = hashlib.sha256(), 0, None
        alive = time.monotonic()
        while self.count < position:
            chunk = os.pread(self.fd, min(1 << 20, position - self.count), self.count)
            if not chunk:
                break
            self.digest.update(chunk)
            self.count += len(chunk)
            alive = _keep_alive(alive)

    def read(self, data: bytes) -> None:
        if data:
            self.digest.update(data)
            self.count += len(data)
        else:
            self.end = os.fstat(self.fd)

    def result(self) -> dict | None:
        if self.end is None or self.count != self.end.st_size:
            return None
        st = self.end
        return {"sha256": self.digest.hexdigest(), "size": self.count, "device": st.st_dev,
                "inode": st.st_ino, "mtime_ns": st.st_mtime_ns,
                "ctime_ns": st.st_ctime_ns}  # fmt: skip


def _keep_alive(since: float) -> float:
    now = time.monotonic()
    if now - since < 1:
        return since
    emit(alive=True)
    return now


class SourceMismatch(Exception):
    """The file the client opened is not the one staging opened (or was written since)."""


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _install_sent_hash_hook() -> None:
    # The client's resumable PUT reads the file through its module-level
    # TqdmBufferedReader. An upload asked to hash what it sends (`hash_sent`: a file
    # sent straight from lab storage, never copied) swaps in a reader that first checks
    # the file is the one staging opened (`expect`: its identity), before a byte is
    # read, then hashes every byte it hands to the connection.
    from kaggle.api import kaggle_api_extended

    class HashingReader(kaggle_api_extended.TqdmBufferedReader):
        def __init__(self, raw, progress_bar):
            expect = getattr(_current, "expect", None)
            if expect is not None and _identity(os.fstat(raw.fileno())) != expect:
                _current.refused = True
                raise SourceMismatch("not the file staging opened")
            super().__init__(raw, progress_bar)
            readers = getattr(_current, "sent_hashes", None)
            self._sent = _SentHash(raw.fileno()) if readers is not None else None
            if self._sent is not None:
                readers.append(self._sent)
                self._sent.before_read(raw.tell())  # a resumed upload's start

        def read(self, *args, **kwargs):
            if self._sent is None:
                return super().read(*args, **kwargs)
            self._sent.before_read(self.tell())
            buf = super().read(*args, **kwargs)
            self._sent.read(buf)
            return buf

    kaggle_api_extended.TqdmBufferedReader = HashingReader


def _hash_file(path: str) -> dict | None:
    """The whole file, read now: for an upload Kaggle already held in full (a finished
    session reused), where no byte went through the reader."""
    with open(path, "rb") as fh:
        sent, alive = _SentHash(fh.fileno()), time.monotonic()
        while True:
            chunk = fh.read(1 << 20)
            sent.read(chunk)
            if not chunk:
                return sent.result()
            alive = _keep_alive(alive)


def _api():
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    api.authenticate()
    return api


def op_test(api, request) -> dict:
    datasets = api.dataset_list(mine=True) or []
    return {"username": api.get_config_value(api.CONFIG_NAME_USER) or "", "count": len(datasets)}


def op_status(api, request) -> dict:
    """Status and version of `ref`; `exists: False` when Kaggle answers 404."""
    from requests import HTTPError

    try:
        payload = json.loads(
            api.dataset_status(request["ref"], format="json(status,current_version_number)")
        )
    except HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 404:
            return {"exists": False}
        raise
    return {"exists": True, **payload}


def _outcome(response) -> dict:
    error = getattr(response, "error", None) or ""
    status = str(getattr(response, "status", "") or "")
    if error or (status and status.lower() != "ok"):
        return {"refused": error or f"Kaggle answered status {status!r}."}
    return {
        "ref": response.ref or "",
        "url": response.url or "",
        "invalid_tags": list(getattr(response, "invalid_tags", None) or []),
    }


def op_upload(api, request) -> dict:
    """One file: StartBlobUpload, then the client's resumable PUT (its `_upload_blob`).

    The client keeps a session in a JSON file keyed by path and mtime, which a new attempt
    on another worker (another staging folder) never finds. So the parent hands in the
    session it kept with the job (`session`: the StartBlobUpload answer and when it began)
    and the client resumes it: a `bytes */N` probe, 308 + Range, the rest of the bytes; a
    finished one answers 200 and its token is reused without a byte sent. Each new session
    is reported (`session` event) the moment Kaggle grants it, and an expired one
    (`expired` event, Kaggle answered 404) before the client starts afresh.

    `expect`: the identity (device, inode, size, mtime, ctime) the file must have when
    the client opens it, checked before a byte is read (else `SourceMismatch`).
    `hash_sent`: the result also carries `sent`, the sha256 of the file as the client
    read it to send it, with the identity of the file it read (device, inode, size,
    mtime, ctime) taken at its end."""
    from kaggle.api.kaggle_api_extended import (
        ApiBlobType,
        ApiStartBlobUploadResponse,
        ResumableUploadContext,
    )

    previous = request.get("session") or None

    class JobUploadContext(ResumableUploadContext):
        def new_resumable_file_upload(self, path, start_request):
            upload = super().new_resumable_file_upload(path, start_request)
            fresh = previous and previous.get("timestamp", 0) > (
                time.time() - upload.RESUMABLE_UPLOAD_EXPIRY_SECONDS
            )
            if previous and not fresh:
                emit(expired=True)  # older than the client would ever resume
            if fresh and not upload.can_resume:
                upload.start_blob_upload_response = ApiStartBlobUploadResponse.from_dict(
                    previous["response"]
                )
                upload.timestamp = int(previous.get("timestamp") or upload.timestamp)
                upload.can_resume = True
            initiated, expired = upload.upload_initiated, upload.upload_expired

            def upload_initiated(response):
                initiated(response)
                upload.timestamp = int(time.time())
                emit(session={"response": response.to_dict(), "timestamp": upload.timestamp})

            def upload_expired():
                expired()
                emit(expired=True)

            upload.upload_initiated, upload.upload_expired = upload_initiated, upload_expired
            return upload

    readers = _current.sent_hashes = [] if request.get("hash_sent") else None
    _current.expect, _current.refused = request.get("expect"), False
    try:
        with JobUploadContext() as context:
            token = api._upload_blob(request["path"], True, ApiBlobType.DATASET, context)
    finally:
        _current.sent_hashes = _current.expect = None
    if _current.refused:  # the client swallows the reader's error and gives up
        raise SourceMismatch(
            f"{os.path.basename(request['path'])} is not the file Wharf staged (replaced, "
            "or written to, since); none of it was sent."
        )
    if not token:
        raise ValueError("Upload unsuccessful: " + os.path.basename(request["path"]))
    if readers is None:
        return {"token": token}
    sent = readers[-1].result() if readers else None
    return {"token": token, "sent": sent or _hash_file(request["path"])}


def _new_files(api, files: list[dict], resources: list[dict]) -> list:
    """The files part of a create/version request, as the client's upload_files builds it
    (description and columns taken from the matching resource)."""
    from kaggle.api.kaggle_api_extended import ApiDatasetColumn, ApiDatasetNewFile

    by_path = {r.get("path"): r for r in resources or []}
    out = []
    for item in files:
        new_file = ApiDatasetNewFile()
        new_file.token = item["token"]
        resource = by_path.get(item["name"]) or {}
        new_file.description = resource.get("description")
        fields = (resource.get("schema") or {}).get("fields") or []
        if fields:
            columns = []
            for order, field in enumerate(fields):
                column = api.process_column(field)
                column.order = order
                columns.append(ApiDatasetColumn.from_dict(column.to_dict()))
            new_file.columns = columns
        out.append(new_file)
    return out


def op_create(api, request) -> dict:
    """CreateDataset with tokens already uploaded: the one call where Kaggle acts. Sent
    once, without the client's with_retry (which re-sends the same tokens after a dropped
    connection); the parent looks at Kaggle before it ever sends again."""
    from kaggle.api.kaggle_api_extended import ApiCreateDatasetRequest

    meta = request["metadata"]
    owner_slug, dataset_slug = meta["id"].split("/")
    body = ApiCreateDatasetRequest()
    body.title = meta["title"]
    body.slug = dataset_slug
    body.owner_slug = owner_slug
    body.license_name = meta["licenses"][0]["name"]
    body.subtitle = meta.get("subtitle")
    body.description = meta.get("description")
    body.files = _new_files(api, request["files"], meta.get("resources"))
    body.is_private = not request["public"]
    body.category_ids = list(meta.get("keywords") or [])
    with api.build_kaggle_client() as client:
        return _outcome(client.datasets.dataset_api_client.create_dataset(body))


def op_version(api, request) -> dict:
    from kaggle.api.kaggle_api_extended import (
        ApiCreateDatasetVersionRequest,
        ApiCreateDatasetVersionRequestBody,
    )

    meta = request["metadata"]
    owner_slug, dataset_slug = meta["id"].split("/")
    body = ApiCreateDatasetVersionRequestBody()
    body.version_notes = request["notes"]
    body.subtitle = meta.get("subtitle")
    body.description = meta.get("description")
    body.files = _new_files(api, request["files"], meta.get("resources"))
    body.category_ids = list(meta.get("keywords") or [])
    body.delete_old_versions = bool(request.get("delete_old_versions"))
    call = ApiCreateDatasetVersionRequest()
    call.owner_slug, call.dataset_slug, call.body = owner_slug, dataset_slug, body
    with api.build_kaggle_client() as client:
        return _outcome(client.datasets.dataset_api_client.create_dataset_version(call))


def op_update_metadata(api, request) -> dict:
    """The client's own `dataset_metadata_update` (so Kaggle gets exactly what the CLI
    sends). It prints Kaggle's errors and calls exit(1): both are caught here and the
    printed text becomes the refusal, so it never reads as a credentials problem."""
    import contextlib
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "dataset-metadata.json"), "w") as fh:
            json.dump(request["metadata"], fh)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                api.dataset_metadata_update(request["ref"], folder)
        except SystemExit:
            reason = printed.getvalue().strip() or "Kaggle refused the metadata update."
            return {"refused": reason}
    return {"ok": True}


def op_read(api, request) -> dict:
    """Everything Wharf compares after a publish: status, version, every file (all pages)
    and the metadata as Kaggle holds it."""
    from concurrent.futures import ThreadPoolExecutor

    from kaggle.api.kaggle_api_extended import ApiGetDatasetMetadataRequest

    owner_slug, dataset_slug = request["ref"].split("/")[:2]
    metadata_request = ApiGetDatasetMetadataRequest()
    metadata_request.owner_slug, metadata_request.dataset_slug = owner_slug, dataset_slug

    def get_metadata():
        with api.build_kaggle_client() as client:
            return client.datasets.dataset_api_client.get_dataset_metadata(metadata_request)

    # Three reads, asked side by side (a job's read-back is on its critical path).
    with ThreadPoolExecutor(3) as pool:
        asked = [pool.submit(op_status, api, request), pool.submit(_all_files, api, request),
                 pool.submit(get_metadata)]  # fmt: skip
    state = asked[0].result()
    if not state["exists"]:
        return {"exists": False, "status": "", "current_version_number": None, "files": [],
                "metadata": {}, "url": ""}  # fmt: skip
    files, answer = asked[1].result()["files"], asked[2].result()
    if answer.error_message:
        raise ValueError(answer.error_message)
    info = answer.info.to_dict() if answer.info else {}
    metadata = {
        "title": info.get("title") or "",
        "subtitle": info.get("subtitle") or "",
        "description": info.get("description") or "",
        "licenses": [{"name": x.get("name")} for x in info.get("licenses") or []],
        "keywords": list(info.get("keywords") or []),
        "isPrivate": bool(info.get("isPrivate")),
        "resources": [
            {
                "path": d.get("name"),
                "description": d.get("description") or "",
                **({"schema": {"fields": d["columns"]}} if d.get("columns") else {}),
            }
            for d in info.get("data") or []
        ],
        "expectedUpdateFrequency": info.get("expectedUpdateFrequency") or "",
        "userSpecifiedSources": info.get("userSpecifiedSources") or "",
    }
    return {**state, "files": files, "metadata": metadata,
            "url": f"https://www.kaggle.com/datasets/{request['ref']}"}  # fmt: skip


def op_delete(api, request) -> dict:
    from kaggle.api.kaggle_api_extended import ApiDeleteDatasetRequest

    owner_slug, dataset_slug = request["ref"].split("/")[:2]
    call = ApiDeleteDatasetRequest()
    call.owner_slug, call.dataset_slug = owner_slug, dataset_slug
    with api.build_kaggle_client() as client:
        answer = client.datasets.dataset_api_client.delete_dataset(call)
    if getattr(answer, "error", None):
        return {"refused": answer.error}
    return {"ok": True}


def _all_files(api, request) -> dict:
    files, token = [], None
    while True:
        response = api.dataset_list_files(request["ref"], page_token=token, page_size=200)
        files += [{"name": f.name, "size": f.total_bytes}
                  for f in getattr(response, "dataset_files", None) or []]  # fmt: skip
        token = getattr(response, "next_page_token", None)
        if not token:
            return {"files": files}


OPS = {"test": op_test, "status": op_status, "upload": op_upload, "create": op_create,
       "version": op_version, "update_metadata": op_update_metadata, "read": op_read,
       "delete": op_delete, "files": _all_files}  # fmt: skip


def describe_error(exc: BaseException) -> dict:
    """Turns what the client raised into {kind, status, message, retry_after}."""
    import requests

    if isinstance(exc, SourceMismatch):
        return {"kind": "source_mismatch", "message": str(exc)}
    if isinstance(exc, SystemExit):
        return {"kind": "credentials", "message": "The client found no usable credentials."}
    if isinstance(exc, requests.HTTPError):
        response = exc.response
        status = response.status_code if response is not None else None
        retry_after = response.headers.get("Retry-After") if response is not None else None
        return {"kind": "http", "status": status, "message": str(exc)[:500],
                "retry_after": retry_after}  # fmt: skip
    if isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError):
        return {"kind": "connection", "message": str(exc)[:500]}
    if isinstance(exc, ValueError):
        # The client's own checks (title length, upload unsuccessful, ...).
        return {"kind": "value", "message": str(exc)[:500]}
    return {"kind": "unexpected", "message": f"{type(exc).__name__}: {exc}"[:500]}


def _die_with_parent() -> None:
    # A worker killed mid-upload must not leave a client behind that could still create
    # the dataset while the job is retried elsewhere. (Set here, not in preexec_fn: the
    # worker has threads.)
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ.pop("WHARF_KAGGLE_PARENT_PID", os.getppid())):
        os._exit(1)  # the parent died before the line above took effect


# The process's name (ps, /proc/PID/comm): a spare holds no credentials, a client does.
SPARE_NAME, CLIENT_NAME = b"kaggle-spare", b"kaggle-client"


def _name(name: bytes) -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(15, name, 0, 0, 0)  # PR_SET_NAME


def _preload() -> None:
    # Importing the client runs its module-level authenticate(), which finds nothing
    # yet (it prints a notice to our captured stdout and carries on): harmless, and the
    # import is most of a cold start.
    import kaggle.api.kaggle_api_extended  # noqa: F401
    import requests  # noqa: F401


def _serve_one(api, api_error, request) -> None:
    _current.id = request.pop("id")
    try:
        if api_error is not None:
            emit(error=api_error)
        else:
            emit(result=OPS[request["op"]](api, request))
    except BaseException as exc:  # the parent decides what is fatal, never this process
        emit(error=describe_error(exc))


def main() -> int:
    global EVENTS
    _die_with_parent()
    EVENTS = os.fdopen(int(os.environ.pop("WHARF_KAGGLE_EVENTS_FD")), "w", buffering=1)
    # The client calls the builtin exit(), which closes sys.stdin first: requests are
    # read from a copy of the descriptor, and the client gets /dev/null to close.
    requests_in = os.fdopen(os.dup(0), "r")
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until it exits
    _name(SPARE_NAME)
    _install_progress_hook()
    _install_sent_hash_hook()
    _preload()
    first = requests_in.readline()
    if not first:
        return 0  # a spare nobody took
    os.environ.update(json.loads(first)["credentials"])
    _name(CLIENT_NAME)
    api, api_error = None, None
    try:
        api = _api()
    except BaseException as exc:
        api_error = describe_error(exc)
    threads = []
    for line in requests_in:
        thread = threading.Thread(target=_serve_one, args=(api, api_error, json.loads(line)))
        thread.start()
        threads = [t for t in threads if t.is_alive()] + [thread]
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
