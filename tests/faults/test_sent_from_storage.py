"""Storage files are sent to Kaggle from lab storage, not copied into staging first
(issue 21): staging links them under their published names, the client process hashes
what the client reads to send, and the job goes on only if that is the approved sha256
from the very file staging opened, unwritten since. WHARF_STAGING_COPY_STORAGE_FILES
brings the copy back."""

import hashlib
import os
import threading

import pytest

from datasets import kaggle, publishing, staging
from datasets.models import JobState
from tests.builders import actions, finished, kaggle_files, sandbox_refs
from tests.conftest import wait_until
from tests.faults.conftest import approve_when_checked

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEMO = kaggle.Credentials(owner_slug="demo-lab", username="wharf-demo",
                          secret="wharf-demo-key", kind="key")  # fmt: skip


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("copy", [False, True], ids=["sent-from-storage", "copied"])
def test_a_storage_file_is_sent_from_storage_unless_settings_ask_for_a_copy(
    team, kaggle_sandbox, own_workers, copy
):
    own_workers(env={"WHARF_STAGING_RETENTION_HOURS": "1",
                     "WHARF_STAGING_COPY_STORAGE_FILES": "true" if copy else "false"})  # fmt: skip
    source = team.storage / "runs" / "readings.csv"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"station,temp\n" + b"OSL,-4.5\n" * 50_000)
    dataset = team.dataset(slug=f"sent-from-storage-{int(copy)}")
    team.add_storage(dataset, "runs/readings.csv")
    job = finished(approve_when_checked(team, team.submit(dataset)), timeout=90)
    assert job.state == JobState.PUBLISHED, job.error_message
    assert kaggle_files(team, dataset.ref) == {"readings.csv": source.stat().st_size}
    assert job.manifest == [{"path": "readings.csv", "size": source.stat().st_size,
                             "sha256": _sha(source)}]  # fmt: skip
    staged = publishing.attempt_dir(job.pk, job.attempts) / "files" / "readings.csv"
    assert staged.is_symlink() is not copy  # kept: WHARF_STAGING_RETENTION_HOURS
    if copy:
        assert staged.read_bytes() == source.read_bytes()
    else:
        assert os.path.samefile(staged, source)
        assert os.stat(source).st_nlink == 1  # a symlink, never a hard link into storage


@pytest.mark.parametrize("change", ["written", "removed", "replaced"])
def test_a_storage_file_changed_while_it_is_sent_fails_and_publishes_nothing(
    team, kaggle_sandbox, own_workers, change
):
    """Rewritten in place, same size, while the upload runs: what was sent is not what was
    approved. The job fails naming the file, nothing is created on Kaggle, and the blob's
    session is dropped (no later attempt resumes bytes read before the write). Removed
    while it is sent: the job fails at once as `source_missing` (not a transient client
    error retried for minutes)."""
    own_workers()
    size = 6 * 1024 * 1024
    source = team.storage / "growing.bin"
    source.write_bytes(os.urandom(size))
    dataset = team.dataset(slug=f"{change}-while-sent")
    team.add_storage(dataset, "growing.bin")
    submission = team.submit(dataset)
    kaggle_sandbox.set_upload_bandwidth(1024 * 1024)
    if change != "written":  # the client waits 2 s before it asks again, then sends
        kaggle_sandbox.inject_fault("StartBlobUpload", "429", retry_after=2)
    since = len(kaggle_sandbox.request_log())
    try:
        job = approve_when_checked(team, submission)

        def sending():
            job.refresh_from_db()
            return job.state == JobState.UPLOADING and (change != "written" or job.bytes_done)

        wait_until(sending, timeout=60, interval=0.02, message="the upload never started")
        if change == "written":
            with open(source, "r+b") as fh:  # the tail, which the upload has not read yet
                fh.seek(size - 16)
                fh.write(b"written too late")
        elif change == "removed":
            source.unlink()
        else:  # same name, same bytes, another file (a new inode renamed over it)
            fresh = source.with_name("growing.bin.new")
            fresh.write_bytes(source.read_bytes())
            fresh.replace(source)
        job = finished(job, timeout=90)
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
        kaggle_sandbox.clear_faults()
    code = "source_missing" if change == "removed" else "source_changed"
    assert job.state == JobState.FAILED and job.error_code == code, job.error_code
    assert "growing.bin" in job.error_message
    assert sandbox_refs(kaggle_sandbox, dataset.slug) == []
    sent = sum(r.get("content_length") or 0 for r in kaggle_sandbox.request_log(since)
               if r.get("method") == "PUT")  # fmt: skip
    if change == "written":
        assert "while Wharf sent it" in job.error_message and job.upload_sessions == {}
    elif change == "removed":
        assert "while Wharf sent it" in job.error_message
        assert "job.retrying" not in actions(job)
    else:  # refused when the client opened it: not a byte of the other file left
        assert "none of it was sent" in job.error_message and sent == 0
        assert "job.retrying" not in actions(job)


def test_what_was_sent_is_checked_by_content_as_well_as_by_file(team, kaggle_sandbox):
    """The check itself: the same file (identity) with other bytes, or the right bytes
    from another file, are both refused; only both together pass."""
    source = team.storage / "checked.csv"
    source.write_bytes(b"station,temp\nOSL,-4.5\n")
    dataset = team.dataset(slug="checked-by-content")
    team.add_storage(dataset, "checked.csv")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    [entry] = job.manifest
    identity = staging.SourceIdentity.of(os.stat(source))
    key = f"{entry['path']}:{entry['sha256']}:{entry['size']}"
    transfer = publishing.Transfer(job, pulse=None, client=None, folder=team.storage)
    try:

        def sent(**changes):
            fields = dict(sha256=entry["sha256"], size=entry["size"], device=identity.device,
                          inode=identity.inode, mtime_ns=identity.mtime_ns,
                          ctime_ns=identity.ctime_ns)  # fmt: skip
            return kaggle.SentBytes(**{**fields, **changes})

        transfer._check_sent(entry, key, identity, sent())  # passes
        for wrong in (sent(sha256="0" * 64), sent(inode=identity.inode + 1),
                      sent(ctime_ns=identity.ctime_ns + 1), None):  # fmt: skip
            transfer.sessions[key] = {"response": {}, "account": job.dataset.kaggle_account_id}
            with pytest.raises(staging.StagingError) as refused:
                transfer._check_sent(entry, key, identity, wrong)
            assert refused.value.code == "source_changed"
            assert key not in transfer.sessions
    finally:
        transfer.abandon()


def test_the_client_process_hashes_what_it_sends_from_the_first_byte_when_resumed(
    kaggle_sandbox, tmp_path
):
    """A stopped upload resumed from what Kaggle holds still reports the sha256 of the
    whole file (the bytes before the resume point are read again, not sent), and a
    finished session reused without a byte sent reports it too."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    want = _sha(big)
    sessions, reports, half = [], [], threading.Event()
    done = [0]

    def progress(n):
        done[0] += n
        if done[0] >= 6 * 1024 * 1024:  # past what socket buffers take at once
            half.set()

    kaggle_sandbox.set_upload_bandwidth(2 * 1024 * 1024)
    try:
        with kaggle.open_client(DEMO) as client, pytest.raises(kaggle.OperationStopped):
            kaggle.dataset_upload_file(client, big, on_progress=progress,
                                       should_stop=half.is_set, on_session=sessions.append,
                                       on_sent=reports.append)  # fmt: skip
    finally:
        kaggle_sandbox.set_upload_bandwidth(None)
    assert reports == [] and len(sessions) == 1
    since = len(kaggle_sandbox.request_log())
    with kaggle.open_client(DEMO) as client:
        token = kaggle.dataset_upload_file(client, big, session=sessions[0],
                                           on_sent=reports.append)  # fmt: skip
        # (The stopped PUT may be logged late, when the sandbox sees its connection end.)
        [put] = [r for r in kaggle_sandbox.request_log(since)
                 if r.get("method") == "PUT" and (r.get("content_range") or "").startswith("bytes ")
                 and r.get("content_length")]  # fmt: skip
        start = int(put["content_range"].split()[1].split("-")[0])
        assert start > 0 and put["content_length"] == big.stat().st_size - start
        since = len(kaggle_sandbox.request_log())
        again = kaggle.dataset_upload_file(client, big, session={**sessions[0]},
                                           on_sent=reports.append)  # fmt: skip
        assert again == token
        assert not [r for r in kaggle_sandbox.request_log(since)
                    if r.get("method") == "PUT" and r.get("content_length")]  # fmt: skip
    st = big.stat()
    assert [(r.sha256, r.size, r.inode, r.ctime_ns) for r in reports] == [
        (want, st.st_size, st.st_ino, st.st_ctime_ns)
    ] * 2
