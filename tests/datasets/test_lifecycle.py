"""End to end: what is on Kaggle outside a publish job. Make public and remove from
Kaggle run in a real worker against the sandbox; the watch reads the sandbox back after
changes made behind Wharf's back (through the official client, as kaggle.com would)."""

import pytest
from django.utils import timezone

from datasets import kaggle
from datasets.metadata import kaggle_metadata
from datasets.models import DatasetStatus, Event, JobState
from datasets.selectors import last_published_submission
from datasets.services import datasets as datasets_service
from datasets.services import lifecycle
from datasets.services.errors import Conflict, Forbidden, ServiceError
from tests.builders import PublishingTeam, Team, finished
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(tmp_path, kaggle_sandbox, celery_worker):
    kaggle_sandbox.clear_faults()
    return PublishingTeam(tmp_path / "storage")


def published(team, slug, **fields):
    dataset = team.dataset(slug=slug, **fields)
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n" * 10, "The buoys")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    dataset.refresh_from_db()
    return dataset


def outcome(dataset, *actions) -> Event:
    def found():
        return dataset.events.filter(action__in=actions).order_by("-at", "-id").first()

    return wait_until(found, timeout=60, interval=0.2, message=f"no {actions} for {dataset}")


def on_kaggle(team, dataset) -> dict:
    return kaggle.dataset_read(kaggle.credentials_for(team.account), dataset.ref)


# --- make public ------------------------------------------------------------------------


def test_make_public_reaches_kaggle_and_private_is_then_refused(team):
    dataset = published(team, "make-public-one")
    before = on_kaggle(team, dataset)["metadata"]
    lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=True)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHING  # nothing else meanwhile
    event = outcome(dataset, "dataset.made_public", "dataset.make_public.failed")
    assert event.action == "dataset.made_public", event.data
    dataset.refresh_from_db()
    assert dataset.is_private is False and dataset.status == DatasetStatus.PUBLISHED
    kaggle_now = on_kaggle(team, dataset)["metadata"]
    assert kaggle_now["isPrivate"] is False
    # The whole approved state went along: nothing was erased.
    assert kaggle_now["subtitle"] == "Daily sea surface readings from buoys"
    assert kaggle_now["description"] == "Readings from **twelve** buoys."
    assert kaggle_now["keywords"] == before["keywords"]
    assert kaggle_now["title"] == before["title"] and kaggle_now["licenses"] == before["licenses"]
    with pytest.raises(Conflict) as refused:
        datasets_service.dataset_update(dataset, actor=team.ada, is_private=True)
    assert "A public dataset cannot be made private again." in refused.value.message
    with pytest.raises(Conflict):
        lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=True)


def test_make_public_is_for_engineers_confirmed_and_published_datasets(team):
    dataset = published(team, "make-public-rules")
    with pytest.raises(Forbidden):
        lifecycle.dataset_make_public(dataset, actor=team.ada, confirm=True)
    with pytest.raises(ServiceError) as unconfirmed:
        lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=False)
    assert unconfirmed.value.field == "confirm"
    draft = team.dataset(slug="make-public-draft")
    with pytest.raises(Conflict) as unpublished:
        lifecycle.dataset_make_public(draft, actor=team.grace, confirm=True)
    assert unpublished.value.code == "unpublished"
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    team.submit(dataset, notes="More")
    with pytest.raises(Conflict) as busy:
        lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=True)
    assert busy.value.code == "busy"
    assert not dataset.events.filter(action="dataset.make_public.requested").exists()


def test_a_refused_make_public_keeps_wharf_private_with_kaggles_reason(team, kaggle_sandbox):
    dataset = published(team, "make-public-refused")
    # Kaggle deleted it meanwhile: the update is refused and the read-back finds nothing.
    kaggle.dataset_delete(kaggle.credentials_for(team.account), dataset.ref)
    lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=True)
    event = outcome(dataset, "dataset.made_public", "dataset.make_public.failed")
    assert event.action == "dataset.make_public.failed"
    assert event.data["message"]
    dataset.refresh_from_db()
    assert dataset.is_private is True and dataset.status == DatasetStatus.PUBLISHED


# --- remove from Kaggle -------------------------------------------------------------------


def test_remove_from_kaggle_archives_with_history_and_reserves_slug_and_title(team):
    dataset = published(team, "remove-me-one")
    with pytest.raises(ServiceError) as unconfirmed:
        lifecycle.dataset_remove_from_kaggle(dataset, actor=team.grace, confirm="wrong/ref")
    assert unconfirmed.value.field == "confirm"
    with pytest.raises(Forbidden):
        lifecycle.dataset_remove_from_kaggle(dataset, actor=team.ada, confirm=dataset.ref)
    events_before = dataset.events.count()
    lifecycle.dataset_remove_from_kaggle(dataset, actor=team.grace, confirm=dataset.ref)
    event = outcome(dataset, "dataset.removed_from_kaggle", "dataset.removal.failed")
    assert event.action == "dataset.removed_from_kaggle", event.data
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.ARCHIVED and dataset.kaggle_url == ""
    assert dataset.events.count() == events_before + 2  # history kept, request + outcome
    assert dataset.submissions.count() == 1 and dataset.jobs.count() == 1
    assert on_kaggle(team, dataset)["exists"] is False
    with pytest.raises(Conflict):
        team.submit(dataset, notes="again")
    with pytest.raises(Conflict):
        datasets_service.dataset_update(dataset, actor=team.ada, subtitle="x" * 30)
    with pytest.raises(ServiceError) as slug:
        team.dataset(slug="remove-me-one")
    assert slug.value.code == "slug_taken"
    with pytest.raises(ServiceError) as title:
        Team.dataset(team, slug="remove-me-two", title=dataset.title)
    assert title.value.code == "title_taken"


# --- the watch ----------------------------------------------------------------------------


def test_the_watch_records_a_dataset_deleted_behind_wharfs_back_once(team):
    dataset = published(team, "watch-deleted")
    assert lifecycle.dataset_watch(dataset) == []
    assert not dataset.events.filter(action__startswith="kaggle.drift").exists()
    kaggle.dataset_delete(kaggle.credentials_for(team.account), dataset.ref)
    counts = lifecycle.datasets_watch()
    assert counts["drift"] >= 1
    drift = dataset.events.get(action="kaggle.drift.deleted")
    assert drift.data["differences"] == [
        "The dataset is not on Kaggle (deleted, or the account can no longer see it)."
    ]
    lifecycle.dataset_watch(dataset)  # the same finding is not recorded twice
    assert dataset.events.filter(action__startswith="kaggle.drift").count() == 1


def test_the_watch_records_edits_and_publicity_made_on_kaggle(team):
    dataset = published(team, "watch-edited")
    credentials = kaggle.credentials_for(team.account)
    submission = last_published_submission(dataset)
    edited = kaggle_metadata(
        {**submission.metadata, "subtitle": "Edited on kaggle.com by someone"}, submission.files
    )
    kaggle.dataset_update_metadata(credentials, dataset.ref, edited)
    assert lifecycle.dataset_watch(dataset) == [
        "Kaggle shows subtitle 'Edited on kaggle.com by someone', approved "
        "'Daily sea surface readings from buoys'."
    ]
    assert dataset.events.filter(action="kaggle.drift.edited").count() == 1
    kaggle.dataset_update_metadata(credentials, dataset.ref, {**edited, "isPrivate": False})
    lines = lifecycle.dataset_watch(dataset)
    assert "Kaggle shows the dataset public; it was approved private." in lines
    assert dataset.events.filter(action="kaggle.drift.made_public").count() == 1
    # Kaggle will never take it back: Wharf says so rather than send a doomed update.
    with pytest.raises(Conflict):
        datasets_service.dataset_update(dataset, actor=team.ada, is_private=True)


# --- read back after a publish (datasets.reconcile through the worker) --------------------


def test_a_published_folder_reads_back_without_false_differences(team):
    (team.storage / "weather" / "readings").mkdir(parents=True)
    (team.storage / "weather" / "stations.csv").write_text("station,lat\nOSL,59.9\n")
    (team.storage / "weather" / "readings" / "jan.csv").write_text("station,temp\nOSL,-4\n")
    dataset = team.dataset(slug="reconcile-folder", keywords=["Earth-Science", "zz-unknown-tag"])
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n", "The buoys")
    team.add_storage(dataset, "weather", "Weather folder")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    # Kaggle unpacked weather.zip and kept what it knows: only the unknown tag differs.
    assert job.differences == ["Kaggle dropped the keywords zz-unknown-tag."]
    assert job.outcome_label == "published with differences"


def test_a_request_whose_task_never_reported_is_sent_again(tmp_path, monkeypatch):
    from datetime import timedelta

    from datasets.models import Dataset

    team = PublishingTeam(tmp_path / "storage")
    dataset = team.dataset(slug="resend-me")
    team.upload(dataset, "buoys.csv", b"a\n")
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=1, status=DatasetStatus.PUBLISHED)
    sent = []
    monkeypatch.setattr(lifecycle, "enqueue", lambda task, *args, **kw: sent.append(task) or "id")
    lifecycle.dataset_make_public(dataset, actor=team.grace, confirm=True)
    sent.clear()
    assert lifecycle.requests_resend(older_than=300) == 0  # too recent: still on its way
    # Backdating is only possible behind Event.objects' back (it refuses bulk updates).
    Event._base_manager.filter(action="dataset.make_public.requested").update(
        at=timezone.now() - timedelta(minutes=10)
    )
    assert lifecycle.requests_resend(older_than=300) == 1
    assert sent == ["datasets.tasks.dataset_make_public"]


# --- old versions -----------------------------------------------------------------------


def test_a_version_asking_to_delete_older_versions_reaches_kaggle(team, kaggle_sandbox):
    from datasets.services import review

    dataset = published(team, "old-versions-go")
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    dataset.refresh_from_db()
    submission = review.submission_submit(
        dataset, actor=team.ada, version_notes="Adds extra.csv", delete_old_versions=True
    )
    assert submission.metadata["delete_old_versions"] is True
    job = finished(team.approve(submission))
    assert job.state == JobState.PUBLISHED, job.error_message
    versions = kaggle_sandbox.dataset(dataset.ref)["versions"]
    assert [v["status"] for v in versions] == ["DELETED", "READY"]
