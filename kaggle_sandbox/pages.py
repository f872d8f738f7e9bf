"""Human-facing pages, so the dataset links the API hands out open in a browser.

Every page says plainly that this is the sandbox, not kaggle.com.
"""

from __future__ import annotations

from html import escape

from .shapes import iso
from .store import Store

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    ".banner{background:#fff3cd;border:1px solid #e0c060;padding:.6rem 1rem;border-radius:6px}"
    "table{border-collapse:collapse}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;"
    "text-align:left}code{background:#f4f4f4;padding:0 .2rem}"
)
BANNER = (
    '<p class="banner"><strong>Kaggle sandbox</strong> — a local stand-in for kaggle.com. '
    "Nothing here has been published to Kaggle.</p>"
)


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}"
        f" · Kaggle sandbox</title><style>{_STYLE}</style></head><body>{BANNER}{body}"
        "</body></html>"
    ).encode()


def index_page(store: Store) -> bytes:
    rows = "".join(
        f"<tr><td><a href='/datasets/{escape(d['owner'])}/{escape(d['slug'])}'>"
        f"{escape(d['owner'])}/{escape(d['slug'])}</a></td><td>{escape(d['title'])}</td>"
        f"<td>{'private' if d['is_private'] else 'public'}</td>"
        f"<td>{store.dataset_status(d).lower()}</td></tr>"
        for d in sorted(store.all(), key=lambda d: d["updated"], reverse=True)
    )
    body = (
        "<h1>Datasets</h1><table><tr><th>ref</th><th>title</th><th>visibility</th>"
        f"<th>status</th></tr>{rows}</table>"
        if rows
        else "<h1>Datasets</h1><p>No datasets yet.</p>"
    )
    return _page("Datasets", body)


def dataset_page(store: Store, ds: dict) -> bytes:
    versions = []
    for v in reversed(ds["versions"]):
        if v.get("deleted"):
            continue
        files = "".join(
            f"<tr><td><code>{escape(f['name'])}</code></td><td>{f['size']}</td>"
            f"<td>{escape(f.get('description') or '')}</td></tr>"
            for f in v["files"]
        )
        versions.append(
            f"<h3>Version {v['number']} · {store.version_status(v).lower()} · "
            f"{iso(v['created'])}</h3><p>{escape(v['notes'])}</p>"
            + (
                f"<p><strong>Error during creation: {escape(v['error'])}</strong></p>"
                if v.get("error")
                else ""
            )
            + f"<table><tr><th>file</th><th>bytes</th><th>description</th></tr>{files}</table>"
        )
    body = (
        f"<h1>{escape(ds['title'])}</h1><p>{escape(ds['subtitle'])}</p>"
        f"<p><code>{escape(ds['owner'])}/{escape(ds['slug'])}</code> · "
        f"{'private' if ds['is_private'] else 'public'} · license {escape(ds['license'])} · "
        f"status {store.dataset_status(ds).lower()}</p>"
        f"<pre style='white-space:pre-wrap'>{escape(ds['description'])}</pre>" + "".join(versions)
    )
    return _page(ds["title"], body)
