"""`/_sandbox/...`: the control and inspection endpoints tests and people use.

GET  health | state | log[?since=SEQ] | faults | settings
POST faults {method, kind, count, ...} (or a list) | bandwidth {bytes_per_second, shared}
     expire-uploads {include_complete} | clear-log | settings {name: value, ...}
     reprocess {ref, seconds}
DELETE faults
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .faults import FaultError
from .settings import SettingsError

if TYPE_CHECKING:
    from .server import Handler


def _body(handler: Handler):
    raw = handler.read_body()
    return json.loads(raw.decode("utf-8")) if raw.strip() else {}


def state(handler: Handler) -> dict:
    server = handler.server
    store = server.store
    with store.lock:
        datasets = [
            {
                "ref": f"{d['owner']}/{d['slug']}",
                "id": d["id"],
                "title": d["title"],
                "is_private": d["is_private"],
                "deleted": bool(d.get("deleted")),
                "hidden": bool(d.get("hidden")),
                "keywords": list(d["keywords"]),
                "subtitle": d["subtitle"],
                "description": d["description"],
                "status": store.dataset_status(d),
                "versions": [
                    {
                        "number": v["number"],
                        "status": store.version_status(v),
                        "error": v.get("error"),
                        "notes": v["notes"],
                        "files": [{"name": f["name"], "size": f["size"]} for f in v["files"]],
                        "path": str(store.version_dir(d, v)),
                    }
                    for v in d["versions"]
                ],
            }
            for d in store.every()
        ]
    return {
        "settings": server.settings.to_dict(),
        "datasets": datasets,
        "uploads": server.blobs.summaries(),
        "faults": server.faults.list(),
        "upload_bandwidth": server.faults.upload_bandwidth,
        "shared_uplink": server.faults.shared_uplink,
        "processing_delay": store.processing_delay,
    }


def handle(handler: Handler, action: str):
    server = handler.server
    verb = handler.command
    try:
        body = _body(handler) if verb in ("POST", "DELETE") else {}
    except ValueError:
        return handler.send_json(400, {"error": "the body is not JSON"})
    try:
        if verb == "GET" and action == "health":
            return handler.send_json(
                200, {"ok": True, "port": server.port, "data_dir": str(server.config.data_dir)}
            )
        if verb == "GET" and action == "state":
            return handler.send_json(200, state(handler))
        if verb == "GET" and action == "log":
            since = int((handler.query.get("since") or ["0"])[0])
            with server.log_lock:
                entries = [e for e in server.request_log if e["seq"] > since]
            return handler.send_json(200, {"requests": entries})
        if action == "faults" and verb == "GET":
            return handler.send_json(200, {"faults": server.faults.list()})
        if action == "faults" and verb == "DELETE":
            server.faults.clear()
            return handler.send_json(200, {"faults": []})
        if action == "faults" and verb == "POST":
            specs = body if isinstance(body, list) else [body]
            added = [server.faults.add(spec).to_dict() for spec in specs]
            return handler.send_json(200, {"faults": added})
        if action == "bandwidth" and verb == "POST":
            server.faults.set_bandwidth(body.get("bytes_per_second"), body.get("shared"))
            return handler.send_json(200, {"upload_bandwidth": server.faults.upload_bandwidth})
        if action == "expire-uploads" and verb == "POST":
            count = server.blobs.expire(include_complete=bool(body.get("include_complete")))
            return handler.send_json(200, {"expired": count})
        if action == "settings" and verb == "GET":
            return handler.send_json(200, {"settings": server.settings.to_dict()})
        if action == "settings" and verb == "POST":
            with server.store.lock:
                server.settings.update(body)
                server.settings.save(server.settings_path)
            return handler.send_json(200, {"settings": server.settings.to_dict()})
        if action == "reprocess" and verb == "POST":
            owner, _, slug = str(body.get("ref") or "").partition("/")
            with server.store.lock:
                ds = server.store.find(owner, slug)
                version = server.store.reprocess(ds, body.get("seconds")) if ds else None
            if version is None:
                return handler.send_json(404, {"error": "no such dataset with a ready version"})
            return handler.send_json(200, {"reprocessing": version["number"]})
        if action == "clear-log" and verb == "POST":
            with server.log_lock:
                server.request_log.clear()
            return handler.send_json(200, {"ok": True})
    except (FaultError, SettingsError, TypeError, ValueError, AttributeError) as exc:
        return handler.send_json(400, {"error": str(exc)})
    return handler.send_json(404, {"error": f"unknown admin action {verb} {action}"})
