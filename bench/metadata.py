"""Metadata-only publish (issue 16) against re-publishing the same files as a version:
a subtitle change on a dataset of 2 GiB, timed from approval to `published`.

    .venv/bin/python bench/metadata.py              # 2 files × 1 GiB on lab storage
    .venv/bin/python bench/metadata.py --gib 4

Wharf's side is `datasets.publishing.job_run` (what a worker runs), in this process, on
SQLite, against the Kaggle sandbox. The version run is the same change forced through
the version path (`force`): stage, hash, upload every byte, wait for processing, then
the metadata update a version cannot carry.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_files(folder: Path, gib: float) -> int:
    block = os.urandom(1024 * 1024)
    per_file = int(gib * 1024 / 2)
    for name in ("part-a.bin", "part-b.bin"):
        with open(folder / name, "wb") as f:
            for _ in range(per_file):
                f.write(block)
    return sum(p.stat().st_size for p in folder.iterdir())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wharf-metadata-bench-"))
    storage = work / "storage"
    storage.mkdir()
    total = make_files(storage, args.gib)
    from kaggle_sandbox.testing import run_sandbox

    with run_sandbox(work / "sandbox", processing_delay=0.5, mode="subprocess") as sandbox:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="portal.settings.test",
            WHARF_DATA_DIR=str(work / "data"),
            WHARF_KAGGLE_SANDBOX_URL=sandbox.url,
            REDIS_URL="redis://127.0.0.1:1/0",  # no broker: the job is run here, not sent
        )
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.KAGGLE_STALL_TIMEOUT = 300
        settings.KAGGLE_PROCESSING_DEADLINE = 600
        settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(work)]
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        from datasets.models import Lab, Membership, PublishJob, Role
        from datasets.publishing import job_run
        from datasets.services import accounts, datasets, files, review, scans

        users = get_user_model().objects
        lab = Lab.objects.create(slug="bench", name="Bench")
        ada, grace = users.create(username="bench-ada"), users.create(username="bench-grace")
        Membership.objects.create(user=ada, lab=lab, role=Role.RESEARCHER)
        Membership.objects.create(user=grace, lab=lab, role=Role.ENGINEER)
        account = accounts.kaggle_account_create(
            lab, actor=grace, owner_slug="demo-lab", username="wharf-demo",
            credential_kind="key", secret="wharf-demo-key",  # noqa: S106 - the sandbox's key
        )  # fmt: skip
        root = accounts.storage_root_create(lab, actor=grace, name="bench", path=str(storage))
        dataset = datasets.dataset_create(
            actor=ada, lab=lab, kaggle_account=account, slug="bench-metadata",
            title="Bench metadata only", subtitle="The first subtitle of the bench",
            description="", license="CC0-1.0", keywords=[], is_private=True,
            folder_packaging="zip",
        )  # fmt: skip
        for name in ("part-a.bin", "part-b.bin"):
            files.file_add_storage(dataset, actor=ada, storage_root=root, relpath=name)

        def publish(subtitle: str | None, *, force: bool) -> tuple[float, PublishJob]:
            if subtitle:
                datasets.dataset_update(dataset, actor=ada, subtitle=subtitle)
            dataset.refresh_from_db()
            submission = review.submission_submit(
                dataset, actor=ada, version_notes=f"Bench {subtitle or 'first'}"
            )
            scans.scan_run(submission.pk)
            start = time.perf_counter()
            job = review.submission_approve(submission, actor=grace, acknowledge_findings=True)
            if force:
                PublishJob.objects.filter(pk=job.pk).update(force=True)
            state = job_run(job.pk, task_id="bench", worker="bench")
            elapsed = time.perf_counter() - start
            job.refresh_from_db()
            if state != "published":
                sys.exit(f"the job ended {state}: {job.error_code} {job.error_message}")
            return elapsed, job

        first, _ = publish(None, force=False)
        meta, meta_job = publish("A corrected subtitle of the bench", force=False)
        version, version_job = publish("Another subtitle for the bench run", force=True)
        held = sandbox.dataset("demo-lab/bench-metadata")
    print(f"\n{total / 2**30:.1f} GiB on lab storage (2 files), sandbox processing 0.5 s\n")
    print(f"{'publish':<40} {'seconds':>8} {'bytes sent':>14} {'Kaggle versions':>16}")
    print(f"{'first version':<40} {first:8.1f} {total:14,d} {1:16d}")
    print(f"{'subtitle change, metadata only':<40} {meta:8.2f} {meta_job.bytes_done:14,d} "
          f"{meta_job.kaggle_version:16d}")  # fmt: skip
    print(f"{'same change as a new version (forced)':<40} {version:8.1f} "
          f"{version_job.bytes_total:14,d} {version_job.kaggle_version:16d}")  # fmt: skip
    print(f"\nmetadata only is {version / meta:.0f}× faster ({meta_job.plan}; "
          f"the sandbox holds {len(held['versions'])} versions, subtitle "
          f"{held.get('subtitle')!r})")  # fmt: skip


if __name__ == "__main__":
    main()
