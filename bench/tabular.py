"""Tabular files (issue 19): column inference and Frictionless validation against a
plain read of the same CSV, and the peak memory of each on a small and a large file.

    .venv/bin/python bench/tabular.py                       # 32 MiB throughput, 32M/1G RSS
    .venv/bin/python bench/tabular.py --mib 50 --big-mib 200 --repeat 1   # a quick look

Contenders, each on the same warm file (read once before):
- `read`: the bytes in 1 MiB chunks (the floor: what any reader pays);
- `csv`: Python's csv.reader over every row (a plain parse, no types);
- `infer`: `datasets.tabular.infer_columns` (Frictionless on a bounded sample: its time
  does not grow with the file);
- `validate`: `datasets.tabular.validate_table` of the whole file (budget = its size):
  every row parsed and every cell checked against the inferred types;
- `validate (budget)` (memory table): what a review runs, validation up to the per-file
  budget (datasets.tabular.VALIDATE_BUDGET).
Peak RSS is measured in a forked child per contender and size (`ru_maxrss` from
os.wait4), so each figure is that contender's own.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024


def make_csv(path: Path, mib: int) -> None:
    header = b"time,station,temp,pressure,ok,note\n"
    rows = b"".join(
        b"2026-11-25T12:%02d:%02d,station-%03d,%d.%d,%d.25,%s,reading %d\n"
        % (i // 60 % 60, i % 60, i % 500, i % 40 - 5, i % 10, 990 + i % 40,
           b"true" if i % 3 else b"false", i)
        for i in range(20000)
    )  # fmt: skip
    with open(path, "wb") as handle:
        handle.write(header)
        for _ in range(max(1, mib * MIB // len(rows))):
            handle.write(rows)


def run_read(path: Path) -> int:
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            total += len(chunk)
    return total


def run_csv(path: Path) -> int:
    count = 0
    with open(path, newline="", encoding="utf-8") as handle:
        for _row in csv.reader(handle):
            count += 1
    return count


def run_infer(path: Path):
    from datasets import tabular

    return tabular.infer_columns(path, "csv")


def run_validate(path: Path, budget: int | None = None):
    from datasets import tabular

    columns = tabular.infer_columns(path, "csv")
    report = tabular.validate_table(path, "csv", columns, budget=budget or path.stat().st_size)
    assert report["valid"], report["errors"][:3]
    return report


def run_validate_budget(path: Path):
    """What a review runs: validation up to the per-file budget."""
    from datasets.tabular import VALIDATE_BUDGET

    return run_validate(path, VALIDATE_BUDGET)


CONTENDERS = {"read": run_read, "csv": run_csv, "infer": run_infer, "validate": run_validate}
RSS_CONTENDERS = {**CONTENDERS, "validate (budget)": run_validate_budget}


def timed(name: str, path: Path) -> float:
    start = time.perf_counter()
    RSS_CONTENDERS[name](path)
    return time.perf_counter() - start


def peak_rss(name: str, path: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one contender in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report the time, leave without the parent's cleanup
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, repr(timed(name, path)).encode())
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    _pid, status, usage = os.wait4(pid, 0)
    seconds = float(os.read(read_end, 64) or b"nan")
    os.close(read_end)
    if status != 0:
        raise SystemExit(f"{name} failed in its child process")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def warm(path: Path) -> None:
    run_read(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=32, help="throughput file size")
    parser.add_argument("--big-mib", type=int, default=1024, help="the large RSS file")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best is shown")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--no-big", action="store_true", help="skip the large RSS file")
    parser.add_argument(
        "--only", default="", help="comma-separated contenders, e.g. 'read,validate (budget)'"
    )
    parser.add_argument("--no-throughput", action="store_true", help="the memory table only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

    only = [n.strip() for n in args.only.split(",") if n.strip()] or list(RSS_CONTENDERS)
    workdir = Path(tempfile.mkdtemp(prefix="tabular-bench-", dir=args.dir))
    try:
        small = workdir / "small.csv"
        print(f"generating {args.mib} MiB …", file=sys.stderr)
        make_csv(small, args.mib)
        size = small.stat().st_size / MIB
        warm(small)
        names = [] if args.no_throughput else [n for n in CONTENDERS if n in only]
        best = {name: min(timed(name, small) for _ in range(args.repeat)) for name in names}
        if best:
            print(f"\n## Throughput on a {size:.0f} MiB CSV (warm cache, best of {args.repeat})\n")
            print("| contender | seconds | MiB/s | vs plain read | vs csv.reader |")
            print("| --- | ---: | ---: | ---: | ---: |")
        for name, seconds in best.items():
            ratios = [
                f"{best[base] / seconds:.3f}" if base in best else "-" for base in ("read", "csv")
            ]
            cells = [f"{seconds:.3f}", f"{size / seconds:,.1f}", *ratios]
            print(f"| {name} | " + " | ".join(cells) + " |")

        files = [small]
        if not args.no_big:
            big = workdir / "big.csv"
            print(f"generating {args.big_mib} MiB …", file=sys.stderr)
            make_csv(big, args.big_mib)
            warm(big)
            files.append(big)
        print("\n## Peak RSS (each contender in its own forked child)\n")
        print("| contender | " + " | ".join(f"{f.stat().st_size / MIB:.0f} MiB" for f in files)
              + " |")  # fmt: skip
        print("| --- |" + " ---: |" * len(files))
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for name in (n for n in RSS_CONTENDERS if n in only):
            cells = []
            for path in files:
                if name == "validate" and path is not small:
                    cells.append("(see the budgeted run)")
                    continue
                print(f"{name} on {path.name} …", file=sys.stderr)
                seconds, rss = peak_rss(name, path)
                cells.append(f"{rss:.0f} MiB ({seconds:.1f} s)")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\n(parent RSS before forking: {base:.0f} MiB; a child starts from it)")
    finally:
        for path in workdir.glob("*"):
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
