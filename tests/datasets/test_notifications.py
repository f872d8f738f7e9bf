"""E-mails about publishing: a version published (perhaps with differences) or failed,
to the person who submitted it; a version the policy may approve never says it "waits
for review"."""

import pytest
from django.core import mail
from django.utils import timezone

from datasets import notifications
from datasets.models import (
    DatasetSchedule,
    JobState,
    Profile,
    PublishJob,
    SchedulePolicy,
    Submission,
    SubmissionState,
)
from datasets.services import review
from tests.builders import Team
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def send_at_once(monkeypatch):
    # The Celery hop is not what is tested here: the e-mail is sent where it is enqueued.
    monkeypatch.setattr(notifications, "enqueue", lambda task, *args, **kw: task(*args))


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def job_for(team, state, **fields) -> PublishJob:
    dataset = team.dataset()
    submission = Submission.objects.create(
        dataset=dataset, number=2, metadata={}, files=[], state=SubmissionState.APPROVED,
        submitted_by=team.ada, reviewed_by=team.grace, reviewed_at=timezone.now(),
    )  # fmt: skip
    return PublishJob.objects.create(
        dataset=dataset, submission=submission, state=state, finished_at=timezone.now(),
        **fields,
    )  # fmt: skip


def test_a_published_version_mails_the_submitter_with_both_numbers(team):
    job = job_for(team, JobState.PUBLISHED, kaggle_version=4,
                  kaggle_url="https://www.kaggle.com/datasets/demo-lab/ocean-temps")  # fmt: skip
    notifications.job_finished(job.pk)
    [message] = mail.outbox
    assert message.to == [team.ada.email]
    assert message.subject == "[Wharf] demo-lab/ocean-temps v2 · Kaggle v4 published"
    assert "https://www.kaggle.com/datasets/demo-lab/ocean-temps" in message.body
    assert f"/jobs/{job.pk}/" in message.body


def test_published_with_differences_says_so_and_lists_them(team):
    job = job_for(team, JobState.PUBLISHED, kaggle_version=2,
                  differences=["Kaggle dropped the keywords oceans."])  # fmt: skip
    notifications.job_finished(job.pk)
    [message] = mail.outbox
    assert message.subject.endswith("published with differences")
    assert "- Kaggle dropped the keywords oceans." in message.body


def test_a_failed_version_mails_the_reason(team):
    job = job_for(team, JobState.FAILED, error_code="rejected",
                  error_message="Kaggle refused the dataset: bad license")  # fmt: skip
    notifications.job_finished(job.pk)
    [message] = mail.outbox
    assert message.subject == "[Wharf] demo-lab/ocean-temps v2 failed to publish"
    assert "Kaggle refused the dataset: bad license" in message.body


def test_the_profile_preference_stops_the_publish_mail(team):
    Profile.objects.update_or_create(user=team.ada, defaults={"email_on_publish": False})
    notifications.job_finished(job_for(team, JobState.PUBLISHED, kaggle_version=2).pk)
    assert mail.outbox == []


def test_a_skipped_publish_sends_nothing(team):
    notifications.job_finished(job_for(team, JobState.SKIPPED).pk)
    assert mail.outbox == []


def submittable(team, slug):
    dataset = team.dataset(slug=slug)
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    dataset.refresh_from_db()
    return dataset


def test_a_person_submitting_tells_the_engineers_it_waits_for_review(
    team, django_capture_on_commit_callbacks
):
    dataset = submittable(team, "ocean-person")
    with django_capture_on_commit_callbacks(execute=True):
        review.submission_submit(dataset, actor=team.ada)
    [message] = mail.outbox
    assert "waits for review" in message.subject and message.to == [team.grace.email]


def test_a_version_the_policy_may_approve_never_mails_waits_for_review(
    team, django_capture_on_commit_callbacks
):
    dataset = submittable(team, "ocean-auto")
    DatasetSchedule.objects.create(
        dataset=dataset, interval_minutes=60, policy=SchedulePolicy.AUTO_APPROVE
    )
    with django_capture_on_commit_callbacks(execute=True):
        submission = review.submission_submit(dataset, actor=None, system="schedule")
    assert mail.outbox == []
    # Approved (by the policy) before a delayed mail would go: still nothing.
    Submission.objects.filter(pk=submission.pk).update(state=SubmissionState.APPROVED)
    notifications.submission_submitted(submission.pk)
    assert mail.outbox == []


def test_engineers_hear_of_a_version_without_a_submitter(team):
    hopper = member(team.lab, "engineer")
    job = job_for(team, JobState.FAILED, error_code="x", error_message="broken")
    Submission.objects.filter(pk=job.submission_id).update(submitted_by=None)
    notifications.job_finished(job.pk)
    [message] = mail.outbox
    assert sorted(message.to) == sorted([team.grace.email, hopper.email])
