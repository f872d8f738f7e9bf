"""Scale-out (issue 21): a backlog of I/O-bound publish jobs drained by 1 and then by 3
Celery worker processes, on PostgreSQL + Redis, into the Kaggle sandbox.

    .venv/bin/python bench/scaleout.py                          # 30 jobs of 3 MiB, both modes
    .venv/bin/python bench/scaleout.py --jobs 12 --mb 2         # a quick look
    .venv/bin/python bench/scaleout.py --modes uplink --uplink 3,5,8   # a pair of runs each

Two network models, one run each with 1 and with --workers worker processes:

- `per-connection`: the sandbox limits every connection to --bandwidth MB/s (10^6
  bytes), as the issue's earlier measurement did. Reported: the speed-up of the workers
  over 1 worker (wall time from the first approval to the last job published; target:
  at least the issue's 2.73x).
- `uplink`: one --uplink MB/s shared by every connection (a lab's uplink). Reported: the
  aggregate upload throughput ÷ the uplink (target: >= 0.9 with the workers), where the
  throughput is the bytes the sandbox received in upload PUTs ÷ the upload window, from
  the first PUT's arrival to the last job leaving `uploading` (Wharf records that once
  Kaggle answered the create request that follows the last byte, so the window is, if
  anything, a little long). The default, 4 MB/s, keeps 3 MiB jobs I/O-bound on a
  2-core machine: there 3 workers publish at most ~1.2 jobs/s of 3 MiB (CPU: each job
  starts a client process, stages, hashes, polls), ~4.7 MB/s, so a faster uplink
  measures the CPU, not the uplink; give such an uplink bigger jobs (--mb).

Each job is a dataset of two lab-storage files, --mb MiB of random bytes and a 64 KiB
CSV (its own files, so nothing is shared between jobs), registered, submitted and
scanned with bench/e2e.py's helpers before the workers start. The workers are separate
`celery -A portal worker -Q publish -c 1` processes (production settings; the sandbox
polling of the tests: first status poll after 0.2 s, then every 0.5 s at most), started
and answering a ping before the engineer approves the whole backlog in one go; each
approval enqueues its job on Redis. The sandbox processes a version for 0.5 s.

Afterwards every job must be PUBLISHED and the sandbox must hold each dataset once, with
one version and both files; the command exits 1 otherwise.

It drops and recreates the database --database (its name must contain "bench"; bench/
web.py's `prepare`, with a minimal seed) and flushes the Redis database --redis; both are
dropped/flushed again at the end unless --keep (the working folder, with the worker
logs, is kept when the run did not finish).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.e2e import CSV_ROW, submission_for_review  # noqa: E402 - after the path is set
from bench.web import PY, prepare  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/wharf_bench_scaleout"
PROCESSING_DELAY = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CSV_BYTES = 64 * 1024
FILES = ("readings.bin", "stations.csv")
# The smallest history `prepare` accepts (its session helper needs one lab, dataset, job).
MINIMAL_SEED = ["--labs", "1", "--datasets", "1", "--events", "1", "--jobs", "1"]
# The sandbox stands in for kaggle.com: its test-speed polling, not the production
# default of a first poll after 2 s (sized for Kaggle's minutes of processing).
WORKER_SETTINGS = {
    "WHARF_KAGGLE_POLL_INITIAL": "0.2",
    "WHARF_KAGGLE_POLL_MAX": "0.5",
    "WHARF_LOG_LEVEL": "WARNING",
}


# --- the jobs -----------------------------------------------------------------------------


def write_job_files(folder: Path, mib: float) -> list[str]:
    folder.mkdir(parents=True)
    with open(folder / FILES[0], "wb") as f:
        left = int(mib * 2**20)
        while left > 0:
            block = os.urandom(min(left, 2**20))
            f.write(block)
            left -= len(block)
    rows = b"".join(CSV_ROW % (i % 1000) for i in range(CSV_BYTES // len(CSV_ROW) + 1))
    (folder / FILES[1]).write_bytes(b"time,station,lat,lon,flag\n" + rows[:CSV_BYTES])
    return [f"{folder.parent.name}/{folder.name}/{name}" for name in FILES]


def backlog(storage: Path, tag: str, count: int, mib: float) -> list:
    """`count` submissions, scanned and waiting for approval: (slug, submission, reviewer)."""
    waiting = []
    for i in range(count):
        slug = f"scaleout-{tag}-{i:02d}"
        names = write_job_files(storage / tag / f"job-{i:02d}", mib)
        submission, reviewer = submission_for_review(storage, slug, names)
        waiting.append((slug, submission, reviewer))
    return waiting


# --- the workers --------------------------------------------------------------------------


def start_workers(count: int, env: dict, work: Path, tag: str) -> list:
    from portal.celery import app

    workers = []
    for i in range(count):
        name = f"scaleout-{tag}-{i}-{secrets.token_hex(3)}@localhost"
        log = open(work / f"worker-{tag}-{i}.log", "wb")  # noqa: SIM115 - the child holds it
        process = subprocess.Popen(
            [PY, "-m", "celery", "-A", "portal", "worker", "-Q", "publish", "-c", "1",
             "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        workers.append((name, process))
    waiting = {name for name, _ in workers}
    deadline = time.monotonic() + 90
    while waiting:
        for name, process in workers:
            if process.poll() is not None:
                stop_workers(workers)
                sys.exit(f"worker {name} exited with {process.returncode}; see {work}")
        if time.monotonic() > deadline:
            stop_workers(workers)
            sys.exit(f"workers did not answer a ping within 90 s; see {work}")
        for reply in app.control.ping(destination=sorted(waiting), timeout=1.0):
            waiting -= set(reply)
    return workers


def stop_workers(workers: list) -> None:
    for _, process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for _, process in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- one run ------------------------------------------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """(busy, elapsed) CPU seconds of the whole machine (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants, alive or reaped: each one's own time
    plus that of the children it waited for (a job's client process ends inside its
    worker's pool process). 0 once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    return own + sum(tree_cpu(int(child)) for child in children)


def bench_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_sample(pool: list, sandbox) -> dict:
    return {
        "machine": machine_cpu(),
        "wharf": sum(tree_cpu(process.pid) for _, process in pool),
        "sandbox": tree_cpu(sandbox.process.pid),
        "bench": bench_cpu(),
    }


def cores(before: dict, after: dict) -> dict:
    """Cores used on average between two samples: by the workers (Wharf), the sandbox,
    this process (approvals, polling the database) and everything else on the machine."""
    seconds = (after["machine"][1] - before["machine"][1]) / (os.cpu_count() or 1)
    used = {k: (after[k] - before[k]) / seconds for k in ("wharf", "sandbox", "bench")}
    busy = (after["machine"][0] - before["machine"][0]) / seconds
    return {**used, "others": max(0.0, busy - sum(used.values())), "busy": busy}


def run_once(args, env, work, storage, sandbox, mode: str, rate: float, workers: int) -> dict:
    """One backlog of --jobs drained by `workers` processes, the sandbox taking uploads at
    `rate` MB/s per connection (`per-connection`) or for all of them (`uplink`)."""
    from datasets.models import JobState, PublishJob
    from datasets.services import review

    tag = f"{'conn' if mode == 'per-connection' else 'uplink'}{rate:g}-{workers}w"
    tag = tag.replace(".", "p")  # a Kaggle slug has no dots
    print(f"{tag}: registering {args.jobs} datasets ...", file=sys.stderr, flush=True)
    clock = time.monotonic()
    waiting = backlog(storage, tag, args.jobs, args.mb)
    print(f"{tag}: registered in {time.monotonic() - clock:.1f} s", file=sys.stderr)
    sandbox.set_upload_bandwidth(int(rate * 1e6), shared=mode == "uplink")
    sandbox.clear_log()
    print(f"{tag}: starting {workers} worker process(es) ...", file=sys.stderr, flush=True)
    pool = start_workers(workers, env, work, tag)
    try:
        load = [os.getloadavg()[0]]
        cpu_before = cpu_sample(pool, sandbox)
        started = time.time()
        jobs = [
            review.submission_approve(
                submission, actor=reviewer, acknowledge_findings=True, note="scale-out bench"
            ).pk
            for _slug, submission, reviewer in waiting
        ]
        deadline = time.monotonic() + args.timeout
        while True:
            time.sleep(0.25)
            load.append(os.getloadavg()[0])
            unfinished = (
                PublishJob.objects.filter(pk__in=jobs).exclude(state__in=JobState.final()).count()
            )
            if not unfinished:
                break
            if time.monotonic() > deadline:
                print(f"{tag}: {unfinished} jobs unfinished after {args.timeout} s",
                      file=sys.stderr)  # fmt: skip
                break
        cpu_after = cpu_sample(pool, sandbox)
    finally:
        stop_workers(pool)
    rows = list(PublishJob.objects.filter(pk__in=jobs))
    log = sandbox.request_log()
    puts = [r for r in log if r.get("method") == "PUT" and r.get("content_length")]
    uploaded = sum(r["content_length"] for r in puts)
    upload_ends = [
        datetime.fromisoformat(j.phases["uploading"]["ended"]).timestamp()
        for j in rows
        if "ended" in (j.phases or {}).get("uploading", {})
    ]
    finished = [j.finished_at.timestamp() for j in rows if j.finished_at]
    spans = [j.finished_at - j.started_at for j in rows if j.finished_at and j.started_at]
    busy_seconds = sum(span.total_seconds() for span in spans)
    window = max(upload_ends) - min(r["time"] for r in puts) if puts and upload_ends else 0
    shutil.rmtree(storage / tag)  # the staged copies are gone already; free the disk
    return {
        "mode": mode,
        "rate": rate,
        "workers": workers,
        "slugs": [slug for slug, _s, _r in waiting],
        "jobs": rows,
        "wall": (max(finished) - started) if finished else float("nan"),
        "uploaded": uploaded,
        "window": window,
        "load": (load[0], max(load), load[-1]),
        "cores": cores(cpu_before, cpu_after),
        "wharf_cpu_per_job": (cpu_after["wharf"] - cpu_before["wharf"]) / len(rows),
        "job_seconds": busy_seconds / max(1, len(spans)),
        "in_a_job": busy_seconds / workers,
    }


# --- checks and the table -----------------------------------------------------------------


def verify(runs: list[dict], sandbox) -> list[str]:
    """What is wrong with "every job published exactly once" (empty: nothing)."""
    from datasets.models import JobState

    problems = []
    held: dict[str, list[dict]] = {}
    for dataset in sandbox.state()["datasets"]:
        held.setdefault(dataset["ref"], []).append(dataset)
    expected = set()
    for run in runs:
        for job in run["jobs"]:
            if job.state != JobState.PUBLISHED:
                problems.append(f"job {job.pk} ended {job.state}: {job.error_code} "
                                f"{job.error_message}")  # fmt: skip
        for slug in run["slugs"]:
            ref = f"demo-lab/{slug}"
            expected.add(ref)
            found = held.get(ref, [])
            if len(found) != 1:
                problems.append(f"{ref}: the sandbox holds it {len(found)} times")
                continue
            versions = found[0]["versions"]
            names = sorted(f["name"] for f in versions[-1]["files"]) if versions else []
            if len(versions) != 1 or names != sorted(FILES):
                problems.append(f"{ref}: {len(versions)} versions, files {names}")
    extra = set(held) - expected
    if extra:
        problems.append(f"the sandbox holds datasets no job made: {sorted(extra)[:5]}")
    return problems


def report(args, runs: list[dict], problems: list[str]) -> None:
    from django.conf import settings

    print(f"\n{args.jobs} jobs of {args.mb:g} MiB random + a {CSV_BYTES // 1024} KiB CSV, "
          f"PostgreSQL + Redis, 'celery worker -Q publish -c 1' processes, sandbox processing "
          f"{PROCESSING_DELAY} s, KAGGLE_PARALLEL_UPLOADS={settings.KAGGLE_PARALLEL_UPLOADS}, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print(f"{'network':26} {'workers':>7} {'wall s':>7} {'jobs/min':>8} {'attempts':>8} "
          f"{'MiB up':>7} {'window s':>8} {'MB/s':>6} {'÷ uplink':>8} {'speed-up':>8}")  # fmt: skip
    base = {}
    labels = []
    for run in runs:
        shared = run["mode"] == "uplink"
        network = f"{'shared uplink' if shared else 'per connection'} {run['rate']:g} MB/s"
        labels.append(network)
        wall = run["wall"]
        base.setdefault((run["mode"], run["rate"]), wall)
        speed_up = base[(run["mode"], run["rate"])] / wall
        throughput = run["uploaded"] / run["window"] if run["window"] else 0
        share = f"{throughput / (run['rate'] * 1e6):8.2f}" if shared else f"{'':8}"
        attempts = sum(j.attempts for j in run["jobs"])
        print(f"{network:26} {run['workers']:7d} {wall:7.1f} {len(run['jobs']) / wall * 60:8.1f} "
              f"{attempts:8d} {run['uploaded'] / 2**20:7.1f} {run['window']:8.1f} "
              f"{throughput / 1e6:6.2f} {share} {speed_up:7.2f}x")  # fmt: skip
    print(f"\ntargets: per connection, {args.workers} workers >= 2.73x one worker; shared "
          f"uplink, {args.workers} workers >= 0.9 of the uplink")  # fmt: skip
    print("wall: first approval to last job published; window: first upload PUT to the last "
          "job leaving 'uploading'; MB/s: bytes PUT ÷ window")  # fmt: skip
    print(f"\nwhere the time went: a job's seconds (claimed to published), the share of the "
          f"wall time a worker spent in a job; CPU in cores (of {os.cpu_count()}); the "
          f"1-minute load average")  # fmt: skip
    print(f"{'network':26} {'workers':>7} {'job s':>6} {'in a job':>8} {'CPU s/job':>9} "
          f"{'Wharf':>6} {'sandbox':>7} {'bench':>6} {'others':>6} {'busy':>5} "
          f"{'load start/max/end':>19}")  # fmt: skip
    for network, run in zip(labels, runs, strict=True):
        c = run["cores"]
        load = "/".join(f"{x:.1f}" for x in run["load"])
        print(f"{network:26} {run['workers']:7d} {run['job_seconds']:6.2f} "
              f"{run['in_a_job'] / run['wall']:8.2f} {run['wharf_cpu_per_job']:9.2f} "
              f"{c['wharf']:6.2f} {c['sandbox']:7.2f} {c['bench']:6.2f} {c['others']:6.2f} "
              f"{c['busy']:5.2f} {load:>19}")  # fmt: skip
    print("CPU s/job and Wharf: the worker processes and their client processes; others: "
          "the rest (other sessions' tests and benchmarks, PostgreSQL, Redis)")  # fmt: skip
    total = sum(len(r["jobs"]) for r in runs)
    if problems:
        print(f"\nFAIL: not every job was published exactly once ({len(problems)} problems):")
        for problem in problems[:20]:
            print(f"  {problem}")
    else:
        print(f"\nexactly once: all {total} jobs PUBLISHED; the sandbox holds each of the "
              f"{total} datasets once, with 1 version of {len(FILES)} files")  # fmt: skip


# --- main ---------------------------------------------------------------------------------


def mb_per_second(text: str) -> list[float]:
    """MB/s as "2" or "4,8", each positive."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of MB/s: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"rates must be positive MB/s: {text!r}")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--mb", type=float, default=3, help="MiB of random bytes per job")
    parser.add_argument("--bandwidth", type=mb_per_second, default="2",
                        help="per-connection mode: MB/s for each connection (a list: a run "
                        "pair each)")  # fmt: skip
    parser.add_argument("--uplink", type=mb_per_second, default="4",
                        help="uplink mode: MB/s for all connections together (a list: a run "
                        "pair each)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=3, help="compared with 1")
    parser.add_argument("--modes", default="per-connection,uplink")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run, at most")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database, Redis and the working folder")  # fmt: skip
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"per-connection", "uplink"}:
        parser.error("--modes: per-connection, uplink or both")

    import redis
    from cryptography.fernet import Fernet

    from kaggle_sandbox.testing import run_sandbox

    work = Path(tempfile.mkdtemp(prefix="wharf-scaleout-"))
    storage = work / "storage"
    storage.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "WHARF_CREDENTIALS_KEY": Fernet.generate_key().decode(),
        "WHARF_DATA_DIR": str(work / "data"),
        "WHARF_STORAGE_ROOTS_ALLOWED_UNDER": str(work),
        "WHARF_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "PYTHONPATH": str(ROOT),
        **WORKER_SETTINGS,
    }
    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()
    print(f"working folder (worker logs, storage, the sandbox): {work}", file=sys.stderr)
    print("preparing the database ...", file=sys.stderr, flush=True)
    prepare(env, args.database, MINIMAL_SEED)
    runs, finished = [], False
    try:
        with run_sandbox(work / "sandbox", processing_delay=PROCESSING_DELAY,
                         mode="subprocess") as sandbox:  # fmt: skip
            env["WHARF_KAGGLE_SANDBOX_URL"] = sandbox.url
            os.environ.update(env)
            import django

            django.setup()
            for mode, rates in (("per-connection", args.bandwidth), ("uplink", args.uplink)):
                for rate in rates if mode in modes else ():
                    for workers in (1, args.workers):
                        runs.append(
                            run_once(args, env, work, storage, sandbox, mode, rate, workers)
                        )
            problems = verify(runs, sandbox)
        report(args, runs, problems)
        finished = True
    finally:
        if not args.keep:
            from django.conf import settings

            if settings.configured:  # the bench's own connection, or the DROP waits for it
                from django.db import connections

                connections.close_all()
            broker.flushdb()
            import psycopg

            name = args.database.rsplit("/", 1)[1]
            admin = args.database.rsplit("/", 1)[0] + "/postgres"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if finished:
                shutil.rmtree(work, ignore_errors=True)
            else:  # the worker logs say what went wrong
                print(f"the working folder is kept: {work}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
