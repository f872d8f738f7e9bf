"""Benchmark of the content scan (issue 9). One command, one table:

    .venv/bin/python bench/scan.py                    # 256 MiB per data set, best of 3
    .venv/bin/python bench/scan.py --size 64M --repeat 1      # a quick look

For each generated data set it times, on the same file (in the page cache):
  baseline   a plain read loop, 1 MiB at a time, doing nothing with the bytes (`cat`-like)
  scan       datasets.scanning.Scan over the file, the way the task runs it
and prints MB/s (wall clock and CPU time, best run), the ratio to the baseline, and the
peak RSS of a child process that scans the file (and of one that only reads it).

Data sets:
  sensors.csv   the target (≥ 100 MB/s): a sensor log like bench/staging.py's, with a
                free-text column, lat/lon columns (2 decimals), an e-mail every ~1000 rows
  contacts.csv  the worst case: every row holds a name, an e-mail and a phone number
  notes.txt     prose with a number, a date or a word of context on most lines
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets.scanning import Scan  # noqa: E402 - after the path fix-up, on purpose

MiB = 1 << 20
TARGET_MBPS = 100.0
WORDS = ("ok", "drift", "recal", "noise", "spike", "nominal", "warm", "cold", "checked",
         "cleaned", "sensor", "swapped")  # fmt: skip


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


# --- Data ----------------------------------------------------------------------------------


def sensors_block(rng: random.Random, start: int) -> str:
    rows = []
    for i in range(start, start + 20_000):
        note = rng.choice(WORDS)
        if i % 997 == 0:
            note = f"contact tech{i}@example.org"
        rows.append(
            f"{i},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d},S{rng.randint(1, 64):03d},"
            f"{rng.gauss(20, 5):.4f},{rng.randint(0, 1)},{note},{rng.uniform(50, 53):.2f},"
            f"{rng.uniform(3, 6):.2f},{rng.random() * 1000:.6f}\n"
        )
    return "".join(rows)


def contacts_block(rng: random.Random, start: int) -> str:
    return "".join(
        f"{i},Person {i},person.{i}@example.org,+1 555 {rng.randint(200, 999)} "
        f"{rng.randint(1000, 9999)},{rng.choice(WORDS)}\n"
        for i in range(start, start + 20_000)
    )


def notes_block(rng: random.Random, start: int) -> str:
    lines = []
    for i in range(start, start + 20_000):
        lines.append(
            f"Day {i % 365}: the {rng.choice(WORDS)} team visited site {rng.randint(1, 99)} on "
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} and logged "
            f"{rng.random() * 100:.3f} units; "
            f"see report v{rng.randint(1, 9)}.{rng.randint(0, 9)}.\n"
        )
    return "".join(lines)


DATASETS = {
    "sensors.csv": ("id,timestamp,site,temp,flag,note,lat,lon,reading\n", sensors_block),
    "contacts.csv": ("id,name,email,phone,note\n", contacts_block),
    "notes.txt": ("Field notes\n", notes_block),
}


def generate(path: Path, size: int) -> None:
    header, block = DATASETS[path.name]
    rng = random.Random(9)
    with path.open("w") as fh:
        fh.write(header)
        written, row = len(header), 0
        while written < size:
            text = block(rng, row)
            row += 20_000
            text = text[: size - written]
            fh.write(text)
            written += len(text)


# --- Measurements --------------------------------------------------------------------------


def read_loop(path: Path) -> int:
    buf = bytearray(MiB)
    total = 0
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            total += n
    return total


def scan_file(path: Path) -> int:
    scan = Scan(budget=1 << 62)
    with path.open("rb") as fh:
        scan.file(path.name, fh, path.stat().st_size)
    return scan.run([]).bytes_scanned


def best(fn, path: Path, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def child_rss_mb(mode: str, path: Path) -> float:
    """Peak RSS of a fresh process that reads or scans `path` (imports included)."""
    code = (
        "import sys, resource; sys.path.insert(0, sys.argv[1]); "
        "from bench.scan import read_loop, scan_file; from pathlib import Path; "
        f"{'scan_file' if mode == 'scan' else 'read_loop'}(Path(sys.argv[2])); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="256M", help="bytes per data set (default 256M)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where to write the data (default: a temporary folder)")
    args = parser.parse_args()
    size = parse_size(args.size)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="wharf-scan-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"content scan benchmark: {size / MiB:.0f} MiB per data set, best of {args.repeat}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    head = f"{'data set':14} {'baseline MB/s':>14} {'scan MB/s':>10} {'scan CPU MB/s':>14}"
    head += f" {'scan/baseline':>14} {'RSS read':>9} {'RSS scan':>9}  target"
    print(head)
    ok = True
    for name in DATASETS:
        path = workdir / name
        if not path.exists() or path.stat().st_size != size:
            generate(path, size)
        read_loop(path)  # into the page cache
        mb = path.stat().st_size / 1e6
        base_wall, _ = best(read_loop, path, args.repeat)
        scan_wall, scan_cpu = best(scan_file, path, args.repeat)
        rss_read, rss_scan = child_rss_mb("read", path), child_rss_mb("scan", path)
        base, scan, scan_c = mb / base_wall, mb / scan_wall, mb / scan_cpu
        verdict = ""
        if name == "sensors.csv":
            passed = scan >= TARGET_MBPS
            ok &= passed
            verdict = f"{'PASS' if passed else 'FAIL'} (≥ {TARGET_MBPS:.0f} MB/s)"
        print(
            f"{name:14} {base:14.0f} {scan:10.0f} {scan_c:14.0f} {scan / base:14.3f} "
            f"{rss_read:7.0f}MB {rss_scan:7.0f}MB  {verdict}"
        )
    if not args.dir:
        for name in DATASETS:
            (workdir / name).unlink(missing_ok=True)
        workdir.rmdir()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
