import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import PublishJob, Submission, SubmissionState
from tests.factories import member

from .conftest import api_client

pytestmark = pytest.mark.django_db


def test_the_whole_journey_through_the_api(team, settings):
    ada, grace = api_client(team.ada), api_client(team.grace)
    (team.storage / "recordings").mkdir()
    (team.storage / "recordings" / "a.wav").write_bytes(b"RIFF" * 100)
    (team.storage / "recordings" / "b.wav").write_bytes(b"RIFF" * 50)

    # Register and describe.
    created = ada.post(
        "/api/v1/datasets/",
        {
            "lab": team.lab.pk,
            "slug": "dawn-chorus",
            "title": "Dawn chorus",
            "subtitle": "Bird song at first light, twelve sites",
            "description": "Recordings from **twelve** sites.",
            "license": "CC-BY-4.0",
            "keywords": ["birds", "audio"],
        },
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    base = f"/api/v1/datasets/{pk}"
    for name, content in (("sites.csv", b"site,lat\n1,52.1\n"), ("README.md", b"# Dawn\n")):
        response = ada.post(
            f"{base}/files/",
            {"file": SimpleUploadedFile(name, content), "description": f"The {name}"},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    folder = ada.post(f"{base}/files/", {"storage_path": str(team.storage / "recordings")})
    assert folder.status_code == 201, folder.json()
    files = ada.get(f"{base}/files/").json()
    assert sorted((f["path"], f["kind"]) for f in files) == [
        ("README.md", "file"),
        ("recordings", "folder"),
        ("sites.csv", "file"),
    ]

    metadata = ada.get(f"{base}/kaggle-metadata/").json()
    assert metadata["id"] == "ocean-lab/dawn-chorus"
    assert metadata["isPrivate"] is True
    assert sorted(r["path"] for r in metadata["resources"]) == [
        "README.md",
        "recordings.zip",
        "sites.csv",
    ]

    # Submit v1; the engineer sees it in the queue and returns it.
    submitted = ada.post(f"{base}/submissions/", {"version_notes": "First cut."})
    assert submitted.status_code == 201, submitted.json()
    first = submitted.json()
    assert first["number"] == 1 and first["state"] == "pending_review"
    assert {f["path"]: f["size"] for f in first["files"]}["recordings"] == 600
    assert first["diff"]["first_version"] is True
    assert ada.get(f"{base}/").json()["status"] == "in_review"

    queue = grace.get("/api/v1/submissions/?state=pending_review").json()
    assert [s["id"] for s in queue["results"]] == [first["id"]]
    detail = grace.get(f"/api/v1/submissions/{first['id']}/").json()
    assert detail["kaggle_metadata"] == metadata
    assert detail["files_changed_since_submission"] == []

    returned = grace.post(
        f"/api/v1/submissions/{first['id']}/return/", {"reason": "Describe the sites, please."}
    )
    assert returned.status_code == 200, returned.json()
    assert returned.json()["state"] == "returned"
    dataset = ada.get(f"{base}/").json()
    assert dataset["status"] == "returned"
    assert dataset["return_reason"] == "Describe the sites, please."

    # Edit, resubmit, approve.
    edited = ada.patch(f"{base}/", {"description": "Twelve sites, listed in sites.csv."})
    assert edited.status_code == 200, edited.json()
    second = ada.post(f"{base}/submissions/", {"version_notes": "Sites described."}).json()
    comment = grace.post(f"/api/v1/submissions/{second['id']}/comments/", {"text": "Thanks!"})
    assert comment.status_code == 201
    approved = grace.post(f"/api/v1/submissions/{second['id']}/approve/", {"note": "Good."})
    assert approved.status_code == 200, approved.json()
    job_id = approved.json()["job"]
    assert approved.json()["state"] == "approved"
    assert approved.json()["review_note"] == "Good."

    job = ada.get(f"/api/v1/jobs/{job_id}/").json()
    assert job["state"] == "queued" and job["submission"] == second["id"]
    assert job["dataset"] == pk and job["result"] is None
    assert [j["id"] for j in ada.get(f"/api/v1/jobs/?dataset={pk}").json()["results"]] == [job_id]
    assert ada.get(f"{base}/").json()["status"] == "approved"

    history = [e["action"] for e in ada.get(f"{base}/history/").json()["results"]]
    assert history[:5] == [
        "job.queued",
        "submission.approved",
        "submission.commented",
        "submission.submitted",
        "dataset.updated",
    ]
    assert "submission.returned" in history and history[-1] == "dataset.created"


def test_researchers_cannot_approve_or_return(team):
    submission = team.submitted()
    other_researcher = member(team.lab)
    for user in (team.ada, other_researcher):
        client = api_client(user)
        response = client.post(f"/api/v1/submissions/{submission.pk}/approve/")
        assert response.status_code == 403
        assert "data engineers" in response.json()["detail"]
        response = client.post(f"/api/v1/submissions/{submission.pk}/return/", {"reason": "No"})
        assert response.status_code == 403
    assert not PublishJob.objects.exists()


def test_an_engineer_cannot_approve_their_own_submission(team):
    from datasets.services.review import submission_submit

    dataset = team.dataset()
    team.upload(dataset)
    dataset.refresh_from_db()
    submission = submission_submit(dataset, actor=team.grace)
    response = api_client(team.grace).post(f"/api/v1/submissions/{submission.pk}/approve/")
    assert response.status_code == 403
    assert response.json()["code"] == "self_approval"


def test_approving_a_returned_or_withdrawn_submission_is_a_conflict(team):
    submission = team.submitted()
    grace = api_client(team.grace)
    assert (
        grace.post(
            f"/api/v1/submissions/{submission.pk}/return/", {"reason": "Not yet."}
        ).status_code
        == 200
    )
    response = grace.post(f"/api/v1/submissions/{submission.pk}/approve/")
    assert response.status_code == 409
    assert "returned" in response.json()["detail"]

    second = team.submitted("second-data")
    assert (
        api_client(team.ada).post(f"/api/v1/submissions/{second.pk}/withdraw/").status_code == 200
    )
    response = grace.post(f"/api/v1/submissions/{second.pk}/approve/")
    assert response.status_code == 409
    assert "withdrawn" in response.json()["detail"]


def test_approving_twice_makes_one_job(team):
    submission = team.submitted()
    grace = api_client(team.grace)
    assert grace.post(f"/api/v1/submissions/{submission.pk}/approve/").status_code == 200
    assert grace.post(f"/api/v1/submissions/{submission.pk}/approve/").status_code == 409
    assert PublishJob.objects.count() == 1


def test_a_return_needs_a_reason(team):
    submission = team.submitted()
    grace = api_client(team.grace)
    response = grace.post(f"/api/v1/submissions/{submission.pk}/return/", {"reason": "  "})
    assert response.status_code == 400
    assert "Say why" in response.json()["reason"][0]
    response = grace.post(f"/api/v1/submissions/{submission.pk}/return/", {})
    assert response.status_code == 400 and "reason" in response.json()
    response = grace.post(f"/api/v1/submissions/{submission.pk}/return/", {"reason": "x" * 5001})
    assert response.status_code == 400
    submission.refresh_from_db()
    assert submission.state == SubmissionState.PENDING_REVIEW


def test_only_the_submitter_withdraws(team):
    submission = team.submitted()
    response = api_client(member(team.lab)).post(f"/api/v1/submissions/{submission.pk}/withdraw/")
    assert response.status_code == 403
    response = api_client(team.ada).post(f"/api/v1/submissions/{submission.pk}/withdraw/")
    assert response.status_code == 200
    assert response.json()["state"] == "withdrawn"
    again = api_client(team.ada).post(f"/api/v1/submissions/{submission.pk}/withdraw/")
    assert again.status_code == 409


def test_a_second_submission_while_one_waits_is_a_conflict(team):
    submission = team.submitted()
    response = api_client(team.ada).post(
        f"/api/v1/datasets/{submission.dataset_id}/submissions/", {"version_notes": "Again"}
    )
    assert response.status_code == 409


def test_submitting_without_files_says_so(team):
    dataset = team.dataset()
    response = api_client(team.ada).post(f"/api/v1/datasets/{dataset.pk}/submissions/", {})
    assert response.status_code == 400
    assert "at least one file" in response.json()["detail"]


def test_bad_version_notes_and_comments_are_refused(team):
    dataset = team.dataset()
    team.upload(dataset)
    client = api_client(team.ada)
    url = f"/api/v1/datasets/{dataset.pk}/submissions/"
    assert client.post(url, {"version_notes": "x" * 10_001}).status_code == 400
    response = client.post(url, {"version_notes": "bell\x07"})
    assert response.status_code == 400
    submission = client.post(url, {"version_notes": "<script>alert(1)</script>"}).json()
    assert submission["version_notes"] == "<script>alert(1)</script>"
    comments = f"/api/v1/submissions/{submission['id']}/comments/"
    assert "Write something" in client.post(comments, {"text": ""}).json()["text"][0]
    assert client.post(comments, {"text": "x" * 10_001}).status_code == 400
    assert client.post(comments, {"text": "nul\x00"}).status_code == 400
    assert client.post(comments, {"text": "<img src=x onerror=alert(1)>"}).status_code == 201
    assert client.get(comments).json()[0]["text"] == "<img src=x onerror=alert(1)>"


def test_another_labs_submissions_are_not_found(team, rival):
    theirs = rival.submitted("rival-data1")
    grace = api_client(team.grace)
    for action in ("approve", "return", "withdraw", "comments"):
        response = grace.post(f"/api/v1/submissions/{theirs.pk}/{action}/", {"reason": "x"})
        assert response.status_code == 404, action
    assert grace.get(f"/api/v1/submissions/{theirs.pk}/").status_code == 404
    assert grace.get("/api/v1/submissions/").json()["count"] == 0
    assert grace.get(f"/api/v1/submissions/?lab={rival.lab.pk}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == SubmissionState.PENDING_REVIEW


def test_the_queue_is_oldest_first_and_filters_by_lab(team):
    first = team.submitted("first-data")
    second = team.submitted("second-data")
    grace = api_client(team.grace)
    body = grace.get(f"/api/v1/submissions/?state=pending_review&lab={team.lab.pk}").json()
    assert [s["id"] for s in body["results"]] == [first.pk, second.pk]
    assert grace.get("/api/v1/submissions/?state=bogus").status_code == 400
    assert Submission.objects.count() == 2


def test_approval_is_refused_when_a_storage_file_changed_since(team):
    (team.storage / "data.csv").write_text("1,2\n")
    dataset = team.dataset(source="storage")
    client = api_client(team.ada)
    assert (
        client.post(
            f"/api/v1/datasets/{dataset.pk}/files/", {"storage_path": "data.csv"}
        ).status_code
        == 201
    )
    submission = client.post(f"/api/v1/datasets/{dataset.pk}/submissions/", {}).json()
    (team.storage / "data.csv").write_text("1,2\n3,4\n")
    grace = api_client(team.grace)
    detail = grace.get(f"/api/v1/submissions/{submission['id']}/").json()
    assert detail["files_changed_since_submission"] == ["data.csv"]
    response = grace.post(f"/api/v1/submissions/{submission['id']}/approve/")
    assert response.status_code == 409
    assert response.json()["code"] == "files_changed"


def test_submissions_and_jobs_link_to_their_pages_in_the_portal(team):
    from django.urls import reverse

    submission = team.submitted()
    client = api_client(team.grace)
    body = client.get(f"/api/v1/submissions/{submission.pk}/").json()
    assert body["web_url"] == "http://testserver" + reverse("datasets:review", args=[submission.pk])
    job_id = client.post(f"/api/v1/submissions/{submission.pk}/approve/").json()["job"]
    body = client.get(f"/api/v1/jobs/{job_id}/").json()
    assert body["web_url"] == "http://testserver" + reverse("datasets:job_detail", args=[job_id])
