"""The sandbox as strict as Kaggle (issue 14): each test pins one row of
kaggle_sandbox/FIDELITY.md, through the official CLI or Python API, unmodified."""

from __future__ import annotations

import json
import time

import pytest
from kagglesdk.datasets.types.dataset_enums import DatabundleVersionStatus

from kaggle_sandbox import DEFAULT_NOTEBOOK
from kaggle_sandbox.settings import Settings

from .helpers import ACCOUNTS, make_dataset, puts, rpc_calls

pytestmark = pytest.mark.integration

REF = "wharf-demo/fidelity-demo"
WITH_NOTEBOOK = {
    **ACCOUNTS,
    "users": [
        {**ACCOUNTS["users"][0], "notebooks": ["my-notebook-slug"]},
        *ACCOUNTS["users"][1:],
    ],
}


def versions(sandbox, ref: str = REF) -> list[dict]:
    return sandbox.dataset(ref)["versions"]


def metadata(client, tmp_path, ref: str = REF, user: str = "wharf-demo") -> dict:
    folder = tmp_path / f"meta-{len(list(tmp_path.glob('meta-*')))}"
    fetched = client.cli("datasets", "metadata", ref, "-p", str(folder), user=user)
    assert fetched.returncode == 0, fetched.output
    return json.loads((folder / "dataset-metadata.json").read_text())["info"]


def update_metadata(client, tmp_path, info: dict, ref: str = REF) -> dict:
    """Runs the Python API's dataset_metadata_update; it calls exit(1) on a refusal."""
    folder = tmp_path / f"update-{len(list(tmp_path.glob('update-*')))}"
    folder.mkdir()
    (folder / "dataset-metadata.json").write_text(json.dumps(info))
    return client.api(f"""
        import contextlib, io
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                api.dataset_metadata_update({ref!r}, {str(folder)!r})
            result = {{"exit": None, "printed": out.getvalue()}}
        except SystemExit as exc:
            result = {{"exit": exc.code, "printed": out.getvalue()}}
    """)


def full_metadata(**changes) -> dict:
    info = {
        "title": "Fidelity Demo Data",
        "subtitle": "A small dataset used to exercise the sandbox",
        "description": "Files published through the official client.",
        "isPrivate": True,
        "licenses": [{"name": "CC0-1.0"}],
        "keywords": ["biology"],
    }
    info.update(changes)
    return info


@pytest.fixture
def created(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF, title="Fidelity Demo Data")
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "is being created" in result.stdout, result.output
    sandbox.wait_for_status(REF)
    return folder


# --- a new version -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sandbox", "applied"),
    [({}, False), ({"settings": {"version_applies_text": True}}, True)],
    indirect=["sandbox"],
)
def test_a_version_does_not_apply_subtitle_or_description_by_default(
    sandbox, client, tmp_path, created, applied
):
    meta = json.loads((created / "dataset-metadata.json").read_text())
    meta.update(
        title="A Different Title",
        subtitle="A different subtitle sent with the version",
        description="A different description sent with the version",
        licenses=[{"name": "CC-BY-4.0"}],
        isPrivate=False,
    )
    (created / "dataset-metadata.json").write_text(json.dumps(meta))
    result = client.cli("datasets", "version", "-p", str(created), "-m", "v2", "-q")
    assert "Dataset version is being created" in result.stdout, result.output
    sandbox.wait_for_status(REF)
    info = metadata(client, tmp_path)
    # Title, license and privacy never change by version (not in the request type).
    assert (info["title"], info["licenses"], info["isPrivate"]) == (
        "Fidelity Demo Data",
        [{"name": "CC0-1.0"}],
        True,
    )
    subtitle_applied = info["subtitle"] == "A different subtitle sent with the version"
    description_applied = info["description"] == "A different description sent with the version"
    assert (subtitle_applied, description_applied) == (applied, applied)


# --- UpdateDatasetMetadata -----------------------------------------------------------
def test_metadata_update_takes_the_clients_defaults_for_omitted_fields(
    sandbox, client, tmp_path, created
):
    with_alice = full_metadata(collaborators=[{"username": "alice", "role": "reader"}])
    assert update_metadata(client, tmp_path, with_alice)["exit"] is None
    assert metadata(client, tmp_path)["collaborators"]
    # No isPrivate, keywords, description or collaborators: the client sends its
    # defaults (public, none, "", none), and they are applied.
    info = full_metadata()
    for name in ("isPrivate", "keywords", "description"):
        info.pop(name)
    assert update_metadata(client, tmp_path, info)["exit"] is None
    after = metadata(client, tmp_path)
    assert "isPrivate" not in after  # false, which the client leaves out: now public
    assert after.get("keywords", []) == []
    assert after.get("collaborators", []) == []
    assert after["description"] == ""
    assert after["subtitle"] == "A small dataset used to exercise the sandbox"


def test_metadata_update_refusals_print_and_exit_1(sandbox, client, tmp_path, created):
    other = make_dataset(tmp_path / "other", "wharf-demo/fidelity-other", title="Another Title")
    client.cli("datasets", "create", "-p", str(other), "-q")
    sandbox.wait_for_status("wharf-demo/fidelity-other")

    refusals = {
        "title": (full_metadata(title="Another Title"), "is already in use by a dataset"),
        "no title": ({**full_metadata(), "title": ""}, "between 6 and 50 characters"),
        "no license": (full_metadata(licenses=[]), "Please specify exactly one license"),
        "collaborator": (
            full_metadata(collaborators=[{"username": "nobody-here", "role": "reader"}]),
            'Collaborator "nobody-here" is not a Kaggle user.',
        ),
    }
    for case, (info, message) in refusals.items():
        refused = update_metadata(client, tmp_path, info)
        assert refused["exit"] == 1, case
        assert message in refused["printed"], case

    assert update_metadata(client, tmp_path, full_metadata(isPrivate=False))["exit"] is None
    back = update_metadata(client, tmp_path, full_metadata(isPrivate=True))
    assert back["exit"] == 1
    assert "A public dataset cannot be made private again." in back["printed"]


def test_metadata_update_keeps_what_else_it_is_sent(sandbox, client, tmp_path, created):
    (tmp_path / "cover").mkdir()
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    info = full_metadata(
        collaborators=[{"username": "alice", "role": "writer"}],
        expectedUpdateFrequency="monthly",
        userSpecifiedSources="Field survey, 2024",
        resources=[
            {
                "path": "data.csv",
                "description": "Scores",
                "schema": {"fields": [{"name": "id", "description": "Row id", "type": "integer"}]},
            }
        ],
    )
    folder = tmp_path / "with-image"
    folder.mkdir()
    (folder / "dataset-metadata.json").write_text(json.dumps(info))
    (folder / "dataset-cover-image.png").write_bytes(png)
    result = client.api(f"api.dataset_metadata_update({REF!r}, {str(folder)!r})")
    assert result is None
    after = metadata(client, tmp_path)
    assert [(c["username"], c["role"].lower()) for c in after["collaborators"]] == [
        ("alice", "writer")
    ]
    assert after["expectedUpdateFrequency"] == "monthly"
    assert after["userSpecifiedSources"] == "Field survey, 2024"
    data = {d["name"]: d for d in after["data"]}
    assert data["data.csv"]["description"] == "Scores"
    assert data["data.csv"]["columns"][0]["description"] == "Row id"
    uploads = sandbox.state()["uploads"]
    assert any(u["used_by"] == REF and u["name"].endswith(".png") for u in uploads)


# --- keywords ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sandbox", "kept"),
    [({}, ["biology", "tabular-data"]), ({"settings": {"tag_vocabulary": "extended"}}, None)],
    indirect=["sandbox"],
)
def test_keywords_that_are_not_kaggle_tags_are_dropped_and_reported(
    sandbox, client, tmp_path, kept
):
    keywords = ["biology", "tabular-data", "genetics", "not-a-kaggle-tag"]
    folder = make_dataset(tmp_path / "ds", REF, extra={"keywords": keywords})
    result = client.api(f"""
        r = api.dataset_create_new({str(folder)!r}, quiet=True)
        result = {{"status": r.status, "invalid": r.invalid_tags}}
    """)
    assert result["status"] == "ok"
    if kept is None:  # "genetics" is in the older, unsourced list only
        kept = ["biology", "tabular-data", "genetics"]
    assert result["invalid"] == [k for k in keywords if k not in kept]
    sandbox.wait_for_status(REF)
    assert sandbox.dataset(REF)["keywords"] == kept


# --- limits --------------------------------------------------------------------------
def test_the_file_count_limit_refuses_with_kagglesmessage(sandbox, client, tmp_path):
    assert Settings().max_files == 1000
    sandbox.configure(max_files=3)
    files = {f"part-{i}.csv": f"{i}\n" for i in range(4)}
    folder = make_dataset(tmp_path / "ds", REF, files=files)
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "Dataset creation error: The file count exceeds the maximum of 3" in result.stdout
    assert sandbox.dataset(REF) is None


def test_a_dataset_over_the_size_limit_fails_at_processing(sandbox, client, tmp_path):
    sandbox.configure(max_dataset_bytes=100)
    folder = make_dataset(tmp_path / "ds", REF, files={"big.csv": "x" * 150})
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "Your private Dataset is being created" in result.stdout  # accepted first
    sandbox.wait_for_status(REF, "FAILED")
    assert client.cli("datasets", "status", REF).stdout.strip() == "failed"
    assert versions(sandbox)[0]["error"] == (
        "The size of your files is 150 bytes, it exceeds the maximum of 100 bytes"
    )


def test_over_the_private_quota_the_create_succeeds_then_404s(sandbox, client, tmp_path):
    sandbox.configure(private_quota_bytes=100)
    folder = make_dataset(tmp_path / "ds", REF, files={"big.csv": "x" * 150})
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "Your private Dataset is being created" in result.stdout
    status = client.cli("datasets", "status", REF)
    assert status.returncode == 1
    assert "Dataset not found" in status.output
    again = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "is already in use by a dataset" in again.stdout  # the slug is gone anyway
    public = make_dataset(tmp_path / "pub", "wharf-demo/fidelity-public", title="Public One")
    made = client.cli("datasets", "create", "-p", str(public), "--public", "-q")
    assert "Your public Dataset is being created" in made.stdout
    sandbox.wait_for_status("wharf-demo/fidelity-public")


# --- processing states ---------------------------------------------------------------
@pytest.mark.parametrize("sandbox", [{"processing_delay": 2.0}], indirect=True)
def test_processing_states_and_current_version(sandbox, client, tmp_path, created):
    sandbox.inject_fault("CreateDatasetVersion", "reprocessing")
    seen = client.api(f"""
        import time
        api.dataset_create_version({str(created)!r}, "v2", quiet=True)
        states, numbers = [], []
        deadline = time.time() + 20
        while time.time() < deadline:
            now = json.loads(api.dataset_status({REF!r}, format="json"))
            if not states or states[-1] != now["status"]:
                states.append(now["status"])
            if now["status"] != "ready":
                numbers.append(now["current_version_number"])
            if now["status"] == "ready":
                break
            time.sleep(0.05)
        # The client reads status and number in two calls: the last poll before ready
        # may straddle the moment the version became ready.
        result = {{"states": states, "numbers": sorted(set(numbers[:-1])), "final": now}}
    """)
    names = [status.name.lower() for status in DatabundleVersionStatus]
    assert set(seen["states"]) <= set(names)
    # In kagglesdk's order (the first poll may come after not_yet_persisted is over).
    processing = [s for s in seen["states"] if s not in ("reprocessing", "ready")]
    assert processing == sorted(processing, key=names.index) and processing
    assert "reprocessing" in seen["states"]
    assert seen["states"][-1] == "ready"
    assert seen["numbers"] == [1]  # currentVersionNumber waits for READY
    assert seen["final"]["current_version_number"] == 2


@pytest.mark.parametrize(
    ("kind", "status"), [("deleted_processing", "DELETED"), ("fail_processing", "FAILED")]
)
def test_a_version_can_end_deleted_or_failed(sandbox, client, tmp_path, created, kind, status):
    sandbox.inject_fault("CreateDatasetVersion", kind)
    client.cli("datasets", "version", "-p", str(created), "-m", "v2", "-q")
    sandbox.wait_for_status(REF, status)
    assert client.cli("datasets", "status", REF).stdout.strip() == status.lower()
    number = client.api(f"result = api.dataset_status({REF!r}, format='json')")
    assert json.loads(number)["current_version_number"] == 1


def test_admin_reprocess_sends_a_ready_version_back(sandbox, client, tmp_path, created):
    assert sandbox.reprocess(REF, seconds=8) == 1  # long enough for a slow client start
    assert client.cli("datasets", "status", REF).stdout.strip() == "reprocessing"
    sandbox.wait_for_status(REF)


# --- names that stay taken -----------------------------------------------------------
def test_title_and_slug_stay_taken_after_a_delete(sandbox, client, tmp_path, created):
    client.api("api.dataset_delete('wharf-demo', 'fidelity-demo', no_confirm=True)")
    assert "Dataset not found" in client.cli("datasets", "status", REF).output
    again = client.cli("datasets", "create", "-p", str(created), "-q")
    assert 'The requested slug "fidelity-demo" is already in use' in again.stdout
    renamed = make_dataset(tmp_path / "renamed", "wharf-demo/fidelity-other", "Fidelity Demo Data")
    title = client.cli("datasets", "create", "-p", str(renamed), "-q")
    assert 'The requested title "Fidelity Demo Data" is already in use' in title.stdout


def test_title_stays_taken_while_a_version_is_stuck_processing(sandbox, client, tmp_path):
    sandbox.inject_fault("CreateDataset", "stuck_processing")
    folder = make_dataset(tmp_path / "ds", REF, title="Stuck For Ever")
    client.cli("datasets", "create", "-p", str(folder), "-q")
    time.sleep(1)  # three processing delays
    assert client.cli("datasets", "status", REF).stdout.strip() == "individual_blobs_compressed"
    other = make_dataset(tmp_path / "other", "wharf-demo/fidelity-other", title="Stuck For Ever")
    result = client.cli("datasets", "create", "-p", str(other), "-q")
    assert 'The requested title "Stuck For Ever" is already in use' in result.stdout


@pytest.mark.parametrize(
    ("sandbox", "slug"),
    [({"accounts": WITH_NOTEBOOK}, "my-notebook-slug"), ({"accounts": None}, DEFAULT_NOTEBOOK)],
    indirect=["sandbox"],
)
def test_a_slug_one_of_the_owners_notebooks_uses_is_a_bad_request(sandbox, client, tmp_path, slug):
    folder = make_dataset(tmp_path / "ds", f"wharf-demo/{slug}")
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert result.returncode == 1
    assert "Bad Request" in result.output
    assert sandbox.dataset(f"wharf-demo/{slug}") is None


# --- faults after the request took effect ----------------------------------------------
def test_create_acted_then_the_answer_dropped(sandbox, client, tmp_path):
    sandbox.inject_fault("CreateDataset", "act_then_drop")
    folder = make_dataset(tmp_path / "ds", REF)
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    # The client's with_retry sent it again, and the slug was taken by then.
    assert len(rpc_calls(sandbox, "CreateDataset")) == 2
    assert 'The requested slug "fidelity-demo" is already in use' in result.stdout
    assert [v["number"] for v in versions(sandbox)] == [1]


@pytest.mark.parametrize(
    ("sandbox", "numbers", "said"),
    [
        ({}, [1, 2, 3], "Dataset version is being created"),
        ({"settings": {"resent_uploads": "refuse"}}, [1, 2], "has already been used"),
    ],
    indirect=["sandbox"],
)
def test_version_acted_then_the_answer_dropped(sandbox, client, tmp_path, created, numbers, said):
    sandbox.inject_fault("CreateDatasetVersion", "act_then_drop")
    result = client.cli("datasets", "version", "-p", str(created), "-m", "v2", "-q")
    assert said in result.stdout
    assert [v["number"] for v in versions(sandbox)] == numbers
    assert len(rpc_calls(sandbox, "CreateDatasetVersion")) == 2


def test_metadata_update_acted_then_the_answer_dropped(sandbox, client, tmp_path, created):
    sandbox.inject_fault("UpdateDatasetMetadata", "act_then_drop")
    folder = tmp_path / "upd"
    folder.mkdir()
    info = full_metadata(description="Changed before the answer was lost")
    (folder / "dataset-metadata.json").write_text(json.dumps(info))
    result = client.api(f"""
        import requests
        try:
            api.dataset_metadata_update({REF!r}, {str(folder)!r})
            result = "answered"
        except requests.ConnectionError as exc:  # ProxyError here: we are its proxy
            result = "connection lost"
    """)
    assert result == "connection lost"
    assert sandbox.dataset(REF)["description"] == "Changed before the answer was lost"


def test_refused_yet_the_dataset_exists(sandbox, client, tmp_path):
    sandbox.inject_fault("CreateDataset", "act_then_refuse")
    folder = make_dataset(tmp_path / "ds", REF)
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert (
        "Dataset creation error: Cannot update dataset usability rating without a current "
        "dataset version" in result.stdout
    )
    sandbox.wait_for_status(REF)
    assert client.cli("datasets", "status", REF).stdout.strip() == "ready"


def test_a_500_after_acting_leaves_the_dataset_being_created(sandbox, client, tmp_path):
    sandbox.inject_fault("CreateDataset", "act_then_error")
    folder = make_dataset(tmp_path / "ds", REF)
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert result.returncode == 1
    assert "An internal server error occurred" in result.output
    assert sandbox.dataset(REF) is not None


# --- files ---------------------------------------------------------------------------
def test_directories_are_honoured(sandbox, client, tmp_path):
    for name, content in {"top.csv": "a\n1\n", "inner.csv": "b\n2\n", "deep.txt": "d\n"}.items():
        (tmp_path / name).write_text(content)
    result = client.api(f"""
        from kaggle.api.kaggle_api_extended import ResumableUploadContext
        from kagglesdk.blobs.types.blob_api_service import ApiBlobType
        from kagglesdk.datasets.types.dataset_api_service import (
            ApiCreateDatasetRequest, ApiDatasetNewFile, ApiUploadDirectoryInfo)

        def new_file(name):
            with ResumableUploadContext() as context:
                token = api._upload_blob({str(tmp_path)!r} + "/" + name, True,
                                         ApiBlobType.DATASET, context)
            f = ApiDatasetNewFile()
            f.token = token
            return f

        deep = ApiUploadDirectoryInfo()
        deep.name = "deeper"
        deep.files = [new_file("deep.txt")]
        folder = ApiUploadDirectoryInfo()
        folder.name = "folder"
        folder.files = [new_file("inner.csv")]
        folder.directories = [deep]
        request = ApiCreateDatasetRequest()
        request.owner_slug, request.slug = "wharf-demo", "fidelity-demo"
        request.title, request.license_name = "Fidelity Demo Data", "CC0-1.0"
        request.files = [new_file("top.csv")]
        request.directories = [folder]
        with api.build_kaggle_client() as kaggle:
            response = kaggle.datasets.dataset_api_client.create_dataset(request)
        result = response.status
    """)
    assert result == "ok"
    sandbox.wait_for_status(REF)
    names = {f["name"] for f in versions(sandbox)[0]["files"]}
    assert names == {"top.csv", "folder/inner.csv", "folder/deeper/deep.txt"}


def test_a_zero_byte_file_is_uploaded_with_a_chunked_put(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF, files={"empty.csv": "", "data.csv": "a\n"})
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "is being created" in result.stdout, result.output
    assert any(p.get("chunked") and p["status"] == 200 for p in puts(sandbox))
    sandbox.wait_for_status(REF)
    sizes = {f["name"]: f["size"] for f in versions(sandbox)[0]["files"]}
    assert sizes == {"empty.csv": 0, "data.csv": 2}


# --- reads ---------------------------------------------------------------------------
def test_status_of_another_owners_public_dataset_is_404(sandbox, client, tmp_path):
    folder = make_dataset(tmp_path / "ds", REF)
    client.cli("datasets", "create", "-p", str(folder), "--public", "-q")
    sandbox.wait_for_status(REF)
    theirs = client.cli("datasets", "status", REF, user="bob")
    assert theirs.returncode == 1
    assert "Dataset not found" in theirs.output
    assert client.cli("datasets", "files", REF, user="bob").returncode == 0


def test_list_user_shows_public_datasets_only(sandbox, client, tmp_path):
    public = make_dataset(tmp_path / "pub", "wharf-demo/fidelity-public", title="Public One")
    private = make_dataset(tmp_path / "priv", "wharf-demo/fidelity-private", title="Private One")
    client.cli("datasets", "create", "-p", str(public), "--public", "-q")
    client.cli("datasets", "create", "-p", str(private), "-q")
    sandbox.wait_for_status("wharf-demo/fidelity-public")
    sandbox.wait_for_status("wharf-demo/fidelity-private")
    listed = client.cli("datasets", "list", "--user", "wharf-demo", "--csv")
    assert "wharf-demo/fidelity-public" in listed.stdout
    assert "wharf-demo/fidelity-private" not in listed.stdout  # even for its owner
    mine = client.cli("datasets", "list", "--mine", "--csv")
    assert "wharf-demo/fidelity-private" in mine.stdout


@pytest.mark.parametrize(
    ("envelope", "message"),
    [("flat", "TooManyRequests"), ("nested", "429 Client Error: Too Many Requests")],
)
def test_429_in_both_envelopes(sandbox, client, tmp_path, envelope, message):
    sandbox.inject_fault("ListDatasets", "429", envelope=envelope)
    seen = client.api("""
        import requests
        try:
            api.dataset_list(mine=True)
            result = None
        except requests.HTTPError as exc:
            result = [exc.response.status_code, str(exc), exc.response.json()]
    """)
    assert seen[0] == 429
    assert message in seen[1]
    if envelope == "nested":
        assert seen[2] == {
            "error": {"code": 429, "message": "Too many requests", "status": "RESOURCE_EXHAUSTED"}
        }
    else:
        assert seen[2] == {"code": 429, "message": "TooManyRequests"}
    # Creates go through with_retry, which waits and tries again on either.
    sandbox.inject_fault("CreateDataset", "429", envelope=envelope)
    folder = make_dataset(tmp_path / "ds", REF)
    result = client.cli("datasets", "create", "-p", str(folder), "-q")
    assert "is being created" in result.stdout, result.output


def test_a_version_by_id_follows_the_same_rules(sandbox, client, tmp_path, created):
    meta = json.loads((created / "dataset-metadata.json").read_text())
    meta.pop("id")
    meta["id_no"] = sandbox.dataset(REF)["id"]
    meta["subtitle"] = "A different subtitle sent with the version"
    (created / "dataset-metadata.json").write_text(json.dumps(meta))
    result = client.cli("datasets", "version", "-p", str(created), "-m", "by id", "-q")
    assert "Dataset version is being created" in result.stdout, result.output
    assert rpc_calls(sandbox, "CreateDatasetVersionById")
    sandbox.wait_for_status(REF)
    assert [v["notes"] for v in versions(sandbox)] == ["", "by id"]
    assert sandbox.dataset(REF)["subtitle"] == "A small dataset used to exercise the sandbox"


def test_the_dataset_page_says_sandbox_and_shows_a_processing_error(sandbox, client, tmp_path):
    import urllib.request

    sandbox.configure(max_dataset_bytes=10)
    folder = make_dataset(tmp_path / "ds", REF, files={"big.csv": "x" * 20})
    client.cli("datasets", "create", "-p", str(folder), "-q")
    sandbox.wait_for_status(REF, "FAILED")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{sandbox.url}/datasets/{REF}") as page:
        html = page.read().decode()
    assert "Kaggle sandbox" in html
    assert "Error during creation: The size of your files is 20 bytes" in html
