import pytest

from datasets.models import JobState, PublishJob
from datasets.services.review import submission_approve

from .conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(team):
    return submission_approve(team.submitted(), actor=team.grace)


def test_jobs_are_listed_newest_first_and_filtered(team, job):
    client = api_client(team.ada)
    body = client.get("/api/v1/jobs/").json()
    assert [j["id"] for j in body["results"]] == [job.pk]
    assert client.get("/api/v1/jobs/?state=queued").json()["count"] == 1
    assert client.get("/api/v1/jobs/?state=published").json()["count"] == 0
    assert client.get(f"/api/v1/jobs/?lab={team.lab.pk}").json()["count"] == 1
    assert client.get("/api/v1/jobs/?state=exploded").status_code == 400
    assert client.get("/api/v1/jobs/?dataset=-1").status_code == 400


def test_a_job_shows_its_progress_and_outcome(team, job):
    body = api_client(team.ada).get(f"/api/v1/jobs/{job.pk}/").json()
    for field in (
        "id", "dataset", "submission", "state", "result", "error_code", "error_message",
        "bytes_done", "bytes_total", "started_at", "finished_at", "kaggle_ref", "kaggle_url",
        "kaggle_version", "manifest", "web_url",
    ):  # fmt: skip
        assert field in body, field
    assert body["state"] == "queued" and body["manifest"] == []


def test_researchers_cannot_cancel_or_retry(team, job):
    client = api_client(team.ada)
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 403
    assert client.post(f"/api/v1/jobs/{job.pk}/retry/").status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.QUEUED


def test_an_engineer_cancels_then_retries_as_a_new_job(team, job):
    client = api_client(team.grace)
    response = client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "cancelled"
    assert response.json()["result"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 409
    response = client.post(f"/api/v1/jobs/{job.pk}/retry/", {"force": True})
    assert response.status_code == 201, response.json()
    assert response.json()["id"] != job.pk and response.json()["state"] == "queued"
    assert PublishJob.objects.count() == 2


def test_retrying_an_active_job_is_a_conflict(team, job):
    response = api_client(team.grace).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 409


def test_another_labs_jobs_are_not_found(team, rival, job):
    client = api_client(rival.grace)
    assert client.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 404
    assert client.post(f"/api/v1/jobs/{job.pk}/retry/").status_code == 404
    assert client.get("/api/v1/jobs/").json()["count"] == 0
    assert client.get(f"/api/v1/jobs/?dataset={job.dataset_id}").status_code == 404


def test_a_job_names_both_version_numbers_and_its_differences(team, job):
    PublishJob.objects.filter(pk=job.pk).update(
        state=JobState.PUBLISHED, kaggle_version=3, differences=["readme.md is not on Kaggle."]
    )
    body = api_client(team.ada).get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["version_label"] == "v1 · Kaggle v3"
    assert body["differences"] == ["readme.md is not on Kaggle."]
    assert body["outcome"] == "published with differences"
