"""End to end: approve in Wharf, a real worker stages and publishes through the official
client into the Kaggle sandbox, faults included."""

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from datasets import kaggle, publishing, staging
from datasets.models import DatasetStatus, JobPlan, JobState, PublishJob
from datasets.services import datasets as datasets_service
from datasets.services import jobs
from datasets.services.errors import Conflict
from tests.builders import PublishingTeam, Team, actions, finished, kaggle_files, sandbox_refs
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(tmp_path, kaggle_sandbox, celery_worker):
    kaggle_sandbox.clear_faults()
    return PublishingTeam(tmp_path / "storage")


def make_folder(root: Path) -> None:
    (root / "weather" / "readings").mkdir(parents=True)
    (root / "weather" / "stations.csv").write_text("station,lat\nOSL,59.9\n")
    (root / "weather" / "readings" / "jan.csv").write_text("station,temp\nOSL,-4\n" * 100)


def test_files_with_the_same_bytes_are_published_as_files_of_their_own(team):
    """Kaggle takes an upload token once: two files with equal content (a copy under
    another name, two empty files) are two uploads, never one token named twice."""
    dataset = team.dataset(slug="same-bytes-twice")
    for name in ("a.csv", "copy-of-a.csv", "another-copy.csv"):
        team.upload(dataset, name, b"x,y\n1,2\n")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert set(kaggle_files(team, dataset.ref)) == {"a.csv", "copy-of-a.csv", "another-copy.csv"}


def test_first_publish_then_a_new_version(team):
    make_folder(team.storage)
    dataset = team.dataset(slug="ocean-temps-one")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n", "The buoys")
    team.add_storage(dataset, "weather", "Weather folder")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert [e["path"] for e in job.manifest] == ["buoys.csv", "weather.zip"]
    assert all(len(e["sha256"]) == 64 for e in job.manifest)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED and dataset.latest_version == 1
    assert job.kaggle_version == 1
    ref = "demo-lab/ocean-temps-one"
    # Kaggle unpacks archives and lists their members.
    folder = {"weather/stations.csv", "weather/readings/jan.csv"}
    assert set(kaggle_files(team, ref)) == {"buoys.csv", *folder}
    assert actions(job)[:4] == [
        "job.queued", "job.staging.started", "job.uploading.started", "job.processing.started",
    ]  # fmt: skip

    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    job2 = finished(team.approve(team.submit(dataset, notes="Adds extra.csv")))
    assert job2.state == JobState.PUBLISHED, job2.error_message
    assert job2.kaggle_version == 2
    assert set(kaggle_files(team, ref)) == {"buoys.csv", "extra.csv", *folder}
    state = kaggle.dataset_state(kaggle.credentials_for(team.account), ref)
    assert state["current_version_number"] == 2


def test_an_unchanged_version_is_skipped(team):
    dataset = team.dataset(slug="ocean-temps-same")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
    job = finished(team.approve(team.submit(dataset, notes="Nothing new")))
    assert job.state == JobState.SKIPPED
    dataset.refresh_from_db()
    assert dataset.latest_version == 1 and dataset.status == DatasetStatus.PUBLISHED


@pytest.mark.parametrize(
    "fault",
    [
        {"method": "CreateDataset", "kind": "503", "count": 2},
        {"method": "GetDatasetStatus", "kind": "429", "retry_after": 1, "count": 3},
        {"method": "GetDatasetStatus", "kind": "hang", "seconds": 30, "count": 1},
        {"method": "GetDatasetStatus", "kind": "drop", "count": 1},
        {"method": "Upload", "kind": "503", "count": 1},
    ],
    ids=["503", "429", "hang", "drop", "upload-503"],
)
def test_transient_faults_end_published_with_the_retries_recorded(team, kaggle_sandbox, fault):
    dataset = team.dataset(slug=f"faulty-{fault['kind']}-{fault['method'].lower()}"[:50])
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n" * 1000)
    kaggle_sandbox.inject_fault(**fault)
    job = finished(team.approve(team.submit(dataset)), timeout=90)
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    if fault["method"] != "Upload":  # the client retries a failed PUT by itself
        assert "job.retrying" in actions(job)
    assert len(sandbox_refs(kaggle_sandbox, dataset.slug)) == 1


def test_rejected_credentials_fail_the_job_with_a_message(tmp_path, kaggle_sandbox, celery_worker):
    team = PublishingTeam(tmp_path / "storage", key="not-the-key")
    dataset = team.dataset(slug="wrong-key-set")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.FAILED
    assert job.error_code == "credentials_rejected"
    assert "demo-lab" in job.error_message and "not-the-key" not in job.error_message
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.FAILED


def test_a_storage_file_changed_after_submission_is_never_published(team, kaggle_sandbox):
    make_folder(team.storage)
    dataset = team.dataset(slug="changed-later")
    team.add_storage(dataset, "weather/stations.csv")
    submission = team.submit(dataset)
    target = team.storage / "weather" / "stations.csv"
    target.write_text("station,lon\nOSL,10.7\n")  # same size, new content and time
    later = time.time() + 5
    os.utime(target, (later, later))
    try:  # approval compares content now (issue 15); staging does it again
        job = finished(team.approve(submission))
    except Conflict as refused:
        assert refused.code == "content_changed" and "stations.csv" in refused.message
    else:
        assert job.state == JobState.FAILED and job.error_code == "source_changed"
        assert "stations.csv" in job.error_message
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []


def test_a_worker_killed_during_upload_is_recovered_with_one_dataset(team, kaggle_sandbox,
                                                                    celery_worker):  # fmt: skip
    dataset = team.dataset(slug="killed-mid-upload")
    team.upload(dataset, "big.bin", os.urandom(3 * 1024 * 1024))
    kaggle_sandbox.set_upload_bandwidth(1024 * 1024)
    try:
        job = team.approve(team.submit(dataset))

        def uploading():
            job.refresh_from_db()
            return job.state == JobState.UPLOADING and job.bytes_done > 0

        wait_until(uploading, timeout=60, message="the upload never started")
        for pid in celery_worker.pool_children():
            os.kill(pid, signal.SIGKILL)
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    # The heartbeat stops; the sweep (beat runs it every minute) hands the job back.
    time.sleep(5)
    wait_until(lambda: jobs.jobs_sweep()["requeued"] or None, timeout=30, interval=1)
    job = finished(job, timeout=90)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.attempts == 2
    assert "job.requeued" in actions(job)
    assert sandbox_refs(kaggle_sandbox, "killed-mid-upload") == ["demo-lab/killed-mid-upload"]
    state = kaggle.dataset_state(kaggle.credentials_for(team.account), dataset.ref)
    assert state["current_version_number"] == 1


def sandbox_versions(sandbox, ref) -> int:
    return len((sandbox.dataset(ref) or {}).get("versions") or [])


def blob_uploads_since(sandbox, since: int) -> int:
    return sum(1 for r in sandbox.request_log(since) if "StartBlobUpload" in str(r))


def test_a_metadata_only_change_updates_kaggle_without_uploading(team, kaggle_sandbox):
    dataset = team.dataset(slug="metadata-only-one")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n" * 100, "The buoys")
    first = finished(team.approve(team.submit(dataset)))
    assert first.state == JobState.PUBLISHED, first.error_message
    since = len(kaggle_sandbox.request_log())
    datasets_service.dataset_update(
        dataset, actor=team.ada, subtitle="A corrected subtitle, no typo now"
    )
    job = finished(team.approve(team.submit(dataset, notes="Subtitle typo")))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.plan == JobPlan.METADATA and job.outcome_label == "metadata updated"
    assert job.bytes_total == 0 and job.bytes_done == 0
    assert job.kaggle_version == 1  # no new Kaggle version
    assert blob_uploads_since(kaggle_sandbox, since) == 0
    assert sandbox_versions(kaggle_sandbox, dataset.ref) == 1
    kaggle_now = kaggle.dataset_read(kaggle.credentials_for(team.account), dataset.ref)
    assert kaggle_now["metadata"]["subtitle"] == "A corrected subtitle, no typo now"
    assert kaggle_now["metadata"]["isPrivate"] is True  # never flipped by omission
    assert kaggle_now["metadata"]["description"] == "Readings from **twelve** buoys."
    assert "job.metadata.updated" in actions(job)
    dataset.refresh_from_db()
    assert dataset.latest_version == 2


def test_files_and_metadata_together_make_one_version_then_update_the_title(team, kaggle_sandbox):
    dataset = team.dataset(slug="files-and-title")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
    datasets_service.dataset_update(dataset, actor=team.ada, title="Ocean buoys renamed",
                                    license="CC0-1.0")  # fmt: skip
    team.upload(dataset, "extra.csv", b"a,b\n1,2\n")
    job = finished(team.approve(team.submit(dataset, notes="More and renamed")))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.plan == JobPlan.VERSION_METADATA and job.metadata_updated_at
    assert job.kaggle_version == 2 and sandbox_versions(kaggle_sandbox, dataset.ref) == 2
    kaggle_now = kaggle.dataset_read(kaggle.credentials_for(team.account), dataset.ref)
    assert kaggle_now["metadata"]["title"] == "Ocean buoys renamed"
    assert kaggle_now["metadata"]["licenses"] == [{"name": "CC0-1.0"}]
    assert kaggle_now["metadata"]["isPrivate"] is True
    assert {f["name"] for f in kaggle_now["files"]} == {"buoys.csv", "extra.csv"}


def test_keywords_kaggle_does_not_take_reach_the_job(team):
    dataset = team.dataset(slug="odd-keywords", keywords=["oceans", "zz-not-a-kaggle-tag"])
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert "zz-not-a-kaggle-tag" in job.invalid_tags
    assert any("zz-not-a-kaggle-tag" in line for line in job.differences)
    assert "job.invalid_tags" in actions(job)


@pytest.mark.parametrize(
    ("kind", "state", "code"),
    [
        ("deleted_processing", JobState.FAILED, "processing_deleted"),
        ("fail_processing", JobState.FAILED, "processing_failed"),
        ("reprocessing", JobState.PUBLISHED, ""),
    ],
)
def test_processing_states_by_their_kaggle_names(team, kaggle_sandbox, kind, state, code):
    dataset = team.dataset(slug=f"processing-{kind}"[:50].replace("_", "-"))
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    kaggle_sandbox.inject_fault("CreateDataset", kind)
    job = finished(team.approve(team.submit(dataset)), timeout=90)
    assert job.state == state, f"{job.error_code}: {job.error_message}"
    assert job.error_code == code
    if code:
        assert job.error_message and "Traceback" not in job.error_message


class StillPulse:
    """What _stage needs from the heartbeat, for running it without a worker."""

    def add(self, n):
        pass

    def should_stop(self):
        return False

    def check(self, cancellable=True):
        pass


@pytest.mark.parametrize("copy", [True, False], ids=["copied", "sent-from-storage"])
@pytest.mark.parametrize("same_content", [True, False])
def test_staging_compares_content_with_the_frozen_sha256(tmp_path, settings, same_content,
                                                          copy):  # fmt: skip
    """A storage file touched since approval (new mtime) is compared by content before
    anything is sent: copied into staging (WHARF_STAGING_COPY_STORAGE_FILES), as it is
    copied; sent from storage, by one read at staging (an untouched one is checked by
    what is sent: tests/faults/test_sent_from_storage.py)."""
    settings.STAGING_COPY_STORAGE_FILES = copy
    team = Team(tmp_path / "storage")
    dataset = team.dataset(slug="same-size-same-mtime")
    target = team.storage / "stations.csv"
    target.write_text("station,lat\nOSL,59.9\n")
    team.add_storage(dataset, "stations.csv")
    submission = team.submit(dataset)
    entry = submission.files[0]
    entry["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    stat = target.stat()
    if not same_content:
        target.write_text("station,lat\nBGO,60.4\n")  # same size, same mtime below
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    submission.files = [entry]
    submission.save(update_fields=["files"])
    job = PublishJob(dataset=dataset, submission=submission)
    if same_content:  # a new mtime alone is no change once content is compared
        manifest = publishing._stage(job, tmp_path / "staged", StillPulse())
        assert manifest[0]["sha256"] == entry["sha256"]
        return
    with pytest.raises(staging.StagingError) as failed:
        publishing._stage(job, tmp_path / "staged", StillPulse())
    assert failed.value.code == "source_changed" and "stations.csv" in failed.value.message


# --- the transfer engine: pipelined, parallel, resumable (issue 21) ---------------------


def publish_at(team, sandbox, dataset, bandwidth: int | None):
    """Submits and approves `dataset` with the sandbox's uploads at `bandwidth` bytes/s a
    connection (None: no limit): the finished job, and where its requests start in the
    sandbox's log."""
    if bandwidth:
        sandbox.set_upload_bandwidth(bandwidth)
    since = len(sandbox.request_log())
    try:
        job = finished(team.approve(team.submit(dataset)), timeout=90)
    finally:
        sandbox.set_upload_bandwidth(None)
    return job, since


def upload_puts(sandbox, since: int = 0) -> list[dict]:
    return [r for r in sandbox.request_log(since) if r.get("method") == "PUT"
            and "content_length" in r]  # fmt: skip


def test_staged_files_upload_side_by_side_then_one_version_names_them(team, kaggle_sandbox):
    dataset = team.dataset(slug="pipelined-uploads")
    for n in range(3):
        team.upload(dataset, f"part-{n}.bin", os.urandom(1024 * 1024))
    job, since = publish_at(team, kaggle_sandbox, dataset, 1024 * 1024)  # per connection
    assert job.state == JobState.PUBLISHED, job.error_message
    puts = [r for r in upload_puts(kaggle_sandbox, since) if r["content_length"]]
    assert len(puts) == 3
    # Two connections at once (KAGGLE_PARALLEL_UPLOADS = 2): the second PUT starts before
    # the first (1 s at the limit) could have ended.
    starts = sorted(r["time"] for r in puts)
    assert starts[1] - starts[0] < 0.8
    assert sandbox_versions(kaggle_sandbox, dataset.ref) == 1
    assert set(kaggle_files(team, dataset.ref)) == {"part-0.bin", "part-1.bin", "part-2.bin"}


@pytest.mark.parametrize(
    "origin,afresh",
    [("upload", None), ("upload", "expired"), ("storage", None), ("storage", "written")],
    ids=["resumed", "expired", "resumed-from-storage", "storage-file-written-since"],
)
def test_a_worker_killed_mid_upload_resumes_the_file_on_the_next_attempt(
    team, kaggle_sandbox, celery_worker, origin, afresh
):
    """A browser upload (staged by hard link) or a storage file (sent from storage)
    resumes from the bytes Kaggle holds. A storage file written to since (here only its
    permissions: its ctime moves, its bytes do not) is never resumed: what Kaggle holds
    of it was read before, so it is sent again whole."""
    size = 16 * 1024 * 1024  # well beyond what socket buffers hold on the way
    expired = afresh == "expired"
    dataset = team.dataset(slug=f"resumed-upload-{origin}-{afresh}")
    if origin == "upload":
        team.upload(dataset, "big.bin", os.urandom(size))
    else:
        (team.storage / "big.bin").write_bytes(os.urandom(size))
        team.add_storage(dataset, "big.bin")
    kaggle_sandbox.set_upload_bandwidth(2 * 1024 * 1024)
    try:
        job = team.approve(team.submit(dataset))

        def most_sent():
            job.refresh_from_db()
            return job.state == JobState.UPLOADING and job.bytes_done >= size // 2

        wait_until(most_sent, timeout=60, message="the upload never got half way")
        for pid in celery_worker.pool_children():
            os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    job.refresh_from_db()
    [key] = job.upload_sessions  # kept with the job the moment Kaggle granted it
    assert key.endswith(f":{size}")
    if expired:
        assert kaggle_sandbox.expire_uploads() >= 1
    if afresh == "written":
        os.chmod(team.storage / "big.bin", 0o640)
    time.sleep(5)
    wait_until(lambda: jobs.jobs_sweep()["requeued"] or None, timeout=30, interval=1)
    job = finished(job, timeout=90)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.attempts == 2
    after = [r for r in kaggle_sandbox.request_log() if r["time"] > killed_at]
    sends = [r for r in after if r.get("method") == "PUT" and r.get("content_length")]
    assert len(sends) == 1
    if afresh:
        assert sends[0]["content_length"] == size and not sends[0].get("content_range")
        assert "job.upload.restarted" in actions(job)
    else:
        # The probe (bytes */N) learnt what Kaggle holds; only the rest was sent.
        start = int(sends[0]["content_range"].split()[1].split("-")[0])
        assert 0 < start < size and sends[0]["content_length"] == size - start
        assert "job.upload.restarted" not in actions(job)
    assert sum("StartBlobUpload" in str(r) for r in after) == (1 if afresh else 0)
    assert kaggle_files(team, dataset.ref) == {"big.bin": size}


def _looks_before_the_create(log: list[dict]) -> int:
    looks = 0
    for request in log:
        if "CreateDataset" in str(request):
            return looks
        looks += "GetDatasetStatus" in str(request)
    raise AssertionError("no CreateDataset in the log")


@pytest.mark.parametrize("slow", [False, True], ids=["quick-upload", "slow-upload"])
def test_the_look_beside_the_first_upload_stands_in_only_while_fresh(team, kaggle_sandbox,
                                                                     slow):  # fmt: skip
    """A first version's look at Kaggle runs beside the first upload; it stands in for the
    look before the create only while fresh (KAGGLE_LOOK_FRESH_SECONDS: 1 s in tests),
    else Kaggle is looked at again right before the create."""
    dataset = team.dataset(slug=f"early-look-{int(slow)}")
    team.upload(dataset, "a.bin", os.urandom(3 * 1024 * 1024 if slow else 2048))
    job, since = publish_at(team, kaggle_sandbox, dataset, 1024 * 1024 if slow else None)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert _looks_before_the_create(kaggle_sandbox.request_log(since)) == (2 if slow else 1)
