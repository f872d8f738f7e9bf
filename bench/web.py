"""Web benchmark (issues 7 and 21): gunicorn on PostgreSQL with seed_volume's history;
per page, the queries it issues and the CPU one request costs in-process (Django test
client, median of 25: the figure a busy machine disturbs least), single-client latency
(p50/p95: what one person waits) and N-client throughput (requests per second; on 2
cores, N clients measure queueing).

    .venv/bin/python bench/web.py                     # 1 client 10 s, then 8 clients 10 s
    .venv/bin/python bench/web.py --seconds 5 --clients 8 --database postgres://postgres@127.0.0.1:5432/wharf_bench
    .venv/bin/python bench/web.py --baseline /tmp/wharf-before   # the same pages, in the
                                                      # same run, from an older tree

It drops and recreates the benchmark database (never `test` or your real one: the name
must contain "bench"), migrates, seeds 10,000 datasets / 100,000 events / 2,000 jobs, runs
gunicorn with the production settings, and logs a lab engineer in through a session
cookie. `--baseline DIR` (e.g. `git archive <commit> | tar -x -C DIR`) starts a second
gunicorn from that tree on the same database and measures both page by page, alternating,
so the ratios come from the same run and the same machine load.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(cmd, env, **kw):
    result = subprocess.run(cmd, cwd=ROOT, env=env, check=False, **kw)
    if result.returncode:
        sys.exit(f"{' '.join(map(str, cmd))[:80]} failed:\n{result.stderr or ''}")
    return result


def prepare(env, database_url, volume, seed=True):
    url = urlparse(database_url)
    name = url.path.lstrip("/")
    if "bench" not in name:
        sys.exit("The benchmark database name must contain 'bench' (it is dropped).")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    if seed:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    run([PY, "manage.py", "migrate", "-v0"], env)
    run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    if seed:
        run([PY, "manage.py", "seed_volume", "--quiet", *volume], env)
        # The planner's statistics, as autovacuum keeps them on a live database: without
        # them PostgreSQL takes each lab for 9 rows and sorts 1,250 datasets per page.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    script = (
        "import django;django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from datasets.models import Dataset, PublishJob\n"
        "from django.db.models import Count\n"
        "u=get_user_model().objects.get(username='volume-engineer-0')\n"
        "s=SessionStore();s['_auth_user_id']=str(u.pk)\n"
        "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend'\n"
        "s['_auth_user_hash']=u.get_session_auth_hash();s.create()\n"
        "busy=Dataset.objects.filter(lab__slug='volume-0').annotate(n=Count('events'))"
        ".order_by('-n').first()\n"
        "job=PublishJob.objects.filter(dataset__lab__slug='volume-0').first()\n"
        "print(s.session_key, busy.pk, job.pk)\n"
    )
    out = run([PY, "-c", script], env, capture_output=True, text=True).stdout.split()
    return out[0], int(out[1]), int(out[2])


def query_counts(env, pages, session_key, root=ROOT):
    script = (
        "import django,sys,json,time,statistics;django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "from django.db import connection\n"
        "c=Client(HTTP_X_FORWARDED_PROTO='https');c.cookies['sessionid']=sys.argv[1]\n"
        "out={}\n"
        "for name,path in json.loads(sys.argv[2]).items():\n"
        "    c.get(path, secure=True)\n"
        "    with CaptureQueriesContext(connection) as q: r=c.get(path, secure=True)\n"
        "    n=len(q.captured_queries)  # (the next request clears the log it reads)\n"
        "    cpu=[]\n"
        "    for _ in range(25):\n"
        "        t=time.process_time();c.get(path, secure=True);cpu.append(time.process_time()-t)\n"
        "    out[name]=(r.status_code,n,statistics.median(cpu)*1000)\n"
        "print(json.dumps(out))\n"
    )
    import json

    env = {**env, "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1"}
    env = {**env, "PYTHONPATH": str(root)}
    result = subprocess.run([PY, "-c", script, session_key, json.dumps(pages)], cwd=root, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode:
        sys.exit(f"query count in {root} failed:\n{result.stderr}")
    out = result.stdout
    return json.loads(out.strip().splitlines()[-1])


def hammer(port, path, cookie, clients, seconds):
    latencies, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        headers = {"Cookie": f"sessionid={cookie}", "X-Forwarded-Proto": "https"}
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)
            errors.append(bad)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, sum(errors)


def pct(values, p):
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def start_gunicorn(root, env, port, workers):
    env = {**env, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [PY, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--log-level", "warning"],
        cwd=root, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            return process
        except OSError:
            if time.monotonic() > deadline:
                process.terminate()
                sys.exit(f"gunicorn ({root}) did not start")
            time.sleep(0.2)


def measure(port, path, session, clients, seconds):
    """Single-client p50/p95 (ms) and the N-client rate (req/s)."""
    hammer(port, path, session, 1, 0.5)  # warm-up
    one, errors_one = hammer(port, path, session, 1, seconds)
    many, errors_many = hammer(port, path, session, clients, seconds)
    return {
        "p50": pct(one, 50),
        "p95": pct(one, 95),
        "rps": len(many) / seconds,
        "errors": errors_one + errors_many,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/wharf_bench")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--small", action="store_true", help="a tenth of the volume")
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    parser.add_argument("--baseline", type=Path, help="an older source tree to compare with")
    parser.add_argument("--target-ms", type=float, default=25, help="single-client p95 target")
    args = parser.parse_args()
    volume = ["--datasets", "1000", "--events", "10000", "--jobs", "200"] if args.small else []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        "WHARF_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    from cryptography.fernet import Fernet

    env["WHARF_CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    if args.no_seed:
        print("reusing the database; making a session ...", flush=True)
        session, busy, job = prepare(env, args.database, volume, seed=False)
    else:
        print("preparing the database (migrate, collectstatic, seed_volume) ...", flush=True)
        session, busy, job = prepare(env, args.database, volume)
    pages = {
        "dataset list, page 1": "/datasets/",
        "dataset list, page 40": "/datasets/?page=40",
        "busiest dataset": f"/datasets/{busy}/",
        "busiest dataset, history page 200": f"/datasets/{busy}/?events=200",
        "publish history, state=failed": "/history/?state=failed",
        "publish history, page 2": "/history/?page=2",
        "dashboard": "/dashboard/",
        "job page": f"/jobs/{job}/",
        "home": "/",
    }
    trees = {"now": ROOT}
    if args.baseline:
        trees = {"before": args.baseline.resolve(), **trees}
    if args.baseline:
        # Its own collected static files (production settings serve them from the tree).
        baseline_env = {**env, "PYTHONPATH": str(trees["before"])}
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"],
                       cwd=trees["before"], env=baseline_env, check=True)  # fmt: skip
    counts = {name: query_counts(env, pages, session, root) for name, root in trees.items()}
    servers = {}
    try:
        for i, (name, root) in enumerate(trees.items()):
            servers[name] = (args.port + i, start_gunicorn(root, env, args.port + i, args.workers))
        results = {name: {} for name in trees}
        # Wall-clock figures mean something only on a quiet machine: say how busy it was.
        load_before = os.getloadavg()
        for page, path in pages.items():
            for name, (port, _) in servers.items():
                results[name][page] = measure(port, path, session, args.clients, args.seconds)
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=30)
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in load_before)} before "
          f"the measurements, {' '.join(f'{x:.2f}' for x in load_after)} after")  # fmt: skip
    print(f"\ngunicorn {args.workers} workers, PostgreSQL, production settings; latency: 1 "
          f"client, {args.seconds:.0f} s per page; req/s: {args.clients} clients, "
          f"{args.seconds:.0f} s; targets: <= 6 queries, "
          f"p95 <= {args.target_ms:.0f} ms\n")  # fmt: skip
    header = f"{'page':36} {'tree':6} {'queries':>7} {'cpu ms':>6} {'p50 ms':>7} {'p95 ms':>7} "
    header += f"{'req/s':>7} {'errors':>6} {'p95/target':>10}"
    if args.baseline:
        header += f" {'cpu now/before':>14} {'p50 now/before':>14} {'req/s now/before':>16}"
    print(header)
    for page in pages:
        for name in trees:
            r = results[name][page]
            _, queries, cpu = counts[name][page]
            line = (f"{page:36} {name:6} {queries:7d} {cpu:6.1f} {r['p50']:7.1f} "
                    f"{r['p95']:7.1f} {r['rps']:7.0f} {r['errors']:6d} "
                    f"{r['p95'] / args.target_ms:10.2f}")  # fmt: skip
            if args.baseline and name == "now":
                b = results["before"][page]
                cpu_ratio = cpu / counts["before"][page][2]
                line += (f" {cpu_ratio:14.2f} {r['p50'] / b['p50']:14.2f} "
                         f"{r['rps'] / b['rps']:16.2f}")  # fmt: skip
            print(line, flush=True)


if __name__ == "__main__":
    main()
