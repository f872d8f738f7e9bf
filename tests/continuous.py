"""Helpers of the continuous-data tests: a storage-backed dataset published without a
worker (the job is driven through its services), and the content scan's verdict."""

import hashlib
import sys
import types

from datasets.metadata import published_name
from datasets.services import jobs
from tests.builders import Team


def manifest_for(submission) -> list[dict]:
    """What staging would record: single files hash as themselves; folders as archives
    (their digest does not matter to the change detection)."""
    manifest = []
    packaging = submission.metadata.get("folder_packaging", "zip")
    for entry in submission.files:
        name = published_name(entry, packaging)
        if entry["kind"] == "file" and entry.get("origin") == "storage":
            from pathlib import Path

            data = (Path(entry["root_path"]) / entry["relpath"]).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = "0" * 64
        manifest.append({"path": name, "size": entry["size"], "sha256": digest})
    return manifest


def publish_without_worker(job):
    """Moves a queued job to published through the services, as a worker would."""
    job = jobs.job_claim(job.pk, worker="tests", task_id="tests")
    manifest = manifest_for(job.submission)
    job = jobs.job_staged(job, manifest=manifest, bytes_total=sum(m["size"] for m in manifest))
    ref = job.dataset.ref
    job = jobs.job_uploaded(job, ref=ref, url=f"https://kaggle.example/{ref}")
    return jobs.job_published(
        job, version=job.submission.number, url=f"https://kaggle.example/{ref}"
    )


def fail_without_worker(job, code="credentials_rejected", message="Kaggle said no."):
    job = jobs.job_claim(job.pk, worker="tests", task_id="tests")
    return jobs.job_fail(job, code=code, message=message)


class StorageTeam(Team):
    """A Team whose dataset takes its files from lab storage."""

    def storage_dataset(self, slug="ocean-temps", **fields):
        return self.dataset(slug=slug, source="storage", **fields)

    def publish(self, dataset, notes="Update."):
        dataset.refresh_from_db()
        submission = self.submit(dataset, notes=notes if dataset.latest_version else "")
        job = publish_without_worker(self.approve(submission))
        dataset.refresh_from_db()
        return job


def install_scan_verdict(monkeypatch, verdict: dict) -> None:
    """`datasets.services.scans.scan_allows_auto_approval` answers verdict["value"]
    (None: still scanning, False: findings or failure). Another module owns the real
    scan; when it is not there yet, a stand-in module takes its place."""

    def fake(submission):
        verdict.setdefault("asked", []).append(submission.pk)
        return verdict["value"]

    try:
        from datasets.services import scans
    except ImportError:
        module = types.ModuleType("datasets.services.scans")
        module.scan_allows_auto_approval = fake
        monkeypatch.setitem(sys.modules, "datasets.services.scans", module)
    else:
        monkeypatch.setattr(scans, "scan_allows_auto_approval", fake)
