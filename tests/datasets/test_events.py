"""The history cannot be rewritten: not row by row, not in bulk, and not by deleting what
it is about (datasets, submissions, jobs, users, labs)."""

import pytest
from django.db import transaction
from django.db.models import ProtectedError

from datasets.models import Event, HistoryIsAppendOnly, Lab, PublishJob, Role
from datasets.services import datasets as dataset_services
from datasets.services.errors import Conflict, Forbidden
from datasets.services.labs import lab_archive, member_add
from datasets.templatetags.wharf_ui import event_sentence
from tests.builders import Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def approved(team):
    """A dataset with a submitted, approved version and its queued publish job."""
    dataset = team.dataset(slug="ocean-temps")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    submission = team.submit(dataset, notes="First readings")
    team.approve(submission)
    return dataset, submission, PublishJob.objects.get(submission=submission)


def snapshot():
    return list(Event.objects.order_by("pk").values_list("pk", "action", "data", "at"))


def test_a_bulk_update_of_events_is_refused(team):
    team.dataset()
    before = snapshot()
    with pytest.raises(HistoryIsAppendOnly):
        Event.objects.filter(action="dataset.created").update(action="dataset.forgotten")
    with pytest.raises(HistoryIsAppendOnly):
        Event.objects.update(data={})
    event = Event.objects.first()
    event.action = "dataset.forgotten"
    with pytest.raises(HistoryIsAppendOnly), transaction.atomic():
        Event.objects.bulk_update([event], ["action"])
    assert snapshot() == before


def test_a_bulk_delete_of_events_is_refused(team):
    team.dataset()
    before = snapshot()
    with pytest.raises(HistoryIsAppendOnly):
        Event.objects.filter(lab=team.lab).delete()
    with pytest.raises(HistoryIsAppendOnly):
        Event.objects.all().delete()
    assert snapshot() == before and before


def test_a_saved_event_can_be_neither_saved_again_nor_deleted(team):
    team.dataset()
    event = Event.objects.get(action="dataset.created")
    event.action = "dataset.forgotten"
    with pytest.raises(HistoryIsAppendOnly):
        event.save()
    with pytest.raises(HistoryIsAppendOnly):
        event.delete()
    assert Event.objects.get(pk=event.pk).action == "dataset.created"


def test_deleting_a_dataset_keeps_its_events_and_their_names(team):
    dataset = team.dataset(slug="short-lived")
    team.upload(dataset, "buoys.csv", b"a\n1\n")
    ids = set(dataset.events.values_list("pk", flat=True))
    dataset_services.dataset_delete(dataset, actor=team.ada)
    kept = Event.objects.filter(pk__in=ids)
    assert kept.count() == len(ids) >= 2
    assert {(e.dataset_id, e.dataset_ref, e.lab_id) for e in kept} == {
        (None, "demo-lab/short-lived", team.lab.pk)
    }
    assert all(e.dataset_label == "demo-lab/short-lived" for e in kept)
    assert Event.objects.get(action="dataset.deleted").data["ref"] == "demo-lab/short-lived"


def test_deleting_a_job_and_its_submission_keeps_their_events(team, approved):
    dataset, submission, job = approved
    ids = set(Event.objects.filter(submission=submission).values_list("pk", flat=True))
    job_events = set(job.events.values_list("pk", flat=True))
    assert job_events and job_events <= ids
    job.delete()
    submission.delete()
    kept = Event.objects.filter(pk__in=ids)
    assert kept.count() == len(ids)
    assert {(e.submission_id, e.job_id, e.dataset_id) for e in kept} == {(None, None, dataset.pk)}
    assert {e.action for e in kept} >= {"submission.submitted", "job.queued"}


def test_deleting_a_dataset_with_its_versions_keeps_every_event(team, approved):
    """The admin's path: the rows go by cascade, the history does not."""
    dataset, _submission, _job = approved
    before = snapshot()
    dataset.jobs.all().delete()
    dataset.delete()
    assert snapshot() == before
    assert not Event.objects.filter(dataset__isnull=False, dataset_ref="demo-lab/ocean-temps")


def test_deleting_a_user_keeps_their_events_under_their_name(team):
    leaver = UserFactory(username="rosalind", first_name="")
    member_add(team.lab, actor=team.grace, user=leaver, role=Role.RESEARCHER)
    dataset = dataset_services.dataset_create(
        actor=leaver, lab=team.lab, kaggle_account=team.account, slug="rosalinds",
        title="Rosalind's data", license="CC-BY-4.0", is_private=True,
    )  # fmt: skip
    event = Event.objects.get(dataset=dataset, action="dataset.created")
    leaver.delete()
    event = Event.objects.get(pk=event.pk)
    assert event.actor_id is None and event.actor_name == "rosalind"
    assert event_sentence(event).startswith("rosalind ")


def test_a_lab_with_a_history_cannot_be_deleted(team):
    lab = Lab.objects.create(name="Quiet lab", slug="quiet")
    Event.objects.create(lab=lab, action="lab.created")
    with pytest.raises(ProtectedError):
        lab.delete()
    assert Event.objects.filter(lab=lab).exists()
    # Without a history there is nothing to keep.
    Lab.objects.create(name="Empty lab", slug="empty").delete()


def test_an_archived_lab_keeps_its_history_and_takes_no_new_datasets(team):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    team.dataset(slug="before-archive")
    before = snapshot()
    lab_archive(team.lab, actor=admin)
    team.lab.refresh_from_db()
    assert team.lab.archived_at is not None
    assert snapshot()[: len(before)] == before
    assert Event.objects.filter(lab=team.lab, action="lab.archived").count() == 1
    with pytest.raises(Conflict, match="archived"):
        team.dataset(slug="after-archive")
    with pytest.raises(Conflict, match="archived already"):
        lab_archive(team.lab, actor=admin)


def test_only_administrators_archive_labs(team):
    with pytest.raises(Forbidden):
        lab_archive(team.lab, actor=team.grace)
    team.lab.refresh_from_db()
    assert team.lab.archived_at is None
