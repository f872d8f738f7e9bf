"""Continuous data: a schedule notices files that changed on lab storage and turns a
settled change into a new version, left for review or approved by policy."""

import os
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from datasets import changes
from datasets.models import (
    CheckResult,
    DatasetSchedule,
    Event,
    JobState,
    PublishJob,
    SubmissionState,
)
from datasets.services import review, schedules
from datasets.services.continuous import auto_approve_recheck, dataset_check_changes
from datasets.services.errors import Forbidden, ServiceError
from tests.continuous import StorageTeam, install_scan_verdict

pytestmark = pytest.mark.django_db

LATER = 10_000  # seconds after now: every file has settled


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return StorageTeam(tmp_path / "storage")


@pytest.fixture
def scan(monkeypatch):
    verdict = {"value": True}
    install_scan_verdict(monkeypatch, verdict)
    return verdict


def write(path, text: str, age: float = 3600) -> None:
    """Writes a file that was last modified `age` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))


@pytest.fixture
def published(team):
    """ocean-temps v1: a folder `weather` and a single file `buoys.csv`, published."""
    write(team.storage / "weather" / "stations.csv", "station,lat\nOSL,59.9\n")
    write(team.storage / "weather" / "readings" / "jan.csv", "station,temp\nOSL,-4\n")
    write(team.storage / "buoys.csv", "buoy,temp\n1,12.5\n")
    dataset = team.storage_dataset()
    team.add_storage(dataset, "weather")
    team.add_storage(dataset, "buoys.csv")
    team.publish(dataset)
    schedules.schedule_save(dataset, actor=team.grace, interval_minutes=1)
    return dataset


def check(dataset, *, after: float = LATER) -> str:
    return dataset_check_changes(dataset.pk, now=time.time() + after)


def schedule_of(dataset) -> DatasetSchedule:
    return DatasetSchedule.objects.get(dataset=dataset)


def checked_events(dataset):
    return Event.objects.filter(dataset=dataset, action="dataset.checked").order_by("at", "id")


def open_submission(dataset):
    return dataset.submissions.get(state=SubmissionState.PENDING_REVIEW)


# --- what counts as a change ----------------------------------------------------------


def test_an_unchanged_dataset_only_moves_counters_and_records_one_event_a_day(published):
    assert [check(published) for _ in range(5)] == [CheckResult.UNCHANGED] * 5
    schedule = schedule_of(published)
    assert schedule.checks_total == 5 and schedule.last_checked_at is not None
    assert schedule.last_scan_seconds is not None
    assert checked_events(published).count() == 1
    assert published.submissions.count() == 1

    DatasetSchedule.objects.filter(pk=schedule.pk).update(
        last_event_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    check(published)
    events = list(checked_events(published))
    assert len(events) == 2
    assert events[-1].data["result"] == "unchanged" and events[-1].data["checks"] == 5


def test_a_file_added_to_a_folder_becomes_a_version_with_generated_notes(team, published):
    write(team.storage / "weather" / "readings" / "feb.csv", "station,temp\nOSL,-6\n" * 60)
    assert check(published) == CheckResult.SUBMITTED
    submission = open_submission(published)
    assert submission.number == 2 and submission.submitted_by is None
    assert "Added: 1 file, 1.2 KB" in submission.version_notes
    assert "- weather/readings/feb.csv (1.2 KB)" in submission.version_notes
    submitted = Event.objects.get(submission=submission, action="submission.submitted")
    assert submitted.actor is None and submitted.data["by"] == "schedule"
    checked = checked_events(published).last()
    assert checked.data["result"] == "submitted" and checked.data["added"] == 1
    assert checked.data["scan_seconds"] >= 0 and checked.data["files"] == 4


def test_engineers_are_told_of_a_version_wharf_submitted_itself(
    team, published, monkeypatch, django_capture_on_commit_callbacks
):
    from django.template.loader import render_to_string

    from datasets import notifications

    bodies = []

    def send(kind, subject, template, context, users):
        bodies.append(render_to_string(template, context))

    monkeypatch.setattr(notifications, "_send", send)
    write(team.storage / "buoys.csv", "changed\n")
    with django_capture_on_commit_callbacks(execute=True):
        assert check(published) == CheckResult.SUBMITTED
    assert len(bodies) == 1 and bodies[0].startswith("Wharf itself (a schedule or a pipeline)")


def test_a_removed_file_is_listed_as_removed(team, published):
    (team.storage / "weather" / "readings" / "jan.csv").unlink()
    assert check(published) == CheckResult.SUBMITTED
    notes = open_submission(published).version_notes
    assert "Removed: 1 file" in notes and "- weather/readings/jan.csv (20 bytes)" in notes


def test_a_modified_file_is_listed_with_its_old_and_new_size(team, published):
    write(team.storage / "buoys.csv", "buoy,temp\n1,12.5\n2,13.1\n", age=600)
    assert check(published) == CheckResult.SUBMITTED
    notes = open_submission(published).version_notes
    assert "Changed: 1 file" in notes and "- buoys.csv (17 bytes → 24 bytes)" in notes


def test_a_file_still_being_written_waits_for_the_quiet_period(team, published):
    path = team.storage / "weather" / "readings" / "feb.csv"
    path.write_text("station,temp\nOSL,")  # just written: its time is now
    assert check(published, after=5) == CheckResult.WAITING
    schedule = schedule_of(published)
    assert "weather/readings/feb.csv" in schedule.last_message
    assert "quiet period 120 s" in schedule.last_message
    assert published.submissions.count() == 1

    assert check(published, after=LATER) == CheckResult.SUBMITTED
    assert open_submission(published).number == 2


def test_the_quiet_period_is_set_per_dataset(team, published):
    schedules.schedule_save(published, actor=team.grace, interval_minutes=1, quiet_period_seconds=0)
    (team.storage / "weather" / "new.csv").write_text("a\n")
    assert check(published, after=0) == CheckResult.SUBMITTED


def test_a_touched_file_with_the_same_bytes_is_hashed_once_and_is_no_change(
    team, published, monkeypatch
):
    path = team.storage / "buoys.csv"
    os.utime(path, (time.time() - 500, time.time() - 500))
    hashed = []
    real = changes.sha256_of
    monkeypatch.setattr(changes, "sha256_of", lambda p: hashed.append(p) or real(p))
    assert check(published) == CheckResult.UNCHANGED
    assert check(published) == CheckResult.UNCHANGED
    assert len(hashed) == 1
    assert "buoys.csv" in schedule_of(published).verified_touched
    assert checked_events(published).last().data["hashed_files"] == 1


def test_same_size_new_bytes_in_a_single_file_are_a_change(team, published):
    write(team.storage / "buoys.csv", "buoy,temp\n1,99.9\n", age=600)
    assert check(published) == CheckResult.SUBMITTED
    assert "- buoys.csv (17 bytes → 17 bytes)" in open_submission(published).version_notes


def test_nothing_is_submitted_while_a_version_is_in_review(team, published):
    write(team.storage / "buoys.csv", "changed\n")
    assert check(published) == CheckResult.SUBMITTED
    write(team.storage / "more.csv", "x\n")
    assert check(published) == CheckResult.BUSY
    assert published.submissions.count() == 2


def test_a_returned_version_is_not_proposed_again_until_the_files_change(team, published):
    write(team.storage / "buoys.csv", "changed\n")
    check(published)
    review.submission_return(open_submission(published), actor=team.grace, reason="Bad buoy.")
    assert check(published) == CheckResult.DECLINED
    assert "returned (Bad buoy.)" in schedule_of(published).last_message
    write(team.storage / "buoys.csv", "fixed,at last\n")
    assert check(published) == CheckResult.SUBMITTED
    assert published.submissions.count() == 3


def test_a_dataset_never_published_waits_for_a_first_version_by_hand(team):
    write(team.storage / "buoys.csv", "buoy\n1\n")
    dataset = team.storage_dataset(slug="fresh-data")
    team.add_storage(dataset, "buoys.csv")
    schedules.schedule_save(dataset, actor=team.grace, interval_minutes=5)
    assert check(dataset) == CheckResult.NOT_PUBLISHED
    assert dataset.submissions.count() == 0


def test_a_file_gone_from_storage_is_reported_not_submitted(team, published):
    (team.storage / "buoys.csv").unlink()
    assert check(published) == CheckResult.ERROR
    assert "buoys.csv" in schedule_of(published).last_message
    assert published.submissions.count() == 1


def test_a_large_change_lists_the_first_paths_and_counts_the_rest(team, published):
    for n in range(40):
        write(team.storage / "weather" / "bulk" / f"{n:03}.csv", "x\n")
    assert check(published) == CheckResult.SUBMITTED
    notes = open_submission(published).version_notes
    assert "Added: 40 files" in notes and "- … and 15 files more" in notes


# --- the policy -----------------------------------------------------------------------


def auto(team, dataset):
    schedules.schedule_save(dataset, actor=team.grace, interval_minutes=1, policy="auto_approve")


def test_needs_review_leaves_the_version_in_the_review_queue(team, published, scan):
    write(team.storage / "buoys.csv", "changed\n")
    assert check(published) == CheckResult.SUBMITTED
    assert open_submission(published).state == SubmissionState.PENDING_REVIEW
    assert not PublishJob.objects.filter(submission__number=2).exists()
    assert "asked" not in scan


def test_auto_approve_approves_by_policy_and_queues_the_job(team, published, scan):
    auto(team, published)
    write(team.storage / "buoys.csv", "changed\n")
    assert check(published) == CheckResult.AUTO_APPROVED
    submission = published.submissions.get(number=2)
    assert submission.state == SubmissionState.APPROVED
    assert submission.approved_by_policy == "auto" and submission.reviewed_by is None
    approved = Event.objects.get(submission=submission, action="submission.approved")
    assert approved.actor is None and approved.data["policy"] == "auto"
    job = PublishJob.objects.get(submission=submission)
    assert job.state == JobState.QUEUED and job.created_by is None


def test_auto_approve_is_refused_when_the_scan_finds_something(team, published, scan):
    scan["value"] = False
    auto(team, published)
    write(team.storage / "buoys.csv", "name,ssn\nada,123-45-6789\n")
    assert check(published) == CheckResult.BLOCKED
    submission = open_submission(published)
    refused = Event.objects.get(submission=submission, action="submission.auto_approval_refused")
    assert "sensitive" in refused.data["reason"]
    assert not PublishJob.objects.filter(submission=submission).exists()
    assert "not approved automatically" in schedule_of(published).last_message


def test_auto_approve_waits_for_a_running_scan_then_approves(team, published, scan):
    scan["value"] = None
    auto(team, published)
    write(team.storage / "buoys.csv", "changed\n")
    assert check(published) == CheckResult.AWAITING_SCAN
    submission = open_submission(published)
    assert schedule_of(published).awaiting_submission == submission

    assert auto_approve_recheck(submission.pk, 1) == CheckResult.AWAITING_SCAN
    scan["value"] = True
    assert auto_approve_recheck(submission.pk, 2) == CheckResult.AUTO_APPROVED
    submission.refresh_from_db()
    assert submission.state == SubmissionState.APPROVED
    assert schedule_of(published).awaiting_submission is None


def test_the_next_scheduled_run_also_approves_a_version_the_scan_cleared(team, published, scan):
    scan["value"] = None
    auto(team, published)
    write(team.storage / "buoys.csv", "changed\n")
    check(published)
    scan["value"] = True
    assert check(published) == CheckResult.AUTO_APPROVED


def test_a_researcher_path_is_unchanged_and_needs_membership(team, published):
    from tests.factories import member

    outsider = member(team.lab.__class__.objects.create(name="Other", slug="other"))
    with pytest.raises(Forbidden):
        review.submission_submit(published, actor=outsider, version_notes="x")
    with pytest.raises(ValueError):
        review.submission_submit(published, actor=team.ada, version_notes="x", system="schedule")


# --- the schedule itself --------------------------------------------------------------


def test_an_interval_schedule_is_a_beat_periodic_task_with_the_dataset_id(published):
    task = schedule_of(published).periodic_task
    assert task.task == "datasets.tasks.dataset_check_changes"
    assert task.args == f"[{published.pk}]" and task.enabled
    assert task.interval.every == 1 and task.interval.period == "minutes"


def test_a_cron_schedule_replaces_the_interval_and_removal_deletes_the_task(team, published):
    schedule = schedules.schedule_save(published, actor=team.grace, cron="*/15 6-18 * * 1-5")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.interval is None and task.crontab.minute == "*/15"
    assert task.crontab.day_of_week == "1-5"
    schedules.schedule_delete(published, actor=team.grace)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert not DatasetSchedule.objects.filter(dataset=published).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "every day"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"interval_minutes": 5, "cron": "* * * * *"}, "interval_minutes"),
        ({}, "interval_minutes"),
        ({"interval_minutes": 5, "quiet_period_seconds": 999_999}, "quiet_period_seconds"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_field(team, published, fields, field):
    with pytest.raises(ServiceError) as caught:
        schedules.schedule_save(published, actor=team.grace, **fields)
    assert caught.value.field == field


def test_only_engineers_schedule_and_only_storage_datasets(team, published):
    with pytest.raises(Forbidden):
        schedules.schedule_save(published, actor=team.ada, interval_minutes=5)
    uploads = team.dataset(slug="uploaded")
    with pytest.raises(ServiceError) as caught:
        schedules.schedule_save(uploads, actor=team.grace, interval_minutes=5)
    assert caught.value.code == "not_storage"


def test_a_paused_schedule_does_not_check(team, published):
    schedules.schedule_save(published, actor=team.grace, interval_minutes=1, enabled=False)
    assert check(published) == "no-schedule"
    assert not PeriodicTask.objects.get(pk=schedule_of(published).periodic_task_id).enabled


def test_a_check_does_not_start_while_another_runs_for_the_dataset(published):
    DatasetSchedule.objects.filter(dataset=published).update(running_since=timezone.now())
    assert check(published) == "already-running"
    DatasetSchedule.objects.filter(dataset=published).update(
        running_since=timezone.now() - timedelta(hours=3)  # its worker died
    )
    assert check(published) == CheckResult.UNCHANGED
    assert schedule_of(published).running_since is None


def test_the_beat_entry_of_a_deleted_schedule_removes_itself(published):
    task_pk = schedule_of(published).periodic_task_id
    DatasetSchedule.objects.filter(dataset=published).delete()  # e.g. with its dataset
    assert check(published) == "no-schedule"
    assert not PeriodicTask.objects.filter(pk=task_pk).exists()


def test_the_settings_page_saves_for_engineers_and_is_read_only_for_researchers(
    client, team, published
):
    url = reverse("datasets:schedule", args=[published.pk])
    client.force_login(team.ada)
    assert "Read-only" in client.get(url).content.decode()
    assert client.post(url, {"kind": "interval", "interval_minutes": 3}).status_code == 403

    client.force_login(team.grace)
    response = client.post(
        url,
        {"kind": "cron", "cron": "0 * * * *", "policy": "auto_approve",
         "quiet_period_seconds": "30", "enabled": "on"},
        follow=True,
    )  # fmt: skip
    assert "Saved: checks cron 0 * * * * (on)." in response.content.decode()
    schedule = schedule_of(published)
    assert schedule.is_auto_approve and schedule.quiet_period == 30
    detail = client.get(reverse("datasets:dataset_detail", args=[published.pk])).content.decode()
    assert "Continuous publishing" in detail and "cron 0 * * * *" in detail
