"""The Django admin shows the history and the states of submissions and publish jobs; it
changes none of them (services move states and write the events that tell it)."""

import pytest
from django.urls import reverse

from datasets.models import Event, JobState, Lab, PublishJob, Submission, SubmissionState
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def job(team):
    dataset = team.dataset(slug="ocean-temps")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    submission = team.submit(dataset)
    team.approve(submission)
    return PublishJob.objects.get(submission=submission)


def url(obj, view):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def test_the_admin_shows_a_job_and_its_submission_without_a_way_to_change_them(admin_client, job):
    for obj in (job, job.submission):
        page = admin_client.get(url(obj, "change"))
        assert page.status_code == 200
        html = page.content.decode()
        assert obj.get_state_display() in html
        assert 'name="state"' not in html and 'name="_save"' not in html
        listing = admin_client.get(reverse(f"admin:datasets_{obj._meta.model_name}_changelist"))
        assert listing.status_code == 200


def test_the_admin_refuses_to_change_a_job_state(admin_client, job):
    response = admin_client.post(url(job, "change"), {"state": JobState.PUBLISHED})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.QUEUED


def test_the_admin_refuses_to_change_a_submission_state(admin_client, job):
    submission = job.submission
    response = admin_client.post(url(submission, "change"), {"state": SubmissionState.RETURNED})
    assert response.status_code == 403
    submission.refresh_from_db()
    assert submission.state == SubmissionState.APPROVED


def test_the_admin_deletes_no_job_submission_or_event(admin_client, job):
    event = Event.objects.filter(job=job).first()
    for obj in (job, job.submission, event):
        assert admin_client.post(url(obj, "delete"), {"post": "yes"}).status_code == 403
    action = {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"}
    admin_client.post(reverse("admin:datasets_publishjob_changelist"), action)
    assert PublishJob.objects.filter(pk=job.pk).exists()
    assert Submission.objects.filter(pk=job.submission_id).exists()
    assert Event.objects.filter(pk=event.pk).exists()


def test_the_admin_adds_no_job_or_submission(admin_client, job):
    for name in ("publishjob", "submission", "event"):
        assert admin_client.get(reverse(f"admin:datasets_{name}_add")).status_code == 403


def test_the_admin_archives_a_lab_with_a_history_instead_of_deleting_it(admin_client, team):
    history = list(Event.objects.filter(lab=team.lab).values_list("pk", flat=True))
    assert history
    assert admin_client.post(url(team.lab, "delete"), {"post": "yes"}).status_code == 403
    response = admin_client.post(
        reverse("admin:datasets_lab_changelist"),
        {"action": "archive", "_selected_action": [team.lab.pk]},
        follow=True,
    )
    assert f"{team.lab.name} is archived." in response.content.decode()
    team.lab.refresh_from_db()
    assert team.lab.archived_at is not None
    assert list(team.lab.events.exclude(action="lab.archived").values_list("pk", flat=True)) == (
        history
    )
    assert team.lab.events.filter(action="lab.archived").count() == 1


def test_the_admin_deletes_a_lab_without_a_history(admin_client):
    lab = Lab.objects.create(name="Typo lab", slug="typo")
    response = admin_client.post(url(lab, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Lab.objects.filter(pk=lab.pk).exists()
