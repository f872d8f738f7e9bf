"""End to end (issue 6): approve → published through Wharf's pipeline vs the official
CLI's `kaggle datasets create` (+ `status` until ready) on the same files, against the
same Kaggle sandbox.

    .venv/bin/python bench/e2e.py                  # 3 × 64 MiB CSV-like files + a folder
    .venv/bin/python bench/e2e.py --mib 256 --rounds 3

Wharf's side is `datasets.publishing.job_run`, the code a worker runs (staging with
checksums, the metadata file, the client in its own process, polling until ready), timed
from the approval. The CLI gets the same files with `--dir-mode zip` for the folder.
Both wait for Kaggle's processing (the sandbox's delay is the same for both).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_files(folder: Path, mib: int) -> None:
    row = b"2026-11-25T12:00:00,station-%03d,12.345,67.890,ok\n"
    block = b"".join(row % (i % 1000) for i in range(20000))
    for name in ("a.csv", "b.csv", "c.csv"):
        with open(folder / name, "wb") as f:
            for _ in range(max(1, mib * 1024 * 1024 // len(block))):
                f.write(block)
    (folder / "extra").mkdir()
    for i in range(20):
        (folder / "extra" / f"part-{i}.csv").write_bytes(block)


def wharf_publish(data_dir: Path, storage: Path, sandbox_url: str, slug: str) -> float:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings.test",
        WHARF_DATA_DIR=str(data_dir),
        WHARF_KAGGLE_SANDBOX_URL=sandbox_url,
        REDIS_URL="redis://127.0.0.1:1/0",  # no broker: the job is run here, not sent
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.KAGGLE_STALL_TIMEOUT = 300
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(storage.parent)]
    settings.DATABASES["default"]["NAME"] = str(data_dir / "bench.sqlite3")
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from datasets.models import Lab, Membership, Role
    from datasets.publishing import job_run
    from datasets.services import accounts, datasets, files, review, scans

    users = get_user_model().objects
    lab, _ = Lab.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    ada, _ = users.get_or_create(username="bench-ada")
    grace, _ = users.get_or_create(username="bench-grace")
    Membership.objects.get_or_create(user=ada, lab=lab, defaults={"role": Role.RESEARCHER})
    Membership.objects.get_or_create(user=grace, lab=lab, defaults={"role": Role.ENGINEER})
    account = lab.kaggle_accounts.first() or accounts.kaggle_account_create(
        lab, actor=grace, owner_slug="demo-lab", username="wharf-demo",
        credential_kind="key", secret="wharf-demo-key",  # noqa: S106 - the sandbox's demo key
    )  # fmt: skip
    root = lab.storage_roots.first() or accounts.storage_root_create(
        lab, actor=grace, name="bench", path=str(storage)
    )
    dataset = datasets.dataset_create(
        actor=ada, lab=lab, kaggle_account=account, slug=slug, title=f"Bench {slug}"[:50],
        subtitle="End to end benchmark of publishing", description="", license="CC0-1.0",
        keywords=[], is_private=True, folder_packaging="zip",
    )  # fmt: skip
    for name in ("a.csv", "b.csv", "c.csv", "extra"):
        files.file_add_storage(dataset, actor=ada, storage_root=root, relpath=name)
    submission = review.submission_submit(dataset, actor=ada)
    scans.scan_run(submission.pk)  # a worker does this right after the submission
    start = time.perf_counter()
    job = review.submission_approve(submission, actor=grace, acknowledge_findings=True,
                                    note="bench")  # fmt: skip
    state = job_run(job.pk, task_id="bench", worker="bench")
    elapsed = time.perf_counter() - start
    job.refresh_from_db()
    if state != "published":
        sys.exit(f"Wharf's job ended {state}: {job.error_code} {job.error_message}")
    from datetime import datetime

    phases = {
        name: (
            datetime.fromisoformat(t["ended"]) - datetime.fromisoformat(t["started"])
        ).total_seconds()
        for name, t in job.phases.items()
        if "ended" in t
    }
    print("  Wharf phases (s):", {k: round(v, 2) for k, v in phases.items()}, file=sys.stderr)
    return elapsed


def cli_publish(sandbox, storage: Path, slug: str) -> float:
    folder = Path(tempfile.mkdtemp(prefix="wharf-e2e-cli-"))
    for name in ("a.csv", "b.csv", "c.csv"):
        os.link(storage / name, folder / name)
    subprocess.run(["cp", "-al", str(storage / "extra"), str(folder / "extra")], check=True)
    ref = f"demo-lab/{slug}"
    (folder / "dataset-metadata.json").write_text(json.dumps(
        {"title": f"Bench {slug}"[:50], "id": ref, "licenses": [{"name": "CC0-1.0"}]}))  # fmt: skip
    env = sandbox.client_env("wharf-demo", "wharf-demo-key")
    kaggle = str(Path(sys.executable).parent / "kaggle")
    start = time.perf_counter()
    subprocess.run([kaggle, "datasets", "create", "-p", str(folder), "--dir-mode", "zip", "-q"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    while True:
        out = subprocess.run([kaggle, "datasets", "status", ref], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        if "ready" in out:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="size of each of the 3 files")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from kaggle_sandbox.testing import run_sandbox

    work = Path(tempfile.mkdtemp(prefix="wharf-e2e-"))
    storage = work / "storage" / "data"
    storage.mkdir(parents=True)
    make_files(storage, args.mib)
    total = sum(p.stat().st_size for p in storage.rglob("*") if p.is_file())
    rows = []
    with run_sandbox(work / "sandbox", processing_delay=0.5, mode="subprocess") as sandbox:
        for i in range(args.rounds):
            cli = cli_publish(sandbox, storage, f"bench-cli-{i}")
            wharf = wharf_publish(work, storage, sandbox.url, f"bench-wharf-{i}")
            rows.append((cli, wharf))
    print(f"\n{total / 2**20:.0f} MiB (3 files + a 20-file folder), sandbox processing 0.5 s\n")
    print(f"{'round':>5} {'kaggle CLI s':>13} {'Wharf s':>9} {'Wharf ÷ CLI':>12}")
    for i, (cli, wharf) in enumerate(rows, 1):
        print(f"{i:5d} {cli:13.2f} {wharf:9.2f} {wharf / cli:11.2f}x")
    best_cli, best_wharf = min(r[0] for r in rows), min(r[1] for r in rows)
    print(f"{'best':>5} {best_cli:13.2f} {best_wharf:9.2f} {best_wharf / best_cli:11.2f}x"
          "   (target: <= 1.0x, no slower than the CLI)")  # fmt: skip


if __name__ == "__main__":
    main()
