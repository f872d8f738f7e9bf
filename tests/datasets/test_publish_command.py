"""`manage.py publish_dataset`: cron on the storage host submits, approves and waits.
No worker runs here: while the command waits, each pause moves the job one step
through its services, as a worker would."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from datasets.management.commands.publish_dataset import Command
from datasets.models import Event, JobState, PublishJob, SubmissionState
from datasets.services import jobs
from tests.continuous import StorageTeam, manifest_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return StorageTeam(tmp_path / "storage")


@pytest.fixture
def dataset(team):
    (team.storage / "buoys.csv").write_text("buoy,temp\n1,12.5\n")
    dataset = team.storage_dataset()
    team.add_storage(dataset, "buoys.csv")
    return dataset


def worker_steps(outcome: str):
    """A pause that plays one worker step per call, ending in `outcome`."""

    def claim(job):
        return jobs.job_claim(job.pk, worker="tests", task_id="tests")

    def stage(job):
        manifest = manifest_for(job.submission)
        return jobs.job_staged(job, manifest=manifest, bytes_total=manifest[0]["size"])

    def finish(job):
        if outcome == "failed":
            return jobs.job_fail(
                job, code="credentials_rejected", message="Kaggle refused the key of demo-lab."
            )
        job = jobs.job_uploaded(job, ref=job.dataset.ref, url="https://kaggle.example/x")
        return jobs.job_published(job, version=1, url="https://kaggle.example/x")

    steps = [claim, stage, finish]

    def pause(self):
        job = PublishJob.objects.exclude(state__in=JobState.final()).get()
        steps.pop(0)(job)

    return pause


def run(*args, **kwargs):
    out, err = StringIO(), StringIO()
    call_command("publish_dataset", *args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_it_submits_as_the_system_approves_and_waits_until_published(dataset, team, monkeypatch):
    monkeypatch.setattr(Command, "pause", worker_steps("published"))
    out, err = run(dataset.ref, "--approve", "--approver", team.grace.username)
    assert "Submitted version 1 of demo-lab/ocean-temps" in out
    assert "Published version 1: https://kaggle.example/x" in out
    assert "job " in err  # the progress bar
    submission = dataset.submissions.get()
    assert submission.submitted_by is None and submission.reviewed_by == team.grace
    event = Event.objects.get(submission=submission, action="submission.submitted")
    assert event.data["by"] == "command"


def test_a_failed_job_exits_non_zero_with_its_error(dataset, team, monkeypatch):
    monkeypatch.setattr(Command, "pause", worker_steps("failed"))
    with pytest.raises(CommandError, match="credentials_rejected: Kaggle refused the key"):
        run(str(dataset.pk), "--approve", "--approver", team.grace.username)


def test_it_gives_up_waiting_after_the_timeout(dataset, team):
    with pytest.raises(CommandError, match="Gave up waiting after 0 s"):
        run(dataset.ref, "--approve", "--approver", team.grace.username, "--timeout", "0")
    assert PublishJob.objects.get().state == JobState.QUEUED


def test_without_approve_the_version_waits_for_review(dataset, team):
    out, _err = run(dataset.ref, "--user", team.ada.username)
    assert "waits for review" in out
    submission = dataset.submissions.get()
    assert submission.state == SubmissionState.PENDING_REVIEW
    assert submission.submitted_by == team.ada


def test_approving_needs_an_engineer_and_nothing_is_submitted_otherwise(dataset, team):
    with pytest.raises(CommandError, match="needs a data engineer"):
        run(dataset.ref, "--user", team.ada.username, "--approve")
    assert not dataset.submissions.exists()


def test_a_service_refusal_is_a_clear_error(dataset, team, monkeypatch):
    monkeypatch.setattr(Command, "pause", worker_steps("published"))
    run(dataset.ref, "--approve", "--approver", team.grace.username)
    with pytest.raises(CommandError, match="Not submitted: Say what changed"):
        run(dataset.ref, "--approve", "--approver", team.grace.username)
    with pytest.raises(CommandError, match="No dataset nobody/nothing"):
        run("nobody/nothing")
