"""Benchmark of the staging engine (issue 6). One command, one table:

    .venv/bin/python bench/staging.py                      # defaults: 200M,1G + RSS at 400M/4G
    .venv/bin/python bench/staging.py --sizes 200M --no-big --repeat 1   # quick look

Sections (bench/README.md says how each is measured and why):
  copy/warm     staging a file vs `cp` and `cp; sha256sum`, source in the page cache
  copy/durable  the same, each contender's output flushed to disk (cp; sync FILE)
  copy/cold     the same as durable, page cache dropped before each run (root only)
  package       a folder: the kaggle client's --dir-mode zip vs Wharf zip and tar
  rss           peak RSS of a child process staging one file / one folder
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import staging  # noqa: E402 - after the path fix-up, on purpose

MiB = 1 << 20
BLOCK = 8 * MiB
# Targets from issue 6.
TARGET_COPY = 0.9
TARGET_PACK_SPEED = 10.0
TARGET_PACK_SIZE = 1.2
TARGET_RSS_MB = 150
# A run starts once other processes use less than this many cores, or after QUIET_WAIT s.
QUIET_CORES = 0.15
QUIET_WAIT = 20.0
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


# --- Data ------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def fmt_size(n: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(n)


def csv_block(seed: int) -> bytes:
    """8 MiB of sensor-log CSV. Repeating it further on does not help deflate, whose window
    is 32 KiB, so a file made of copies compresses like one made of fresh rows."""
    rng = random.Random(seed)
    words = ["ok", "drift", "recal", "noise", "spike", "nominal", "warm", "cold"]
    lines = []
    size = i = 0
    while size < BLOCK:
        line = (
            f"{seed * 10_000_000 + i},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d},"
            f"S{rng.randint(1, 64):03d},{rng.gauss(20, 5):.4f},{rng.randint(0, 1)},"
            f"{rng.choice(words)}\n"
        )
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()[:BLOCK]


_CSV_BLOCKS: list[bytes] = []


def write_data(path: Path, size: int, kind: str, seed: int = 0) -> Path:
    marker = path.with_name(path.name + f".{kind}.{size}.ok")
    if path.exists() and marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "text" and not _CSV_BLOCKS:
        _CSV_BLOCKS.extend(csv_block(s) for s in range(4))
    with open(path, "wb") as fh:
        if kind == "text":
            fh.write(b"id,timestamp,sensor,value,flag,comment\n")
        done = fh.tell()
        n = seed
        while done < size:
            want = min(BLOCK, size - done)
            chunk = _CSV_BLOCKS[n % 4][:want] if kind == "text" else os.urandom(want)
            fh.write(chunk)
            done += len(chunk)
            n += 1
    marker.touch()
    return path


def make_folder(base: Path, size: int, mix: str) -> Path:
    """Folders for the packaging contest: 'text' (CSV), 'random' (incompressible .bin) and
    'mixed' (half CSV, a quarter .bin, a quarter as many .jpg, plus small CSVs)."""
    folder = base / f"{mix}-{fmt_size(size)}"
    if mix == "text":
        for i in range(4):
            write_data(folder / f"part-{i}.csv", size // 4, "text", seed=i)
    elif mix == "random":
        for i in range(4):
            write_data(folder / f"part-{i}.bin", size // 4, "random")
    else:
        for i in range(2):
            write_data(folder / "tables" / f"part-{i}.csv", size // 4 - 64 * 16_384, "text", i)
        for i in range(128):
            write_data(folder / "small" / f"log-{i:03d}.csv", 16_384, "text", seed=i)
        write_data(folder / "raw" / "scan.bin", size // 4, "random")
        for i in range(32):
            write_data(folder / "images" / f"img-{i:02d}.jpg", size // 128, "random")
    return folder


def data_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix != ".ok")


# --- Measuring -------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    data: str
    size: int
    contender: str
    seconds: float
    out_bytes: int | None = None
    runs: int = 1
    notes: list[str] = field(default_factory=list)
    background: float | None = None

    @property
    def speed(self) -> float:
        return self.size / MiB / self.seconds if self.seconds else float("inf")


def drop_caches() -> bool:
    try:
        os.sync()
        DROP_CACHES.write_text("1\n")
        return True
    except OSError:
        return False


def warm(path: Path) -> None:
    """Reads every file once so each contender starts from the same, cached source."""
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    buf = bytearray(4 * MiB)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def timed(fn: Callable[[], int | None]) -> tuple[float, int | None]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_busy() -> tuple[float, float]:
    """(busy jiffies of all CPUs, clock time) from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, time.monotonic()


def background_load(seconds: float = 0.5) -> float:
    """CPU cores kept busy by other processes while this one sleeps."""
    busy0, t0 = cpu_busy()
    time.sleep(seconds)
    busy1, t1 = cpu_busy()
    return (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)


def own_cpu() -> float:
    """CPU seconds used by this process and its waited-for children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def wait_quiet(max_wait: float) -> float:
    """Waits, up to max_wait seconds, for the machine to be nearly idle: a contender on a
    shared machine would otherwise be measured against whatever else runs. Returns the
    background load seen just before the run."""
    deadline = time.monotonic() + max_wait
    load = background_load()
    while load > QUIET_CORES and time.monotonic() < deadline:
        load = background_load()
    return load


@dataclass
class Result:
    seconds: float
    out: int | None
    runs: int
    background: float


def contest(
    contenders: dict[str, Callable[[], int | None]],
    prepare: Callable[[], None],
    repeat: int,
    label: str,
    slow_after: float = 20.0,
) -> dict[str, Result]:
    """Runs the contenders in turn, `repeat` rounds, `prepare()` before every run, and keeps
    the best time: other work on the machine only ever adds time, so the fastest run is
    the one closest to the contender's own cost. A contender slower than `slow_after`
    seconds runs once."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    outs: dict[str, int | None] = {}
    for round_ in range(repeat):
        for name, fn in contenders.items():
            if round_ and runs[name][0][0] > slow_after:
                continue
            # Quiet first, then prepare: the page cache here is reclaimed within a minute
            # or so (see README), so warming must come right before the run.
            wait_quiet(QUIET_WAIT)
            prepare()
            busy0, own0 = cpu_busy()[0], own_cpu()
            seconds, out = timed(fn)
            busy1, own1 = cpu_busy()[0], own_cpu()
            # Others' CPU while the contender ran: all CPU time minus this process's and
            # its children's (kernel writeback threads it caused count as others).
            others = max(0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK") - (own1 - own0))
            background = others / seconds
            runs[name].append((seconds, background))
            outs[name] = out
            print(
                f"  {label} {name}: {seconds:.2f}s (others {background:.2f} cores)",
                file=sys.stderr,
            )
    results = {}
    for name, times in runs.items():
        seconds, background = min(times)
        results[name] = Result(seconds, outs[name], len(times), background)
    return results


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# --- Sections --------------------------------------------------------------------------


def bench_copy(work: Path, sizes: list[int], repeat: int, modes: list[str]) -> list[Row]:
    rows = []
    out = work / "out-copy"
    for size in sizes:
        for kind in ("text", "random"):
            src = write_data(work / "data" / f"{kind}-{fmt_size(size)}.dat", size, kind)
            for mode in modes:
                durable = mode != "warm"

                def clean():
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)

                def prepare(src=src, mode=mode):
                    clean()
                    if mode == "cold":
                        drop_caches()
                    else:
                        os.sync()  # nobody pays for the previous contender's writeback
                        warm(src)

                def cp(src=src, durable=durable):
                    run(["cp", str(src), str(out / "copy")])
                    if durable:
                        run(["sync", str(out / "copy")])

                def cp_sha(src=src, durable=durable):
                    cp(src, durable)
                    run(["sha256sum", str(out / "copy")])

                def wharf(src=src, durable=durable):
                    item = staging.StageItem("copy", src, "file")
                    [entry] = staging.stage([item], out / "staged", packaging="zip", fsync=durable)
                    return entry.size

                contenders = {"cp": cp, "cp; sha256sum": cp_sha, "wharf stage": wharf}
                if mode == "warm":
                    contenders["sha256 only (hashlib)"] = lambda src=src: hash_only(src)
                section = f"copy/{mode}"
                label = f"{section} {kind} {fmt_size(size)}"
                results = contest(contenders, prepare, repeat, label)
                base = results["cp"].seconds
                base_sha = results["cp; sha256sum"].seconds
                for name, res in results.items():
                    row = Row(section, kind, size, name, res.seconds, runs=res.runs)
                    row.background = res.background
                    if name == "wharf stage":
                        row.notes.append(target(base / res.seconds, TARGET_COPY, "x cp"))
                        row.notes.append(f"{base_sha / res.seconds:.1f}x cp;sha256sum")
                    elif name.startswith("sha256 only"):
                        row.notes.append(f"{base / res.seconds:.2f}x cp (hashing ceiling)")
                    rows.append(row)
                clean()
    shutil.rmtree(out, ignore_errors=True)
    return rows


def hash_only(src: Path) -> int:
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(4 * MiB)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return 0


def kaggle_directory_archive():
    """The class the kaggle CLI uses for `--dir-mode zip`, or None when not installed."""
    import contextlib
    import io

    # Importing kaggle tries to authenticate and prints advice when there is no key.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            from kaggle.api.kaggle_api_extended import DirectoryArchive
        except ImportError:
            return None
    return DirectoryArchive


def bench_packaging(work: Path, sizes: list[int], repeat: int) -> list[Row]:
    directory_archive = kaggle_directory_archive()
    rows = []
    out = work / "out-pack"
    # The client archives into tempfile's folder: keep it on the disk the others use.
    tempfile.tempdir = str(work / "tmp")
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    for size in sizes:
        for mix in ("text", "random", "mixed"):
            folder = make_folder(work / "folders", size, mix)
            total = data_bytes(folder)

            def prepare(folder=folder):
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                os.sync()
                warm(folder)

            def client(folder=folder):
                with directory_archive(str(folder), "zip") as archive:
                    return os.path.getsize(archive.path)

            def wharf(packaging, folder=folder):
                item = staging.StageItem("archive", folder, "folder")
                [entry] = staging.stage([item], out, packaging=packaging)
                return entry.size

            contenders = {}
            if directory_archive is not None:
                contenders["kaggle client zip"] = client
            contenders["wharf zip"] = lambda f=folder: wharf("zip", f)
            contenders["wharf tar"] = lambda f=folder: wharf("tar", f)
            results = contest(contenders, prepare, repeat, f"package {mix} {fmt_size(size)}")
            base = results.get("kaggle client zip")
            for name, res in results.items():
                row = Row("package", mix, total, name, res.seconds, res.out, res.runs)
                row.background = res.background
                if base and name.startswith("wharf"):
                    speed = base.seconds / res.seconds
                    ratio = res.out / base.out
                    if name == "wharf zip":
                        row.notes.append(target(speed, TARGET_PACK_SPEED, "x client speed"))
                        row.notes.append(
                            target(ratio, TARGET_PACK_SIZE, "x client size", most=True)
                        )
                    else:
                        row.notes.append(f"{speed:.1f}x client speed, {ratio:.2f}x client size")
                rows.append(row)
            shutil.rmtree(out, ignore_errors=True)
    if directory_archive is None:
        print("note: the kaggle package is not installed; no client baseline", file=sys.stderr)
    return rows


def bench_rss(work: Path, sizes: list[int]) -> list[Row]:
    rows = []
    out = work / "out-rss"
    idle = child_peak_rss(["idle"])
    rows.append(Row("rss", "-", 0, "child, staging imported", 0.0, notes=[f"{idle:.0f} MB"]))
    peaks = {}
    for size in sizes:
        src = write_data(work / "data" / f"text-{fmt_size(size)}.dat", size, "text")
        folder = work / "folders" / f"rss-{fmt_size(size)}"
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "table.csv"
        if not link.exists():
            os.link(src, link)  # the same bytes as a one-file folder, no extra disk
        for what, target_path in (("file", src), ("zip", folder)):
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            peak = child_peak_rss([what, str(target_path), str(out)])
            seconds = time.perf_counter() - start
            peaks.setdefault(what, []).append(peak)
            note = target(peak, TARGET_RSS_MB, "MB peak RSS", most=True, fmt="{:.0f}")
            rows.append(
                Row("rss", f"text {what}", size, f"wharf stage ({what})", seconds, notes=[note])
            )
        shutil.rmtree(out, ignore_errors=True)
    for what, values in peaks.items():
        if len(values) > 1:
            spread = max(values) - min(values)
            verdict = "ok" if spread <= 5 else "MISS"
            rows[-1].notes.append(f"{what}: {spread:.1f} MB between sizes [{verdict}]")
    return rows


def child_peak_rss(args: list[str]) -> float:
    """Peak RSS in MB of a process staging one item. A launcher child forks the measured
    grandchild and reads its rusage with wait4: a process spawned straight from this big
    bench process would inherit its high-water mark across fork and exec."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def child_main(args: list[str]) -> None:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child_stage(args)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    _pid, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"staging child {args} failed")
    print(usage.ru_maxrss / 1024)  # kilobytes on Linux


def child_stage(args: list[str]) -> None:
    what = args[0]
    if what == "idle":
        return
    src, out = Path(args[1]), Path(args[2])
    kind = "file" if what == "file" else "folder"
    staging.stage([staging.StageItem("staged", src, kind)], out, packaging="zip")


# --- Report ----------------------------------------------------------------------------


def target(value: float, goal: float, label: str, most: bool = False, fmt: str = "{:.2f}") -> str:
    ok = value <= goal if most else value >= goal
    sign = "<=" if most else ">="
    return f"{fmt.format(value)}{label} [{'ok' if ok else 'MISS'} {sign}{goal:g}]"


def print_table(rows: list[Row]) -> None:
    header = (
        "section",
        "data",
        "size",
        "contender",
        "runs",
        "seconds",
        "MiB/s",
        "out",
        "bg",
        "notes",
    )
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.section,
                r.data,
                fmt_size(r.size) if r.size else "-",
                r.contender,
                str(r.runs),
                f"{r.seconds:.2f}" if r.seconds else "-",
                f"{r.speed:.0f}" if r.seconds and r.size else "-",
                fmt_size(r.out_bytes) if r.out_bytes else "-",
                f"{r.background:.2f}" if r.background is not None else "-",
                "; ".join(r.notes),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        cells = [cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)]
        print(" | ".join([*cells, line[-1]]).rstrip())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200M,1G", help="data sizes for copy and package")
    parser.add_argument(
        "--dir", default=Path(tempfile.gettempdir()) / "wharf-bench", type=Path, help="work folder"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is shown")
    parser.add_argument("--small", default="400M", help="smaller file of the RSS pair")
    parser.add_argument("--big", default="4G", help="larger file of the RSS pair")
    parser.add_argument("--no-big", action="store_true", help="skip the big RSS file")
    parser.add_argument("--no-cold", action="store_true", help="skip copy/cold")
    parser.add_argument(
        "--only", default="copy,package,rss", help="sections to run, comma-separated"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep generated data")
    opts = parser.parse_args()

    sizes = [parse_size(s) for s in opts.sizes.split(",") if s]
    only = set(opts.only.split(","))
    work = opts.dir
    work.mkdir(parents=True, exist_ok=True)
    modes = ["warm", "durable"]
    if not opts.no_cold:
        if os.geteuid() == 0 and drop_caches():
            modes.append("cold")
        else:
            print("note: copy/cold needs root (drop_caches); skipped", file=sys.stderr)
    rss_sizes = [parse_size(opts.small)]
    if not opts.no_big:
        big = parse_size(opts.big)
        free = shutil.disk_usage(work).free
        # the big file and its staged copy and zip, beside the other sections' data
        if free < 2.5 * big + 6 * sum(sizes) + (1 << 30):
            print(
                f"note: {fmt_size(free)} free in {work}; skipping the {opts.big} file",
                file=sys.stderr,
            )
        else:
            rss_sizes.append(big)

    print(
        f"# wharf staging bench: deflate={staging.DEFLATE_BACKEND} level {staging.DEFLATE_LEVEL}, "
        f"chunk {fmt_size(staging.CHUNK_SIZE)} x {staging.BUFFERS}, cpus {os.cpu_count()}, "
        f"python {sys.version.split()[0]}, dir {work}, load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}\n"
        f"# bg = cores used by other processes during the run shown (the best of its runs)",
        flush=True,
    )
    # A killed bench still removes its gigabytes of generated data.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[Row] = []
    try:
        if "copy" in only:
            rows += bench_copy(work, sizes, opts.repeat, modes)
        if "package" in only:
            rows += bench_packaging(work, sizes, opts.repeat)
        if "rss" in only:
            rows += bench_rss(work, rss_sizes)
    finally:
        if not opts.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# bench process peak RSS {peak:.0f} MB (its own buffers, not staging's)")


if __name__ == "__main__":
    main()
