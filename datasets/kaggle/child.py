"""The only code that imports the official `kaggle` client.

It runs as `python -m datasets.kaggle.child`, one process per operation, started by
`datasets.kaggle.runner` with one account's credentials in its environment: the client
keeps its configuration process-wide, reads it at import time and calls `exit()` on a
missing key, and none of its calls has a timeout. A process of its own contains all of
that, and the parent can kill it when Kaggle stops answering.

The request comes on stdin as JSON; events (progress, then one result or error) go out
as JSON lines on the file descriptor named by WHARF_KAGGLE_EVENTS_FD, because the client
prints to stdout and stderr on its own."""

import json
import os
import sys
import time

EVENTS = None


def emit(**event) -> None:
    EVENTS.write(json.dumps(event) + "\n")
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
    return {"ref": response.ref or "", "url": response.url or ""}


def op_create(api, request) -> dict:
    response = api.dataset_create_new(
        request["folder"], public=request["public"], quiet=True, dir_mode="skip"
    )
    return _outcome(response)


def op_version(api, request) -> dict:
    response = api.dataset_create_version(
        request["folder"], request["notes"], quiet=True, dir_mode="skip"
    )
    return _outcome(response)


def op_files(api, request) -> dict:
    response = api.dataset_list_files(request["ref"], page_size=200)
    files = getattr(response, "dataset_files", None) or []
    return {"files": [{"name": f.name, "size": f.total_bytes} for f in files]}


OPS = {"test": op_test, "status": op_status, "create": op_create, "version": op_version,
       "files": op_files}  # fmt: skip


def describe_error(exc: BaseException) -> dict:
    """Turns what the client raised into {kind, status, message, retry_after}."""
    import requests

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


def main() -> int:
    global EVENTS
    _die_with_parent()
    EVENTS = os.fdopen(int(os.environ.pop("WHARF_KAGGLE_EVENTS_FD")), "w", buffering=1)
    request = json.load(sys.stdin)
    try:
        _install_progress_hook()
        api = _api()
        emit(result=OPS[request["op"]](api, request))
    except BaseException as exc:  # the parent decides what is fatal, never this process
        emit(error=describe_error(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
