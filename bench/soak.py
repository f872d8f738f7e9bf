"""Soak (issue 17): publish jobs through three real Celery worker processes on PostgreSQL
and Redis while workers are SIGKILLed at random (pool children, and whole workers as a
crashed node), Redis is restarted and the Kaggle sandbox misbehaves. It ends with every
job final, exactly one Kaggle dataset per Wharf dataset and the right number of
versions, and prints the kills survived and how fast a killed worker's job ran again.

    .venv/bin/python bench/soak.py            # 20 datasets × 2 versions = 40 jobs, 3 at a time
    .venv/bin/python bench/soak.py --datasets 30 --kills 12 --mib 3

Production clocks (heartbeat 5 s, stale after 20 s, a sweep every 5 s; this script runs
the sweep the way beat does). PostgreSQL at 127.0.0.1:5432 (trust auth): a database of
its own, `wharf_soak`, created through `--admin-db` (default `test`) and dropped at the
end. Redis: its own redis-server with AOF (the machine's 6379 may be shared and is
never restarted), restarted once mid-run. Target: recovery ≤ 30 s, no job lost, no
duplicate on Kaggle.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = """
from portal.settings.test import *  # noqa: F403
import os
JOB_HEARTBEAT_SECONDS = 5
JOB_STALE_AFTER = 20
JOB_SWEEP_SECONDS = 5
JOB_QUEUED_STALE_AFTER = 30
JOB_MAX_ATTEMPTS = 10
KAGGLE_STALL_TIMEOUT = 20
KAGGLE_RETRIES = 6
KAGGLE_RETRY_BASE = 0.5
KAGGLE_RETRY_CAP = 5
KAGGLE_PROCESSING_DEADLINE = 300
STORAGE_ROOTS_ALLOWED_UNDER = [os.environ["WHARF_SOAK_DIR"]]
"""

FAULTS = [
    ("GetDatasetStatus", "503", 2),
    ("CreateDatasetVersion", "act_then_drop", 1),
    ("CreateDataset", "act_then_drop", 1),
    ("CreateDataset", "act_then_refuse", 1),
    ("StartBlobUpload", "500", 1),
    ("Upload", "503", 1),
    ("CreateDatasetVersion", "503", 1),
    ("GetDataset", "429", 1),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Worker:
    def __init__(self, index: int, env: dict, logs: Path):
        self.name = f"soak-{index}@localhost"
        self.env, self.log_path = env, logs / f"worker-{index}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q",
                 "default,publish", "-c", "1", "-n", self.name, "--without-gossip",
                 "--without-mingle", "--loglevel", "INFO"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def pool_children(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def kill_node(self) -> None:
        """The whole worker as a crashed machine: main process, pool, client children."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_database(admin_db: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{admin_db}",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(admin_db: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{admin_db}",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--versions", type=int, default=2, help="versions per dataset")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--active",
        type=int,
        default=3,
        help="approve a new job only while fewer are queued or running",
    )
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs during the run")
    parser.add_argument("--mib", type=float, default=2, help="size of each file")
    parser.add_argument("--bandwidth", type=int, default=3, help="sandbox upload MiB/s")
    parser.add_argument("--admin-db", default="test")
    parser.add_argument("--timeout", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="wharf-soak-"))
    (work / "settings").mkdir()
    (work / "settings" / "soak_settings.py").write_text(SETTINGS)
    storage = work / "storage"
    storage.mkdir()
    db_url = make_database(args.admin_db, "wharf_soak")

    from portal.embedded_redis import start_embedded_redis, wait_for_port

    redis_port = free_port()
    redis_dir = work / "redis"
    redis = start_embedded_redis(redis_port, redis_dir, stdout=subprocess.DEVNULL)
    broker = f"redis://127.0.0.1:{redis_port}/0"

    from kaggle_sandbox.testing import run_sandbox

    sandbox_cm = run_sandbox(work / "sandbox", processing_delay=0.5, mode="subprocess")
    sandbox = sandbox_cm.__enter__()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(work / "settings"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "soak_settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": broker,
        "WHARF_DATA_DIR": str(work / "data"),
        "WHARF_KAGGLE_SANDBOX_URL": sandbox.url,
        "WHARF_SOAK_DIR": str(work),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(work / "settings"))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.utils import timezone

    from datasets.models import JobPlan, JobState, Lab, Membership, PublishJob, Role
    from datasets.services import accounts, datasets, files, jobs, review, scans
    from portal.celery import app as celery_app

    celery_app.conf.broker_url = broker
    call_command("migrate", verbosity=0)
    users = get_user_model().objects
    lab = Lab.objects.create(slug="soak", name="Soak")
    ada, grace = users.create(username="soak-ada"), users.create(username="soak-grace")
    Membership.objects.create(user=ada, lab=lab, role=Role.RESEARCHER)
    Membership.objects.create(user=grace, lab=lab, role=Role.ENGINEER)
    account = accounts.kaggle_account_create(
        lab, actor=grace, owner_slug="demo-lab", username="wharf-demo",
        credential_kind="key", secret="wharf-demo-key",  # noqa: S106 - the sandbox's demo key
    )  # fmt: skip

    workers = [Worker(i + 1, env, work) for i in range(args.workers)]
    for w in workers:
        w.start()
    time.sleep(8)  # the workers connect

    size = int(args.mib * 1024 * 1024)
    sandbox.set_upload_bandwidth(args.bandwidth * 1024 * 1024)

    def submit(dataset, number: int):
        for i in range(rng.randint(1, 3)):
            name = f"v{number}-part-{i}.bin"
            upload = SimpleUploadedFile(name, os.urandom(size))
            files.file_add_upload(dataset, actor=ada, uploaded_file=upload)
        submission = review.submission_submit(dataset, actor=ada,
                                              version_notes=f"Soak version {number}")  # fmt: skip
        scans.scan_run(submission.pk)
        return review.submission_approve(submission, actor=grace, acknowledge_findings=True)

    started = time.monotonic()
    wharf_datasets = []
    for i in range(args.datasets):
        dataset = datasets.dataset_create(
            actor=ada, lab=lab, kaggle_account=account, slug=f"soak-dataset-{i:03d}",
            title=f"Soak dataset number {i:03d}", subtitle="A dataset for the soak test",
            description="", license="CC0-1.0", keywords=[], is_private=True,
            folder_packaging="zip",
        )  # fmt: skip
        wharf_datasets.append(dataset)
    log(f"{args.datasets} datasets made; approving at most {args.active} jobs at a time")

    versions_sent = {d.pk: 0 for d in wharf_datasets}
    pending_kills: list[dict] = []
    recoveries: list[float] = []
    requeued: list[float] = []
    kills = {"pool": 0, "node": 0}
    redis_restarted = False
    next_kill = time.monotonic() + rng.uniform(3, 8)
    next_fault = time.monotonic() + rng.uniform(5, 10)
    next_sweep = time.monotonic()
    deadline = started + args.timeout
    total_jobs = args.datasets * args.versions

    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_sweep:
            try:
                counts = jobs.jobs_sweep()
                if any(counts.values()):
                    log(f"sweep: {counts}")
            except Exception as exc:  # the broker may be restarting
                log(f"sweep failed: {exc}")
            next_sweep = now + 5
        # Approvals arrive while the pool has room (--active): a requeued job then waits
        # for the sweep, not behind a backlog. A dataset's next version once its last
        # job is final.
        active = PublishJob.objects.filter(state__in=JobState.active()).count()
        for dataset in wharf_datasets:
            n = versions_sent[dataset.pk]
            if n >= args.versions or active >= args.active:
                continue
            last = PublishJob.objects.filter(dataset=dataset).order_by("-id").first()
            if last is None or last.state in JobState.final():
                dataset.refresh_from_db()
                submit(dataset, n + 1)
                versions_sent[dataset.pk] = n + 1
                active += 1
        # Recovery: a killed attempt's job back in the queue (the sweep), then running
        # again in a new attempt.
        for record in list(pending_kills):
            job = PublishJob.objects.get(pk=record["job"])
            if "requeued" not in record and (
                job.state == JobState.QUEUED or job.attempts > record["attempts"]
            ):
                record["requeued"] = time.monotonic() - record["at"]
            if job.attempts > record["attempts"] and job.state in JobState.running():
                recoveries.append(time.monotonic() - record["at"])
                requeued.append(record.get("requeued", recoveries[-1]))
                pending_kills.remove(record)
            elif job.state in JobState.final():
                pending_kills.remove(record)
        # Kills, only of a worker that holds a running job (so recovery can be measured).
        if sum(kills.values()) < args.kills and now >= next_kill:
            # A job whose worker is alive (a fresh heartbeat) and not already killed.
            alive = timezone.now() - timedelta(seconds=8)
            killed = {record["job"] for record in pending_kills}
            running = [
                job
                for job in PublishJob.objects.filter(
                    state__in=JobState.running(), heartbeat_at__gte=alive
                )
                if job.pk not in killed
            ]
            if running:
                job = rng.choice(running)
                worker = next((w for w in workers if w.name == job.worker), None)
                if worker is not None and worker.process.poll() is None:
                    if rng.random() < 0.6:
                        for pid in worker.pool_children():
                            os.kill(pid, signal.SIGKILL)
                        kills["pool"] += 1
                        log(f"SIGKILL pool child of {worker.name} (job {job.pk} {job.state})")
                    else:
                        worker.kill_node()
                        kills["node"] += 1
                        log(f"SIGKILL whole {worker.name} (job {job.pk} {job.state})")
                        worker.start()  # the supervisor brings the node back
                    pending_kills.append({"job": job.pk, "attempts": job.attempts,
                                          "at": time.monotonic()})  # fmt: skip
            next_kill = now + rng.uniform(6, 15)
        if not redis_restarted and now - started > 40:
            log("restarting Redis")
            redis.terminate()  # redis-server writes its AOF on the way down
            redis.wait(timeout=10)
            time.sleep(2)
            redis = start_embedded_redis(redis_port, redis_dir, stdout=subprocess.DEVNULL)
            wait_for_port(redis_port, timeout=10)
            redis_restarted = True
        if now >= next_fault:
            method, kind, count = rng.choice(FAULTS)
            try:
                sandbox.inject_fault(method, kind, count, retry_after=1 if kind == "429" else None)
                log(f"sandbox fault: {method} {kind} ×{count}")
            except Exception as exc:
                log(f"fault not injected ({exc})")
            next_fault = now + rng.uniform(8, 15)
        done = PublishJob.objects.filter(state__in=JobState.final()).count()
        if done >= total_jobs and all(v >= args.versions for v in versions_sent.values()):
            break
        time.sleep(0.5)

    elapsed = time.monotonic() - started
    sandbox.clear_faults()
    all_jobs = list(PublishJob.objects.all())
    by_state: dict[str, int] = {}
    for job in all_jobs:
        by_state[job.state] = by_state.get(job.state, 0) + 1
    problems = []
    if len(all_jobs) != total_jobs:
        problems.append(f"{len(all_jobs)} jobs made, {total_jobs} expected")
    not_final = [j.pk for j in all_jobs if j.state not in JobState.final()]
    if not_final:
        problems.append(f"jobs not final: {not_final}")
    state = sandbox.state()
    for dataset in wharf_datasets:
        refs = [d for d in state["datasets"] if d["ref"] == f"demo-lab/{dataset.slug}"]
        published = PublishJob.objects.filter(
            dataset=dataset, state=JobState.PUBLISHED,
            plan__in=[JobPlan.VERSION, JobPlan.VERSION_METADATA],
        ).count()  # fmt: skip
        if len(refs) != 1:
            problems.append(f"{dataset.slug}: {len(refs)} Kaggle datasets")
            continue
        made = len(refs[0].get("versions") or [])
        if made != published:
            problems.append(f"{dataset.slug}: {made} Kaggle versions, {published} published")
    for w in workers:
        w.stop()
    sandbox_cm.__exit__(None, None, None)
    redis.terminate()
    redis.wait(timeout=10)
    from django.db import connections

    connections.close_all()
    drop_database(args.admin_db, "wharf_soak")

    print()
    print(f"jobs: {len(all_jobs)} ({', '.join(f'{v} {k}' for k, v in sorted(by_state.items()))})"
          f" in {elapsed:.0f} s, {args.workers} workers, PostgreSQL + Redis")  # fmt: skip
    print(
        f"kills survived: {sum(kills.values())} ({kills['pool']} pool children, "
        f"{kills['node']} whole workers), Redis restarted: {'yes' if redis_restarted else 'no'}"
    )
    if recoveries:
        print(
            f"recovery (killed → running again): median {statistics.median(recoveries):.1f} s,"
            f" max {max(recoveries):.1f} s over {len(recoveries)} kills (target ≤ 30 s);"
            f" back in the queue after median {statistics.median(requeued):.1f} s,"
            f" max {max(requeued):.1f} s"
        )
    else:
        print("recovery: no kill hit a job that had to run again")
    print("Kaggle: " + ("exactly one dataset per Wharf dataset, versions match"
                        if not problems else "PROBLEMS: " + "; ".join(problems)))  # fmt: skip
    print(f"logs: {work}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
