"""Versions people can follow: Wharf's and Kaggle's numbers side by side, a skipped
publish never named with a number, the Submit page's warning when nothing changed, and
the request to delete older versions frozen for review."""

import pytest
from django.utils import timezone

from datasets.models import Dataset, DatasetStatus, JobState, PublishJob
from datasets.services import review
from datasets.versions import job_version_label, version_label, version_numbers
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def test_both_numbers_are_shown_side_by_side():
    assert version_label(3, 4) == "v3 · Kaggle v4"
    assert version_label(3) == "v3"
    assert version_label(None, 4) == ""


def publish_by_hand(team, dataset, *, kaggle_version):
    """Approve through the services; what the worker would then record, written here."""
    job = team.approve(team.submit(dataset, notes="" if not dataset.latest_version else "n"))
    PublishJob.objects.filter(pk=job.pk).update(
        state=JobState.PUBLISHED, kaggle_version=kaggle_version, finished_at=timezone.now(),
        manifest=[],
    )  # fmt: skip
    Dataset.objects.filter(pk=dataset.pk).update(
        latest_version=job.submission.number, kaggle_version=kaggle_version,
        status=DatasetStatus.PUBLISHED,
    )  # fmt: skip
    dataset.refresh_from_db()
    job.refresh_from_db()
    return job


def test_a_skipped_publish_consumes_no_number(team):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    publish_by_hand(team, dataset, kaggle_version=2)
    skipped = team.approve(team.submit(dataset, notes="Nothing really"))
    PublishJob.objects.filter(pk=skipped.pk).update(state=JobState.SKIPPED)
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.PUBLISHED)
    skipped.refresh_from_db()
    assert job_version_label(skipped) == "no new version (nothing changed)"
    assert version_numbers(skipped)["wharf_version"] is None
    # The next real version takes the number the skipped one never used.
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    assert team.submit(dataset, notes="Adds extra.csv").number == 2


def test_the_dataset_page_names_the_version_with_kaggles_number(client, team):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    publish_by_hand(team, dataset, kaggle_version=3)
    client.force_login(team.ada)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "v1 · Kaggle v3 published" in page


def test_the_submit_page_warns_when_nothing_changed_since_the_published_version(client, team):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    publish_by_hand(team, dataset, kaggle_version=1)
    client.force_login(team.ada)
    page = client.get(f"/datasets/{dataset.pk}/submit/").content.decode()
    assert "Nothing changed since version 1" in page
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    page = client.get(f"/datasets/{dataset.pk}/submit/").content.decode()
    assert "Nothing changed since" not in page


def test_a_metadata_change_is_a_change_for_the_warning(client, team):
    from datasets.services.datasets import dataset_update

    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    publish_by_hand(team, dataset, kaggle_version=1)
    dataset_update(dataset, actor=team.ada, subtitle="A better subtitle for the buoys")
    client.force_login(team.ada)
    page = client.get(f"/datasets/{dataset.pk}/submit/").content.decode()
    assert "Nothing changed since" not in page


def test_asking_to_delete_older_versions_is_frozen_and_shown_in_review(client, team):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    first = review.submission_submit(dataset, actor=team.ada, delete_old_versions=True)
    assert first.metadata["delete_old_versions"] is False  # a first version has none
    review.submission_withdraw(first, actor=team.ada)
    publish_by_hand(team, dataset, kaggle_version=1)
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    client.force_login(team.ada)
    response = client.post(
        f"/datasets/{dataset.pk}/submit/",
        {"version_notes": "Adds extra.csv", "delete_old_versions": "on"},
    )
    assert response.status_code == 302
    submission = dataset.submissions.order_by("-id").first()
    assert submission.metadata["delete_old_versions"] is True
    client.force_login(team.grace)
    page = client.get(f"/review/{submission.pk}/").content.decode()
    assert "Deletes the older versions." in page


def test_the_job_published_webhook_carries_the_kaggle_url_and_latest_version(team):
    from datasets.services.deliveries import payload
    from datasets.services.events import event_record

    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    job = team.approve(team.submit(dataset))
    url = "https://www.kaggle.com/datasets/demo-lab/ocean-temps"
    PublishJob.objects.filter(pk=job.pk).update(
        state=JobState.PUBLISHED, kaggle_version=2, kaggle_url=url,
        differences=["Kaggle dropped the keywords oceans."],
    )  # fmt: skip
    job.refresh_from_db()
    # As job_published writes it: the event comes before the dataset row is updated.
    event = event_record("job.published", job=job, data={"version": 2, "url": url})
    body = payload(event, "delivery-1")
    assert body["dataset"]["latest_version"] == 1
    assert body["dataset"]["kaggle_version"] == 2
    assert body["dataset"]["version_label"] == "v1 · Kaggle v2"
    assert body["dataset"]["kaggle_url"] == url
    assert body["job"]["version_label"] == "v1 · Kaggle v2"
    assert body["job"]["differences"] == ["Kaggle dropped the keywords oceans."]
