"""Web benchmark (issue 7): gunicorn on PostgreSQL with seed_volume's history, N
concurrent keep-alive clients per page, latency percentiles and requests per second.

    .venv/bin/python bench/web.py                     # 8 clients, 10 s per page
    .venv/bin/python bench/web.py --seconds 5 --clients 8 --database postgres://postgres@127.0.0.1:5432/wharf_bench

It drops and recreates the benchmark database (never `test` or your real one: the name
must contain "bench"), migrates, seeds 10,000 datasets / 100,000 events / 2,000 jobs, runs
gunicorn with the production settings, and logs a lab engineer in through a session
cookie. Also prints the SQL queries each page issues (Django test client, same data).
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


def prepare(env, database_url, volume):
    url = urlparse(database_url)
    name = url.path.lstrip("/")
    if "bench" not in name:
        sys.exit("The benchmark database name must contain 'bench' (it is dropped).")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    run([PY, "manage.py", "migrate", "-v0"], env)
    run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    run([PY, "manage.py", "seed_volume", "--quiet", *volume], env)
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


def query_counts(env, pages, session_key):
    script = (
        "import django,sys,json;django.setup()\n"
        "from django.test import Client\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "from django.db import connection\n"
        "c=Client(HTTP_X_FORWARDED_PROTO='https');c.cookies['sessionid']=sys.argv[1]\n"
        "out={}\n"
        "for name,path in json.loads(sys.argv[2]).items():\n"
        "    c.get(path, secure=True)\n"
        "    with CaptureQueriesContext(connection) as q: r=c.get(path, secure=True)\n"
        "    out[name]=(r.status_code,len(q.captured_queries))\n"
        "print(json.dumps(out))\n"
    )
    import json

    env = {**env, "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1"}
    out = run([PY, "-c", script, session_key, json.dumps(pages)], env, capture_output=True,
              text=True).stdout  # fmt: skip
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/wharf_bench")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--small", action="store_true", help="a tenth of the volume")
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
    print("preparing the database (migrate, collectstatic, seed_volume) ...", flush=True)
    session, busy, job = prepare(env, args.database, volume)
    pages = {
        "dataset list, page 1": "/datasets/",
        "dataset list, page 40": "/datasets/?page=40",
        "busiest dataset": f"/datasets/{busy}/",
        "busiest dataset, history page 200": f"/datasets/{busy}/?events=200",
        "publish history, state=failed": "/history/?state=failed",
        "dashboard": "/dashboard/",
        "job page": f"/jobs/{job}/",
    }
    counts = query_counts(env, pages, session)
    gunicorn = subprocess.Popen(
        [PY, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
         "--workers", str(args.workers), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("gunicorn did not start")
                time.sleep(0.2)
        rows = []
        for name, path in pages.items():
            hammer(args.port, path, session, args.clients, 1)  # warm-up
            latencies, errors = hammer(args.port, path, session, args.clients, args.seconds)
            rps = len(latencies) / args.seconds
            p50, p95, p99 = (pct(latencies, p) for p in (50, 95, 99))
            rows.append((name, counts[name][1], rps, p50, p95, p99, errors))
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    print(f"\ngunicorn {args.workers} workers, PostgreSQL, {args.clients} clients, "
          f"{args.seconds:.0f} s per page; targets: <= 6 queries, p95 <= 50 ms\n")  # fmt: skip
    print(f"{'page':38} {'queries':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6}")  # fmt: skip
    for name, q, rps, p50, p95, p99, errors in rows:
        print(f"{name:38} {q:7d} {rps:7.0f} {p50:7.1f} {p95:7.1f} {p99:7.1f} {errors:6d}")


if __name__ == "__main__":
    main()
