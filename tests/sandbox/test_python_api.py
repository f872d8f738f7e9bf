"""The Python API (kaggle.api.kaggle_api_extended.KaggleApi), unmodified, against
the sandbox; each snippet runs in its own process (see helpers.Client.api)."""

from __future__ import annotations

import json

import pytest

from .helpers import make_dataset, rpc_calls

pytestmark = pytest.mark.integration

REF = "demo-lab/api-dataset"


def test_create_version_and_read_back(sandbox, client, tmp_path):
    # isPrivate in the metadata file is ignored on create: only `public` decides.
    folder = make_dataset(
        tmp_path / "ds",
        REF,
        extra={"isPrivate": False},
        files={"data.csv": "a\n1\n", "folder/x.txt": "x"},
    )
    created = client.api(f"""
        r = api.dataset_create_new({str(folder)!r}, quiet=True, dir_mode="tar")
        result = {{"status": r.status, "error": r.error, "ref": r.ref, "url": r.url}}
    """)
    assert created == {
        "status": "ok",
        "error": "",
        "ref": REF,
        "url": f"{sandbox.url}/datasets/{REF}",
    }
    assert sandbox.dataset(REF)["is_private"] is True
    assert rpc_calls(sandbox, "CreateDataset")[0]["body"]["isPrivate"] is True
    sandbox.wait_for_status(REF)

    (folder / "data.csv").write_text("a\n1\n2\n")
    read = client.api(f"""
        v = api.dataset_create_version({str(folder)!r}, "Second version", quiet=True)
        import time
        while api.dataset_status({REF!r}) != "ready":
            time.sleep(0.1)
        files = api.dataset_list_files({REF!r})
        mine = api.dataset_list(mine=True)
        path = api.dataset_metadata({REF!r}, {str(tmp_path / "meta")!r})
        result = {{
            "version": [v.status, v.error],
            "status": json.loads(api.dataset_status({REF!r}, format="json")),
            "files": sorted((f.name, f.total_bytes) for f in files.files),
            "mine": [d.ref for d in mine],
            "private": [d.is_private for d in mine],
            "metadata": json.load(open(path))["info"]["title"],
        }}
    """)
    assert read == {
        "version": ["ok", ""],
        "status": {"status": "ready", "current_version_number": 2},
        "files": [["data.csv", 6]],  # dir_mode "skip": the folder is not in v2
        "mine": [REF],
        "private": [True],
        "metadata": "Sandbox Demo Dataset",
    }


def test_refusals_come_back_in_the_response(sandbox, client, tmp_path):
    public = make_dataset(tmp_path / "pub", "wharf-demo/public-one", title="Public Dataset")
    bad = make_dataset(tmp_path / "bad", "wharf-demo/bad-license", license_name="WTFPL")
    result = client.api(f"""
        first = api.dataset_create_new({str(public)!r}, public=True, quiet=True)
        again = api.dataset_create_new({str(public)!r}, public=True, quiet=True)
        bad = api.dataset_create_new({str(bad)!r}, quiet=True)
        result = [[r.status, r.error] for r in (first, again, bad)]
    """)
    assert result[0] == ["ok", ""]
    assert result[1] == [
        "error",
        'The requested slug "public-one" is already in use by a dataset. '
        "Please choose another slug.",
    ]
    assert result[2][0] == "error"
    assert result[2][1].startswith('"WTFPL" is not a valid license.')
    # --public: isPrivate false is the default value, so the client leaves it out.
    assert "isPrivate" not in rpc_calls(sandbox, "CreateDataset")[0]["body"]
    assert sandbox.dataset("wharf-demo/public-one")["is_private"] is False


def test_public_cannot_become_private_and_delete(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", "wharf-demo/to-delete", title="To Be Deleted")
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "dataset-metadata.json").write_text(
        json.dumps({"title": "To Be Deleted", "isPrivate": True, "licenses": [{"name": "CC0-1.0"}]})
    )
    result = client.api(f"""
        import requests
        api.dataset_create_new({str(folder)!r}, public=True, quiet=True)
        try:
            api.dataset_metadata_update("wharf-demo/to-delete", {str(meta)!r})
            update = "no error"
        except SystemExit as exc:
            update = f"SystemExit({{exc.code}})"
        api.dataset_delete("wharf-demo", "to-delete", no_confirm=True)
        try:
            api.dataset_status("wharf-demo/to-delete")
            after = "still there"
        except requests.HTTPError as exc:
            after = [exc.response.status_code, str(exc)]
        result = {{"update": update, "after": after}}
    """)
    assert result == {"update": "SystemExit(1)", "after": [404, "Dataset not found"]}
