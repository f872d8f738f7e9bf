"""Publish history, its CSV, the dashboard and the Atom feeds."""

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.feeds import feed_token_of, feed_token_reset
from datasets.models import JobState, PublishJob, Submission, SubmissionState
from tests.builders import Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def job_for(team, dataset, number, state, **fields):
    submission = Submission.objects.create(
        dataset=dataset, number=number, metadata={}, files=[], state=SubmissionState.APPROVED,
        submitted_by=team.ada, reviewed_by=team.grace, reviewed_at=timezone.now(),
        version_notes=f"notes {number}",
    )  # fmt: skip
    return PublishJob.objects.create(
        dataset=dataset, submission=submission, state=state, finished_at=timezone.now(),
        manifest=[{"path": "a.csv", "size": 3, "sha256": "0" * 64}], **fields,
    )  # fmt: skip


@pytest.fixture
def history(team):
    ocean = team.dataset(slug="ocean-temps")
    soil = team.dataset(slug="soil-moisture", title="=HYPERLINK(1)")
    published = job_for(team, ocean, 1, JobState.PUBLISHED, kaggle_version=1)
    failed = job_for(team, soil, 1, JobState.FAILED, error_code="credentials_rejected")
    return {"ocean": ocean, "soil": soil, "published": published, "failed": failed}


def test_history_filters_by_state_and_search(client, team, history):
    client.force_login(team.ada)
    page = client.get("/history/", {"state": "failed"}).content.decode()
    assert "soil-moisture" in page and "ocean-temps" not in page
    page = client.get("/history/", {"q": "ocean"}).content.decode()
    assert "ocean-temps" in page and "soil-moisture" not in page


def test_history_of_another_lab_is_invisible(client, history):
    client.force_login(UserFactory())
    page = client.get("/history/").content.decode()
    assert "ocean-temps" not in page and "No publish jobs match" in page


def test_a_bad_filter_is_shown_not_a_500(client, team, history):
    client.force_login(team.ada)
    response = client.get("/history/", {"since": "yesterday", "state": "nonsense"})
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()


def test_csv_export_has_the_filtered_rows_and_neutralises_formulas(client, team, history):
    client.force_login(team.ada)
    response = client.get("/history.csv", {"state": "failed"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "job" and len(rows) == 2
    assert rows[1][1] == "'=HYPERLINK(1)"
    assert rows[1][4] == "failed" and rows[1][5] == "credentials_rejected"


def test_dashboard_shows_failures_and_the_queue(client, team, history):
    client.force_login(team.grace)
    page = client.get("/dashboard/").content.decode()
    assert "credentials_rejected" in page and "Review queue" in page


def test_the_dataset_feed_is_atom_with_the_published_versions(client, team, history):
    token = feed_token_of(team.ada)
    response = client.get(f"/feeds/{token}/datasets/{history['ocean'].pk}.atom")
    assert response.status_code == 200
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [
        f"{history['ocean'].title}: v1 · Kaggle v1 published"
    ]
    assert entries[0].find(f"{ATOM}id").text and entries[0].find(f"{ATOM}updated").text


def test_the_lab_feed_lists_only_published_versions(client, team, history):
    token = feed_token_of(team.grace)
    feed = ET.fromstring(client.get(f"/feeds/{token}/labs/{team.lab.slug}.atom").content)
    assert len(feed.findall(f"{ATOM}entry")) == 1


def test_a_reset_feed_token_stops_the_old_link(client, team, history):
    old = feed_token_of(team.ada)
    feed_token_reset(team.ada)
    assert client.get(f"/feeds/{old}/datasets/{history['ocean'].pk}.atom").status_code == 404


def test_a_feed_of_another_labs_dataset_is_404(client, history):
    token = feed_token_of(UserFactory())
    assert client.get(f"/feeds/{token}/datasets/{history['ocean'].pk}.atom").status_code == 404


def test_history_and_csv_name_both_version_numbers_and_the_differences(client, team, history):
    ocean = history["ocean"]
    job_for(team, ocean, 2, JobState.PUBLISHED, kaggle_version=4,
            differences=["Kaggle dropped the keywords oceans."])  # fmt: skip
    client.force_login(team.ada)
    page = client.get("/history/", {"q": "ocean"}).content.decode()
    assert "v2 · Kaggle v4" in page and "with 1 difference" in page
    response = client.get("/history.csv", {"q": "ocean"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, newest = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[3] == "version" and newest["version"] == "v2 · Kaggle v4"
    assert (newest["wharf_version"], newest["kaggle_version"]) == ("2", "4")
    assert newest["differences"] == "Kaggle dropped the keywords oceans."


def test_a_skipped_publish_is_never_named_with_a_version_number(client, team, history):
    job_for(team, history["ocean"], 2, JobState.SKIPPED)
    client.force_login(team.ada)
    page = client.get("/history/", {"q": "ocean", "state": "skipped"}).content.decode()
    assert "no new version (nothing changed)" in page and ">v2<" not in page


def test_the_lab_feed_shows_drift_seen_by_the_watch(client, team, history):
    from datasets.services.events import event_record

    event_record("kaggle.drift.deleted", dataset=history["ocean"],
                 data={"differences": ["The dataset is not on Kaggle."]})  # fmt: skip
    token = feed_token_of(team.grace)
    feed = ET.fromstring(client.get(f"/feeds/{token}/labs/{team.lab.slug}.atom").content)
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    assert titles[0] == f"{history['ocean'].title}: deleted on Kaggle outside Wharf"
    assert len(titles) == 2


def test_the_dashboard_lists_drift_until_kaggle_is_in_line_again(client, team, history):
    from datasets.services.events import event_record

    ocean = history["ocean"]
    event_record("kaggle.drift.edited", dataset=ocean,
                 data={"differences": ["Kaggle shows subtitle 'x', approved 'y'."]})  # fmt: skip
    client.force_login(team.grace)
    page = client.get("/dashboard/").content.decode()
    assert "Kaggle shows subtitle &#x27;x&#x27;, approved &#x27;y&#x27;." in page
    event_record("kaggle.drift.cleared", dataset=ocean, data={"differences": []})
    page = client.get("/dashboard/").content.decode()
    assert "approved &#x27;y&#x27;" not in page


def test_the_dashboard_counts_every_failure_of_the_week_and_lists_the_newest_twenty(client, team):
    datasets = [team.dataset(slug=f"dataset-{n}", title=f"Dataset {n}") for n in range(23)]
    now = timezone.now()
    for n, dataset in enumerate(datasets[:22]):
        job = job_for(
            team, dataset, 1, JobState.FAILED, error_code="timeout" if n % 2 else "rejected"
        )
        PublishJob.objects.filter(pk=job.pk).update(finished_at=now - timedelta(hours=n))
    old = job_for(team, datasets[22], 1, JobState.FAILED, error_code="ancient")
    PublishJob.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=8))
    running = job_for(team, datasets[22], 2, JobState.UPLOADING)
    PublishJob.objects.filter(pk=running.pk).update(finished_at=None)
    client.force_login(team.grace)
    context = client.get("/dashboard/").context
    assert context["failure_total"] == 22
    assert {r["error_code"]: r["n"] for r in context["failure_codes"]} == {
        "timeout": 11, "rejected": 11
    }  # fmt: skip
    failures = context["failures"]
    assert len(failures) == 20
    assert [j.dataset.title for j in failures[:2]] == ["Dataset 0", "Dataset 1"]  # newest first
    assert [j.pk for j in context["running"]] == [running.pk]
    assert sum(w["n"] for w in context["weeks"]) == 0
