"""Benchmark of submission checking (issue 15): the one read of each file that both
hashes it (sha256, frozen in the submission) and scans it for personal data (issue 9),
against a plain `sha256sum` of the same file. One command, one table:

    .venv/bin/python bench/submission.py                   # 200 MB per data set, best of 3
    .venv/bin/python bench/submission.py --size 64M --repeat 1     # a quick look

For each generated file (in the page cache: each is read once before it is timed):
  sha256sum   coreutils `sha256sum FILE`, wall clock of the process
  hashlib     hashlib.sha256 over 1 MiB reads in this process: the hashing alone
  wharf       datasets.scanning.Scan.run over the file as a submission's upload, the way
              the scan task runs it: hash + scan in one read, with the default budgets
              (256 MiB scanned per file, 120 s per file)
and prints MB/s (10^6 bytes per second, best run) and wharf ÷ sha256sum.

Data sets:
  sensors.csv   CSV text: the sensor log of bench/scan.py (a free-text column, lat/lon,
                an e-mail every ~1000 rows): hashed and scanned
  random.bin    os.urandom bytes: hashed only (a binary format by its name)
  random.csv    the same kind of bytes named as CSV: the scan sniffs the first block,
                lists it as "not text", and the read goes on for the hash
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scan import generate, parse_size  # noqa: E402 - after the path fix-up
from datasets.scanning import Scan  # noqa: E402

MiB = 1 << 20


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(8 * MiB, left))
            fh.write(chunk)
            left -= len(chunk)


def make(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    if path.name == "sensors.csv":
        generate(path, size)
    else:
        write_random(path, size)


def warm(path: Path) -> None:
    with path.open("rb", buffering=0) as fh:
        while fh.read(MiB):
            pass


def run_sha256sum(path: Path) -> str:
    out = subprocess.run(
        [shutil.which("sha256sum") or "sha256sum", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.split()[0]


def run_hashlib(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def run_wharf(path: Path) -> str:
    entry = {"path": path.name, "origin": "upload", "upload": str(path), "kind": "file",
             "size": path.stat().st_size}  # fmt: skip
    scan = Scan(budget=256 * MiB, open_upload=lambda name: open(name, "rb"))  # noqa: SIM115
    result = scan.run([entry])
    return result.hashes[path.name]["sha256"]


def best(fn, path: Path, repeat: int) -> tuple[float, str]:
    times, digest = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        digest = fn(path)
        times.append(time.perf_counter() - started)
    return min(times), digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="200M", help="bytes per data set (default 200M)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where to write the data (default: a temporary folder)")
    args = parser.parse_args()
    size = parse_size(args.size)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="wharf-submission-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = ("sensors.csv", "random.bin", "random.csv")
    print(
        f"submission checking (hash + scan, one read) vs sha256sum: {size / 1e6:.0f} MB per "
        f"data set, best of {args.repeat}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'data set':12} {'sha256sum MB/s':>15} {'hashlib MB/s':>13} {'wharf MB/s':>11} "
          f"{'wharf/sha256sum':>16}")  # fmt: skip
    ok = True
    try:
        for name in names:
            path = workdir / name
            make(path, size)
            warm(path)
            mb = path.stat().st_size / 1e6
            t_sum, d_sum = best(run_sha256sum, path, args.repeat)
            t_lib, d_lib = best(run_hashlib, path, args.repeat)
            t_wharf, d_wharf = best(run_wharf, path, args.repeat)
            same = d_sum == d_lib == d_wharf
            ok &= same
            print(
                f"{name:12} {mb / t_sum:15.0f} {mb / t_lib:13.0f} {mb / t_wharf:11.0f} "
                f"{t_sum / t_wharf:16.2f}{'' if same else '  DIGESTS DIFFER'}"
            )
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
