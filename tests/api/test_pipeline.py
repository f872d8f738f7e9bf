"""A pipeline (CI, an instrument) registers new versions through the API with tokens:
point at new data on lab storage, submit with notes, approve with an engineer's token,
then poll the job. No worker runs here: the job is asserted queued, and publishing is
played through the services where a test needs a published version."""

import pytest

from datasets.models import JobState, PublishJob
from tests.continuous import publish_without_worker

from .conftest import api_client

pytestmark = pytest.mark.django_db


def make_run(team, name: str, rows: int) -> str:
    folder = team.storage / "runs" / name
    folder.mkdir(parents=True)
    (folder / "readings.csv").write_text("t,temp\n" + "1,12.5\n" * rows)
    (folder / "meta.json").write_text('{"instrument": "buoy-7"}')
    return str(folder)


@pytest.fixture
def ci(team):
    return api_client(team.ada)


@pytest.fixture
def engineer(team):
    return api_client(team.grace)


def test_a_pipeline_registers_submits_gets_approved_and_polls_the_job(team, ci, engineer):
    created = ci.post(
        "/api/v1/datasets/",
        {"lab": team.lab.pk, "slug": "buoy-seven-readings", "title": "Buoy 7 readings",
         "license": "CC-BY-4.0", "storage_path": make_run(team, "2026-01", 10)},
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    dataset = created.json()
    assert dataset["source"] == "storage" and dataset["status"] == "draft"

    submitted = ci.post(f"/api/v1/datasets/{dataset['id']}/submissions/", {"version_notes": "v1"})
    assert submitted.status_code == 201, submitted.json()
    submission = submitted.json()
    assert submission["state"] == "pending_review" and submission["number"] == 1
    assert [f["path"] for f in submission["files"]] == ["2026-01"]

    assert ci.post(f"/api/v1/submissions/{submission['id']}/approve/").status_code == 403
    approved = engineer.post(f"/api/v1/submissions/{submission['id']}/approve/", {"note": "ok"})
    assert approved.status_code == 200, approved.json()
    job_id = approved.json()["job"]

    job = ci.get(f"/api/v1/jobs/{job_id}/").json()
    assert job["state"] == "queued" and job["submission"] == submission["id"]
    assert {"bytes_done", "bytes_total", "error_code", "error_message"} <= set(job)
    assert ci.get(f"/api/v1/datasets/{dataset['id']}/").json()["status"] == "approved"


def test_the_next_run_replaces_the_storage_path_and_becomes_version_two(team, ci, engineer):
    created = ci.post(
        "/api/v1/datasets/",
        {"lab": team.lab.pk, "slug": "buoy-seven-readings", "title": "Buoy 7 readings",
         "license": "CC-BY-4.0", "storage_path": make_run(team, "2026-01", 10)},
    ).json()  # fmt: skip
    dataset_id = created["id"]
    first = ci.post(f"/api/v1/datasets/{dataset_id}/submissions/", {"version_notes": "v1"}).json()
    job_id = engineer.post(f"/api/v1/submissions/{first['id']}/approve/").json()["job"]
    publish_without_worker(PublishJob.objects.get(pk=job_id))
    assert ci.get(f"/api/v1/jobs/{job_id}/").json()["state"] == "published"

    # Update the storage path: the old run out, the new run in, named like the old one.
    (old,) = ci.get(f"/api/v1/datasets/{dataset_id}/files/").json()
    assert ci.delete(f"/api/v1/datasets/{dataset_id}/files/{old['id']}/").status_code == 204
    added = ci.post(
        f"/api/v1/datasets/{dataset_id}/files/",
        {"storage_path": make_run(team, "2026-02", 20), "path": "2026-01"},
    )
    assert added.status_code == 201, added.json()

    without_notes = ci.post(f"/api/v1/datasets/{dataset_id}/submissions/", {})
    assert without_notes.status_code == 400 and "version_notes" in without_notes.json()
    second = ci.post(
        f"/api/v1/datasets/{dataset_id}/submissions/", {"version_notes": "February run"}
    ).json()
    assert second["number"] == 2
    detail = ci.get(f"/api/v1/submissions/{second['id']}/").json()
    assert detail["diff"]["against"] == 1
    assert [c["path"] for c in detail["diff"]["files_changed"]] == ["2026-01"]

    job = engineer.post(f"/api/v1/submissions/{second['id']}/approve/").json()["job"]
    polled = ci.get(f"/api/v1/jobs/?dataset={dataset_id}&state=queued").json()
    assert [j["id"] for j in polled["results"]] == [job]
    assert PublishJob.objects.get(pk=job).state == JobState.QUEUED


def test_a_pipeline_on_one_engineer_token_needs_the_lab_to_allow_self_approval(team, engineer):
    created = engineer.post(
        "/api/v1/datasets/",
        {"lab": team.lab.pk, "slug": "buoy-seven-readings", "title": "Buoy 7 readings",
         "license": "CC-BY-4.0", "storage_path": make_run(team, "2026-01", 3)},
    ).json()  # fmt: skip
    submission = engineer.post(
        f"/api/v1/datasets/{created['id']}/submissions/", {"version_notes": "v1"}
    ).json()
    refused = engineer.post(f"/api/v1/submissions/{submission['id']}/approve/")
    assert refused.status_code == 403

    team.lab.allow_self_approval = True
    team.lab.save()
    approved = engineer.post(f"/api/v1/submissions/{submission['id']}/approve/")
    assert approved.status_code == 200
    assert engineer.get(f"/api/v1/jobs/{approved.json()['job']}/").json()["state"] == "queued"


def test_submitting_while_a_version_is_in_review_is_a_conflict(team, ci):
    created = ci.post(
        "/api/v1/datasets/",
        {"lab": team.lab.pk, "slug": "buoy-seven-readings", "title": "Buoy 7 readings",
         "license": "CC-BY-4.0", "storage_path": make_run(team, "2026-01", 3)},
    ).json()  # fmt: skip
    url = f"/api/v1/datasets/{created['id']}/submissions/"
    assert ci.post(url, {"version_notes": "v1"}).status_code == 201
    assert ci.post(url, {"version_notes": "again"}).status_code == 409
