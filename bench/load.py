"""Load benchmark (issue 10): 50 simulated people browse and submit while 10 publishes
run through a real worker into the Kaggle sandbox, against gunicorn + PostgreSQL +
Redis. Prints errors and latency percentiles per page.

    .venv/bin/python bench/load.py                    # 50 users, 10 publishes, >= 60 s
    .venv/bin/python bench/load.py --users 20 --seconds 30 --small

Setup comes from bench/web.py (`prepare`: drop and recreate the benchmark database,
migrate, collectstatic, seed_volume's history). Then the load users (researchers, one
in ten an engineer) join the first volume lab, which gets a Kaggle account on the
sandbox; ten versions with a few MB each wait for review. gunicorn (production
settings), one Celery worker (at nice 10: background work yields the CPU to people
waiting for pages) and the sandbox start; each user is a thread with its own
cookies and a keep-alive connection that, after a think time (--think, 2-6 s), opens a
page (dataset list, a dataset, publish history, the dashboard) or, one time in ten,
registers a dataset through the web form (CSRF token and all), uploads a small file
and submits it for review. An engineer approves the ten waiting versions at the start;
the run lasts until they are all published (and at least --seconds).

Target: 0 errors, p95 <= 250 ms on every page."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.web import PY, pct, prepare, run  # noqa: E402 - after the path is set

TARGET_P95_MS = 250
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

# --- the world the users act in (runs inside Django, in a subprocess) -----------------------


def setup_world(users: int, publishes: int, publish_mb: float) -> None:
    """Creates the load users, the lab's Kaggle account and the waiting versions; prints
    what the load needs as JSON. Run with the benchmark's environment."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db.models import Count

    from datasets.models import Dataset, Lab, Membership, Role
    from datasets.services import accounts, datasets, files, review

    lab = Lab.objects.get(slug="volume-0")
    engineer = get_user_model().objects.get(username="volume-engineer-0")
    from kaggle_sandbox import DEFAULT_KEY, DEFAULT_ORGANIZATION, DEFAULT_USERNAME

    # The sandbox's demo account (not a secret: it exists only in the sandbox).
    account = accounts.kaggle_account_create(
        lab, actor=engineer, owner_slug=DEFAULT_ORGANIZATION, username=DEFAULT_USERNAME,
        credential_kind="key", secret=DEFAULT_KEY,
    )  # fmt: skip
    people = []
    for i in range(users):
        role = Role.ENGINEER if i % 10 == 0 else Role.RESEARCHER
        user = get_user_model().objects.create_user(f"load-{i:02d}", f"load{i}@bench.example")
        Membership.objects.create(user=user, lab=lab, role=role)
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        people.append({"name": user.username, "role": role, "session": session.session_key})
    researcher = get_user_model().objects.get(username="load-01")
    waiting = []
    for j in range(publishes):
        dataset = datasets.dataset_create(
            actor=researcher, lab=lab, kaggle_account=account, slug=f"load-publish-{j:02d}",
            title=f"Load publish {j:02d}", subtitle="Published while the portal is under load",
            description="Bench data.", license="CC-BY-4.0", keywords=["bench"],
            is_private=True, folder_packaging="zip",
        )  # fmt: skip
        data = os.urandom(int(publish_mb * 1024 * 1024))
        files.file_add_upload(
            dataset, actor=researcher, uploaded_file=SimpleUploadedFile("readings.bin", data)
        )
        dataset.refresh_from_db()
        waiting.append(review.submission_submit(dataset, actor=researcher).pk)
    browse = list(Dataset.objects.filter(lab=lab).order_by("?").values_list("pk", flat=True)[:300])
    busiest = Dataset.objects.filter(lab=lab).annotate(n=Count("events")).order_by("-n").first().pk
    pages = -(-Dataset.objects.filter(lab=lab).count() // 25)  # of the dataset list
    print(json.dumps({
        "lab": lab.pk, "account": account.pk, "people": people, "waiting": waiting,
        "browse": [busiest, *browse], "pages": pages,
    }))  # fmt: skip


# --- one simulated person ---------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: dict[str, str] = {}

    def add(self, page: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latency[page].append(seconds)
            if error:
                self.errors[page] += 1
                self.samples.setdefault(page, error)


class Person:
    """A browser: its cookies, one keep-alive connection, and the pages it opens."""

    def __init__(self, port: int, session: str, stats: Stats):
        self.port = port
        self.cookies = {"sessionid": session}
        self.stats = stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, page, method, path, body=None, headers=None, expect=(200,)):
        """Times one request; returns (status, headers, body) or None after an error."""
        sent = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",  # as behind the TLS proxy of production
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        if method == "POST":
            sent.setdefault("Origin", self.origin)
            sent.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.stats.add(page, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        error = None if response.status in expect else f"{response.status} on {path}"
        self.stats.add(page, elapsed, error)
        return (response.status, dict(response.getheaders()), data) if error is None else None

    def form_token(self, page, path) -> str | None:
        answer = self.request(page, "GET", path)
        if answer is None:
            return None
        found = CSRF_INPUT.search(answer[2])
        return found.group(1).decode() if found else None

    def post_form(self, page, path, fields: dict, expect=(302,)):
        body = urlencode(fields, doseq=True).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request(page, "POST", path, body, headers, expect)

    def post_file(self, page, path, token, name, data: bytes):
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"'
            f"\r\n\r\n{token}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"'
            "\r\nContent-Type: text/csv\r\n\r\n".encode()
            + data
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Accept": "application/json"}  # fmt: skip
        return self.request(page, "POST", path, b"".join(parts), headers)


def browse(person: Person, rng: random.Random, world: dict) -> None:
    choice = rng.random()
    if choice < 0.35:
        query = "" if rng.random() < 0.7 else f"?page={rng.randint(1, world['pages'])}"
        person.request("dataset list", "GET", "/datasets/" + query)
    elif choice < 0.70:
        pk = world["browse"][0] if rng.random() < 0.1 else rng.choice(world["browse"])
        person.request("dataset page", "GET", f"/datasets/{pk}/")
    elif choice < 0.88:
        query = rng.choice(["", "?state=failed", "?state=published", f"?lab={world['lab']}"])
        person.request("publish history", "GET", "/history/" + query)
    else:
        person.request("dashboard", "GET", "/dashboard/")


def submit(person: Person, rng: random.Random, world: dict, name: str, n: int) -> None:
    token = person.form_token("new dataset form", "/datasets/new/")
    if token is None:
        return
    slug = f"{name}-{n}-{secrets.token_hex(3)}"
    fields = {
        "csrfmiddlewaretoken": token, "lab": world["lab"], "kaggle_account": world["account"],
        "slug": slug, "title": f"Load data {slug}"[:50],
        "subtitle": "Registered by the load benchmark", "description": "Made under load.",
        "license": "CC-BY-4.0", "keywords": "bench, load", "is_private": "on",
        "source": "upload", "folder_packaging": "zip",
    }  # fmt: skip
    created = person.post_form("create dataset", "/datasets/new/", fields)
    if created is None:
        return
    detail = urlparse(created[1].get("Location", "")).path
    match = re.match(r"^/datasets/(\d+)/$", detail)
    if not match:
        person.stats.add("create dataset", 0.0, f"unexpected redirect to {detail!r}")
        return
    pk = match.group(1)
    rows = "".join(f"{i},{rng.random():.4f}\n" for i in range(200))
    uploaded = person.post_file(
        "upload file", f"/datasets/{pk}/files/upload/", token, "readings.csv",
        ("i,value\n" + rows).encode(),
    )  # fmt: skip
    if uploaded is None:
        return
    token = person.form_token("submit form", f"/datasets/{pk}/submit/") or token
    person.post_form(
        "submit version", f"/datasets/{pk}/submit/",
        {"csrfmiddlewaretoken": token, "version_notes": "First version, under load."},
    )  # fmt: skip


def person_loop(index, port, world, stats, stop: threading.Event, seed: int, think) -> None:
    info = world["people"][index]
    person = Person(port, info["session"], stats)
    rng = random.Random(seed + index)
    flows = 0
    time.sleep(rng.uniform(0, think[1]))  # people do not all arrive in the same second
    while not stop.is_set():
        try:
            if rng.random() < 0.1:
                flows += 1
                submit(person, rng, world, info["name"], flows)
            else:
                browse(person, rng, world)
        except Exception as exc:  # a bug here must show as an error, not a quiet thread
            stats.add("(load client)", 0.0, f"{type(exc).__name__}: {exc}")
        stop.wait(rng.uniform(*think))
    person.conn.close()


def warm_up(port, world, workers: int) -> None:
    """Each gunicorn worker loads Django's URLs, templates and connections on its first
    requests: that start-up is not what a person waits for once the portal runs."""
    person = world["people"][0]
    paths = ["/datasets/", f"/datasets/{world['browse'][0]}/", "/history/", "/dashboard/",
             "/datasets/new/", f"/review/{world['waiting'][0]}/"]  # fmt: skip

    def visit():
        me = Person(port, person["session"], Stats())
        for _ in range(3):
            for path in paths:
                me.request("warm-up", "GET", path)
        me.conn.close()

    threads = [threading.Thread(target=visit) for _ in range(workers * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- the publishes ------------------------------------------------------------------------------


def approve_all(port, world, stats) -> float:
    """An engineer approves the waiting versions through the review page."""
    engineer = next(p for p in world["people"] if p["role"] == "engineer")
    person = Person(port, engineer["session"], stats)
    started = time.monotonic()
    for pk in world["waiting"]:
        token = person.form_token("review page", f"/review/{pk}/")
        person.post_form(
            "approve", f"/review/{pk}/approve/", {"csrfmiddlewaretoken": token, "note": "Go."}
        )
    return started


def job_states(database: str, submissions: list[int]) -> list:
    """(state, created, finished, error code) of the jobs of these submissions."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT state, created_at, finished_at, error_code FROM datasets_publishjob "
            "WHERE submission_id = ANY(%s)",
            (submissions,),
        ).fetchall()
    return [
        (state, created.timestamp(), finished.timestamp() if finished else None, code)
        for state, created, finished, code in rows
    ]


# --- the servers ----------------------------------------------------------------------------------


def wait_for_port(port: int, what: str, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/login/")
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"{what} did not start")
            time.sleep(0.2)


def stop(process) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def report(stats: Stats, args, seconds: float, jobs: list, load: tuple) -> bool:
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.1f} before the run, "
          f"{load[1]:.1f} at its end (other work on the machine slows every page)")  # fmt: skip
    rate = sum(len(v) for v in stats.latency.values()) / seconds
    print(f"{args.users} users ({args.users // 10} engineers), think time {args.think} s, "
          f"{seconds:.0f} s, {rate:.1f} requests/s; gunicorn {args.workers} workers, "
          f"PostgreSQL, Redis, 1 Celery worker (-c {args.concurrency}), Kaggle sandbox; "
          f"target: 0 errors, p95 <= {TARGET_P95_MS} ms\n")  # fmt: skip
    print(f"{'page':20} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7}")  # fmt: skip
    ok = True
    every: list[float] = []
    for page in sorted(stats.latency, key=lambda p: -len(stats.latency[p])):
        values = stats.latency[page]
        every += values
        p50, p95, p99 = (pct(values, p) if len(values) > 1 else values[0] * 1000
                         for p in (50, 95, 99))  # fmt: skip
        errors = stats.errors.get(page, 0)
        ok &= errors == 0 and p95 <= TARGET_P95_MS
        print(f"{page:20} {len(values):8d} {errors:6d} {p50:7.1f} {p95:7.1f} {p99:7.1f} "
              f"{max(values) * 1000:7.1f}")  # fmt: skip
    total_errors = sum(stats.errors.values())
    print(f"{'all pages':20} {len(every):8d} {total_errors:6d} {pct(every, 50):7.1f} "
          f"{pct(every, 95):7.1f} {pct(every, 99):7.1f} {max(every) * 1000:7.1f}")  # fmt: skip
    for page, sample in stats.samples.items():
        print(f"  first error on {page}: {sample}")
    states = defaultdict(int)
    for state, *_ in jobs:
        states[state] += 1
    durations = sorted(f - c for _s, c, f, _e in jobs if f)
    print(f"\npublishes: {dict(states)}; " + (
        f"each took {durations[0]:.1f}-{durations[-1]:.1f} s from approval"
        if durations else "none finished"))  # fmt: skip
    for state, _c, _f, code in jobs:
        if state != "published":
            print(f"  a job ended {state} ({code})")
    ok &= states.get("published", 0) == len(jobs) == args.publishes
    print("\nPASS" if ok else "\nFAIL: see the rows above")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database",
                        default="postgres://postgres@127.0.0.1:5432/wharf_bench_load")  # fmt: skip
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/10"))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--publishes", type=int, default=10)
    parser.add_argument("--publish-mb", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=60, help="the shortest run")
    parser.add_argument("--timeout", type=float, default=600, help="the longest run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--think", default="2-6", help="seconds a person looks at a page before the next, min-max"
    )
    parser.add_argument("--small", action="store_true", help="a tenth of seed_volume's history")
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split("-"))

    from cryptography.fernet import Fernet

    from kaggle_sandbox.testing import run_sandbox

    work = Path(tempfile.mkdtemp(prefix="wharf-load-"))
    volume = ["--datasets", "1000", "--events", "10000", "--jobs", "200"] if args.small else []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "WHARF_CREDENTIALS_KEY": Fernet.generate_key().decode(),
        "WHARF_LOG_LEVEL": "ERROR",
        "WHARF_DATA_DIR": str(work / "data"),
        "WHARF_STORAGE_ROOTS_ALLOWED_UNDER": str(work),
        "WHARF_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "PYTHONPATH": str(ROOT),
    }
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    print(f"working folder (logs, uploads, the sandbox): {work}", flush=True)
    print("preparing the database (migrate, collectstatic, seed_volume) ...", flush=True)
    prepare(env, args.database, volume)
    print("adding the load users and the versions to publish ...", flush=True)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench.load import setup_world; "
        "setup_world(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))"
    )
    out = run([PY, "-c", script, str(ROOT), str(args.users), str(args.publishes),
               str(args.publish_mb)], env, capture_output=True, text=True)  # fmt: skip
    world = json.loads(out.stdout.strip().splitlines()[-1])

    stats = Stats()
    gunicorn = worker = None
    # The sandbox takes uploads at 2 MB/s and processes for 2 s: a publish lasts seconds,
    # so the ten overlap the whole run.
    with run_sandbox(work / "kaggle-sandbox", processing_delay=2.0, mode="subprocess",
                     upload_bandwidth=2 * 1024 * 1024) as sandbox:  # fmt: skip
        env["WHARF_KAGGLE_SANDBOX_URL"] = sandbox.url
        # The sandbox stands in for Kaggle, which is not on this machine in production.
        os.setpriority(os.PRIO_PROCESS, sandbox.process.pid, 10)
        try:
            worker = subprocess.Popen(
                # Background work yields the CPU to people waiting for a page, as it
                # should on one machine (in production they get machines of their own).
                ["nice", "-n", "10", PY, "-m", "celery", "-A", "portal", "worker",
                 "-Q", "default,publish",
                 "-c", str(args.concurrency), "--without-gossip", "--without-mingle",
                 "--loglevel", "WARNING"],
                cwd=ROOT, env=env, stdout=open(work / "worker.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            gunicorn = subprocess.Popen(
                [PY, "-m", "gunicorn", "portal.wsgi:application", "--bind",
                 f"127.0.0.1:{args.port}", "--workers", str(args.workers),
                 "--log-level", "warning", "--access-logfile", str(work / "access.log"),
                 "--access-logformat", "%(m)s %(U)s %(s)s %(D)s"],
                cwd=ROOT, env=env,
            )  # fmt: skip
            wait_for_port(args.port, "gunicorn", gunicorn)
            warm_up(args.port, world, args.workers)
            print(f"running: {args.users} users, {args.publishes} publishes ...", flush=True)
            halt = threading.Event()
            threads = [
                threading.Thread(target=person_loop,
                                 args=(i, args.port, world, stats, halt, args.seed, think))
                for i in range(args.users)
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            load_before = os.getloadavg()[0]
            started = approve_all(args.port, world, stats)
            deadline = started + args.timeout
            while True:
                time.sleep(5)
                jobs = job_states(args.database, world["waiting"])
                final = [j for j in jobs if j[0] in ("published", "failed", "cancelled", "skipped")]
                elapsed = time.monotonic() - started
                print(f"  {elapsed:5.0f} s: {len(final)}/{args.publishes} publishes finished",
                      flush=True)  # fmt: skip
                done = len(final) == args.publishes
                if (done and elapsed >= args.seconds) or time.monotonic() > deadline:
                    break
            load_after = os.getloadavg()[0]
            halt.set()
            for thread in threads:
                thread.join(timeout=90)
            seconds = time.monotonic() - started
        finally:
            stop(gunicorn)
            stop(worker)
    jobs = job_states(args.database, world["waiting"])
    ok = report(stats, args, seconds, jobs, (load_before, load_after))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
