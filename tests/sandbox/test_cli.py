"""The official `kaggle` CLI, unmodified, against the sandbox."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from .helpers import csv_rows, make_dataset, puts, rpc_calls

pytestmark = pytest.mark.integration

REF = "wharf-demo/sandbox-demo"
PROCESSING = {
    "not_yet_persisted",
    "blobs_received",
    "blobs_decompressed",
    "blobs_copied_to_sds",
    "individual_blobs_compressed",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored(sandbox, ref: str, version: int, name: str) -> Path:
    entry = next(v for v in sandbox.dataset(ref)["versions"] if v["number"] == version)
    return Path(entry["path"]) / name


@pytest.mark.parametrize("dir_mode", ["zip", "tar"])
def test_create_two_files_and_a_folder(sandbox, client, tmp_path, dir_mode):
    folder = make_dataset(
        tmp_path / "ds",
        REF,
        files={
            "data.csv": "id,score\n1,2\n",
            "notes.txt": "notes\n",
            "extra/readme.txt": "hello\n",
            "extra/nested/deep.txt": "deep\n",
        },
    )
    missing = client.cli("datasets", "status", REF)
    assert missing.returncode == 1
    assert "Dataset not found" in missing.stderr

    created = client.cli("datasets", "create", "-p", str(folder), "--dir-mode", dir_mode)
    assert created.returncode == 0, created.output
    assert f"Starting upload for file extra.{dir_mode}" in created.stdout
    assert (
        "Your private Dataset is being created. Please check progress at "
        f"{sandbox.url}/datasets/{REF}" in created.stdout
    )
    sandbox.wait_for_status(REF)
    assert client.cli("datasets", "status", REF).stdout.strip() == "ready"

    listed = client.cli("datasets", "files", REF, "--csv")
    assert listed.returncode == 0, listed.output
    sizes = {row["name"]: int(row["size"]) for row in csv_rows(listed.stdout)}
    # Kaggle unpacks uploaded archives into a folder of the same name.
    assert sizes == {
        "data.csv": 13,
        "notes.txt": 6,
        "extra/readme.txt": 6,
        "extra/nested/deep.txt": 5,
    }
    mine = client.cli("datasets", "list", "--mine", "--csv")
    rows = csv_rows(mine.stdout)
    assert [r["ref"] for r in rows] == [REF]
    assert rows[0]["title"] == "Sandbox Demo Dataset"
    assert int(rows[0]["size"]) == sum(sizes.values())


def test_large_file_and_unicode_name(sandbox, client, tmp_path):
    big = os.urandom(20 * 1024 * 1024)
    unicode_name = "données-été-東京.csv"
    folder = make_dataset(tmp_path / "ds", REF, files={"big.bin": big, unicode_name: "a,b\n1,2\n"})
    created = client.cli("datasets", "create", "-p", str(folder), "--public")
    assert created.returncode == 0, created.output
    assert "Your public Dataset is being created" in created.stdout
    assert [p["content_length"] for p in puts(sandbox) if p["content_length"] > 10**6] == [len(big)]
    sandbox.wait_for_status(REF)
    assert sha256(stored(sandbox, REF, 1, "big.bin")) == hashlib.sha256(big).hexdigest()
    names = {r["name"] for r in csv_rows(client.cli("datasets", "files", REF, "--csv").stdout)}
    assert names == {"big.bin", unicode_name}

    downloaded = client.cli("datasets", "download", REF, "-p", "dl", "--unzip")
    assert downloaded.returncode == 0, downloaded.output
    assert sha256(tmp_path / "dl" / "big.bin") == hashlib.sha256(big).hexdigest()
    assert (tmp_path / "dl" / unicode_name).read_text() == "a,b\n1,2\n"


def test_new_version_keeps_the_files_of_each_version(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    assert client.cli("datasets", "create", "-p", str(folder)).returncode == 0
    sandbox.wait_for_status(REF)
    (folder / "data.csv").write_text("id,score\n1,2\n3,4\n")
    (folder / "notes.txt").unlink()
    (folder / "more.txt").write_text("more\n")

    versioned = client.cli("datasets", "version", "-p", str(folder), "-m", "Adds more.txt")
    assert versioned.returncode == 0, versioned.output
    assert "Dataset version is being created. Please check progress at" in versioned.stdout
    sandbox.wait_for_status(REF)
    status = json.loads(client.cli("datasets", "status", REF, "--format", "json").stdout)
    assert status == {"status": "ready", "current_version_number": 2}

    def files(spec):
        return {
            r["name"]: r["size"]
            for r in csv_rows(client.cli("datasets", "files", spec, "--csv").stdout)
        }

    assert files(REF) == {"data.csv": "17", "more.txt": "5"}
    assert files(f"{REF}/2") == files(REF)
    assert files(f"{REF}/1") == {"data.csv": "13", "notes.txt": "2"}
    versions = sandbox.dataset(REF)["versions"]
    assert [(v["number"], v["notes"]) for v in versions] == [(1, ""), (2, "Adds more.txt")]


def test_metadata_download_and_update(sandbox, client, tmp_path):
    folder = make_dataset(
        tmp_path / "ds",
        REF,
        extra={
            "keywords": ["biology", "not-a-kaggle-tag"],
            "resources": [
                {
                    "path": "data.csv",
                    "description": "Scores per subject",
                    "schema": {
                        "fields": [
                            {"name": "id", "type": "integer"},
                            {"name": "score", "type": "number"},
                        ]
                    },
                }
            ],
        },
    )
    created = client.cli("datasets", "create", "-p", str(folder))
    assert (
        "The following are not valid tags and could not be added to the dataset: "
        "['not-a-kaggle-tag']" in created.stdout
    )
    sandbox.wait_for_status(REF)

    fetched = client.cli("datasets", "metadata", REF, "-p", "meta")
    assert fetched.returncode == 0, fetched.output
    info = json.loads((tmp_path / "meta" / "dataset-metadata.json").read_text())["info"]
    assert info["title"] == "Sandbox Demo Dataset"
    assert info["isPrivate"] is True
    assert info["licenses"] == [{"name": "CC0-1.0"}]
    data = {d["name"]: d for d in info["data"]}
    assert data["data.csv"]["description"] == "Scores per subject"
    assert [c["type"] for c in data["data.csv"]["columns"]] == ["integer", "numeric"]

    info["description"] = "A new description"
    # "genetics" is no tag Kaggle was seen to answer with: dropped, and the metadata
    # update has no invalidTags to say so (ApiUpdateDatasetMetadataResponse).
    info["keywords"] = ["biology", "genetics", "health"]
    info["isPrivate"] = False  # making it public is allowed ...
    (tmp_path / "meta" / "dataset-metadata.json").write_text(json.dumps({"info": info}))
    updated = client.cli("datasets", "metadata", REF, "-p", "meta", "--update")
    assert updated.returncode == 0, updated.output
    assert "successfully updated dataset metadata" in updated.stdout
    client.cli("datasets", "metadata", REF, "-p", "meta2")
    again = json.loads((tmp_path / "meta2" / "dataset-metadata.json").read_text())["info"]
    assert again["description"] == "A new description"
    assert again["keywords"] == ["biology", "health"]
    assert "isPrivate" not in again  # false is the default, which the client leaves out

    info["isPrivate"] = True  # ... but a public dataset cannot go back to private
    (tmp_path / "meta" / "dataset-metadata.json").write_text(json.dumps({"info": info}))
    refused = client.cli("datasets", "metadata", REF, "-p", "meta", "--update")
    assert refused.returncode == 1
    assert "A public dataset cannot be made private again." in refused.stdout


def test_download_whole_dataset_and_one_file(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF, files={"data.csv": "x\n1\n", "sub/a.txt": "a"})
    client.cli("datasets", "create", "-p", str(folder), "--dir-mode", "zip")
    sandbox.wait_for_status(REF)
    whole = client.cli("datasets", "download", REF, "-p", "all")
    assert whole.returncode == 0, whole.output
    assert "License(s): CC0-1.0" in whole.stdout
    assert (tmp_path / "all" / "sandbox-demo.zip").exists()
    unzipped = client.cli("datasets", "download", REF, "-p", "unz", "--unzip")
    assert unzipped.returncode == 0
    assert (tmp_path / "unz" / "sub" / "a.txt").read_text() == "a"
    single = client.cli("datasets", "download", REF, "-f", "data.csv", "-p", "one")
    assert single.returncode == 0, single.output
    assert (tmp_path / "one" / "data.csv").read_text() == "x\n1\n"


def test_refusals_use_the_clients_messages(sandbox, client, tmp_path):
    short = make_dataset(tmp_path / "short", "wharf-demo/short-title", title="Short")
    refused = client.cli("datasets", "create", "-p", str(short))
    assert refused.returncode == 1
    assert "The dataset title must be between 6 and 50 characters" in refused.stderr
    assert sandbox.request_log() == []  # refused before any request

    first = make_dataset(tmp_path / "first", REF)
    assert client.cli("datasets", "create", "-p", str(first)).returncode == 0
    seq = sandbox.request_log()[-1]["seq"]
    taken = make_dataset(tmp_path / "taken", REF, title="Another Title Here")
    in_use = client.cli("datasets", "create", "-p", str(taken))
    assert in_use.returncode == 0  # the CLI reports it and still exits 0
    assert (
        'Dataset creation error: The requested slug "sandbox-demo" is already in use by a '
        "dataset. Please choose another slug." in in_use.stdout
    )
    assert puts(sandbox, seq) == []  # the client's own pre-check stops it before uploading

    bad = make_dataset(tmp_path / "bad", "wharf-demo/bad-license", license_name="MIT-ish")
    bad_license = client.cli("datasets", "create", "-p", str(bad))
    assert bad_license.returncode == 0
    assert 'Dataset creation error: "MIT-ish" is not a valid license.' in bad_license.stdout
    assert sandbox.dataset("wharf-demo/bad-license") is None

    same_title = make_dataset(tmp_path / "same", "wharf-demo/other-slug")
    duplicate = client.cli("datasets", "create", "-p", str(same_title))
    assert 'The requested title "Sandbox Demo Dataset" is already in use' in duplicate.stdout

    bad_slug = make_dataset(tmp_path / "slug", "wharf-demo/Bad_Slug!!", title="Bad Slug Dataset")
    slug = client.cli("datasets", "create", "-p", str(bad_slug))
    assert 'Dataset creation error: Slug can only contain alphanumeric or "-" characters' in (
        slug.stdout
    )


def test_credentials_and_owners(sandbox, client, tmp_path):
    wrong = client.cli("datasets", "list", "--mine", key="not-the-key")
    assert wrong.returncode == 1
    assert "Authentication required" in wrong.stdout  # the CLI's answer to a 401

    foreign = make_dataset(tmp_path / "foreign", "other-lab/not-mine-to-make")
    forbidden = client.cli("datasets", "create", "-p", str(foreign))
    assert forbidden.returncode == 1
    assert "You are not allowed to create a dataset as this owner." in forbidden.stderr

    org = make_dataset(tmp_path / "org", "demo-lab/lab-dataset")
    assert client.cli("datasets", "create", "-p", str(org), user="alice").returncode == 0
    sandbox.wait_for_status("demo-lab/lab-dataset")
    # A fellow member sees the private dataset; an outsider gets "not found".
    assert client.cli("datasets", "files", "demo-lab/lab-dataset").returncode == 0
    hidden = client.cli("datasets", "files", "demo-lab/lab-dataset", user="bob")
    assert hidden.returncode == 1
    assert "Dataset not found" in hidden.stderr

    token = client.cli(
        "datasets", "list", "--mine", "--csv", user="alice", token="alice-access-token"
    )
    assert token.returncode == 0, token.output
    assert [r["ref"] for r in csv_rows(token.stdout)] == ["demo-lab/lab-dataset"]
    assert rpc_calls(sandbox, "IntrospectToken")


@pytest.mark.parametrize("sandbox", [{"processing_delay": 1.5}], indirect=True)
def test_processing_delay(sandbox, client, tmp_path):
    # One client process, so the checks land well inside the delay.
    folder = make_dataset(tmp_path / "ds", REF)
    seen = client.api(f"""
        import requests, time
        def files():
            try:
                return sorted(f.name for f in api.dataset_list_files({REF!r}).files)
            except requests.HTTPError as exc:
                return exc.response.status_code
        def settle():
            while api.dataset_status({REF!r}) != "ready":
                time.sleep(0.05)
        api.dataset_create_new({str(folder)!r}, quiet=True)
        result = {{"new": [api.dataset_status({REF!r}), files()]}}
        settle()
        result["ready"] = [api.dataset_status({REF!r}), files()]
        api.dataset_create_version({str(folder)!r}, "again", quiet=True)
        result["version"] = [json.loads(api.dataset_status({REF!r}, format="json")), files()]
        settle()
        result["settled"] = json.loads(api.dataset_status({REF!r}, format="json"))
    """)
    # Not ready at once, and the files are not served until it is.
    assert seen["new"][0] in PROCESSING
    assert seen["new"][1] == 404
    assert seen["ready"] == ["ready", ["data.csv", "notes.txt"]]
    # While a new version is processed, Kaggle keeps serving the last processed one.
    assert seen["version"][0]["status"] in PROCESSING
    assert seen["version"][0]["current_version_number"] == 1
    assert seen["version"][1] == ["data.csv", "notes.txt"]
    assert seen["settled"] == {"status": "ready", "current_version_number": 2}
