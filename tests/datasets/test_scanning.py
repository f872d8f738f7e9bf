"""The content scan's engine: measured against the labelled corpus, and the promises
around it (masked examples, a byte budget, binaries listed, flat memory, safe lab
patterns). No database: the scanner is plain Python."""

import errno
import gzip
import hashlib
import io
import json
import tarfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from datasets.scanning import KINDS, Scan, UnsafePattern, compile_lab_pattern, gaps

CORPUS = Path(__file__).resolve().parent.parent / "data" / "scan_corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
MIN_RECALL, MIN_PRECISION = 0.95, 0.90


def scan_paths(names, *, budget=1 << 30, patterns=()):
    scan = Scan(budget=budget, patterns=patterns)
    for name in names:
        path = CORPUS / name
        with path.open("rb") as fileobj:
            scan.file(name, fileobj, path.stat().st_size)
    return scan.run([])


def _key(file, location, kind):
    # Text files are labelled per file: "lines 3, 17 and 2 more" is one place.
    return file, "lines" if location.startswith("line") else location, kind


@pytest.fixture(scope="module")
def corpus_result():
    patterns = [(p["name"], compile_lab_pattern(p["pattern"])) for p in MANIFEST["lab_patterns"]]
    return scan_paths(MANIFEST["files"], patterns=patterns)


def corpus_scores(result) -> dict[str, dict]:
    """Per kind, counted value by value: true positives are the expected values found,
    false positives whatever is found beyond the expected count of a place."""
    found, expected = {}, {}
    for f in result.findings:
        key = _key(f["file"], f["location"], f["kind"])
        found[key] = found.get(key, 0) + f["count"]
    for e in MANIFEST["expected"]:
        expected[_key(e["file"], e["location"], e["kind"])] = e["count"]
    scores = {kind: {"tp": 0, "fp": 0, "fn": 0} for kind in KINDS}
    for key in found.keys() | expected.keys():
        got, want = found.get(key, 0), expected.get(key, 0)
        score = scores[key[2]]
        score["tp"] += min(got, want)
        score["fp"] += max(0, got - want)
        score["fn"] += max(0, want - got)
    for score in scores.values():
        tp, fp, fn = score["tp"], score["fp"], score["fn"]
        score["recall"] = tp / (tp + fn) if tp + fn else 1.0
        score["precision"] = tp / (tp + fp) if tp + fp else 1.0
    return scores


def score_table(scores) -> str:
    lines = [f"{'kind':18} {'TP':>5} {'FP':>4} {'FN':>4} {'recall':>7} {'precision':>9}"]
    for kind, s in scores.items():
        counts = f"{s['tp']:5} {s['fp']:4} {s['fn']:4}"
        lines.append(f"{kind:18} {counts} {s['recall']:7.1%} {s['precision']:9.1%}")
    return "\n".join(lines)


def test_every_kind_reaches_the_recall_and_precision_targets_on_the_corpus(corpus_result):
    scores = corpus_scores(corpus_result)
    print("\n" + score_table(scores))
    for kind, s in scores.items():
        assert s["tp"] + s["fn"] >= 10, f"the corpus has too few {kind} values to measure"
        assert s["recall"] >= MIN_RECALL, f"{kind}: recall {s['recall']:.1%}\n{score_table(scores)}"
        assert s["precision"] >= MIN_PRECISION, (
            f"{kind}: precision {s['precision']:.1%}\n{score_table(scores)}"
        )


def test_tricky_negatives_produce_no_finding(corpus_result):
    negatives = {"negatives.csv", "sites.csv", "measurements.csv"}
    assert [f for f in corpus_result.findings if f["file"] in negatives] == []


def test_examples_are_masked_and_never_the_value(corpus_result):
    raw = b"".join((CORPUS / name).read_bytes() for name in MANIFEST["files"])
    for finding in corpus_result.findings:
        assert len(finding["examples"]) <= 3
        for example in finding["examples"]:
            assert "•" in example, finding
            if len(example) >= 6:  # long enough to be a value of its own
                assert example.encode() not in raw, finding


def test_binary_files_and_members_are_listed_as_not_scanned(corpus_result):
    skipped = {s["file"]: s for s in corpus_result.not_scanned}
    for name in MANIFEST["not_scanned"]:
        assert skipped[name]["code"] == "binary"
        assert "not scanned" in skipped[name]["reason"]


def test_a_file_over_the_budget_is_scanned_in_part_and_says_how_much(tmp_path):
    path = tmp_path / "big.csv"
    row = b"id,email\n" + b"".join(b"%d,person%d@example.org\n" % (i, i) for i in range(60_000))
    path.write_bytes(row)
    scan = Scan(budget=256 * 1024)
    with path.open("rb") as fileobj:
        scan.file("big.csv", fileobj, path.stat().st_size)
    result = scan.run([])
    (partial,) = result.not_scanned
    assert partial["code"] == "partial"
    assert partial["reason"] == (
        f"scanned the first 256 KB of {path.stat().st_size / 2**20:.1f} MB "
        "(the per-file byte budget)"
    )
    assert result.bytes_scanned == 256 * 1024
    email = next(f for f in result.findings if f["kind"] == "email")
    assert 5_000 < email["count"] < 12_000  # what the first 256 KB hold, no more


class _Generated(io.RawIOBase):
    """A CSV of `size` bytes made up as it is read: nothing is held but the block."""

    def __init__(self, size: int):
        self.left = size
        self.line = b"2024-07-01T08:00:00,S001,21.4375,0,nominal,52.37,4.89\n"

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return (self.line * (n // len(self.line) + 1))[:n]


def test_memory_stays_flat_whatever_the_file_size():
    scan = Scan(budget=1 << 40)
    tracemalloc.start()
    try:
        scan.file("sensors.csv", _Generated(48 << 20), 48 << 20)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scan.run([]).bytes_scanned == 48 << 20
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB for a 48 MiB file"


def test_archives_are_scanned_member_by_member(tmp_path):
    zpath = tmp_path / "data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("a/people.csv", "name,email\nJane Doe,jane.doe@example.org\n")
        zf.writestr("inner.zip", b"PK\x03\x04")
    tpath = tmp_path / "data.tar"
    with tarfile.open(tpath, "w") as tf:
        data = b"call +44 20 7946 0958\n"
        info = tarfile.TarInfo("notes/call.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    scan = Scan(budget=1 << 20)
    for path in (zpath, tpath):
        with path.open("rb") as fileobj:
            scan.file(path.name, fileobj, path.stat().st_size)
    result = scan.run([])
    places = {(f["file"], f["kind"]) for f in result.findings}
    assert ("data.zip!/a/people.csv", "email") in places
    assert ("data.tar!/notes/call.txt", "phone") in places
    assert {s["file"]: s["code"] for s in result.not_scanned} == {
        "data.zip!/inner.zip": "nested_archive"
    }


def test_a_damaged_archive_is_listed_not_fatal(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    scan = Scan(budget=1 << 20)
    with path.open("rb") as fileobj:
        scan.file("broken.zip", fileobj, path.stat().st_size)
    assert scan.run([]).not_scanned[0]["code"] == "unreadable"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a+)+b", "bounded repeat"),
        ("(\\d{1,5}){1,5}", "may not contain another repeat"),
        ("(a|ab){1,5}", "may not contain alternatives"),
        ("P-\\d+", "bounded repeat"),
        ("(P)-\\1", "Back-references"),
        ("\\d{1,4}", "ordinary values"),
        ("x*", "bounded repeat"),
        ("P-[0-9", "not a valid regular expression"),
        ("a{1,5000}", "100 or fewer"),
        ("é{3}", "ASCII"),
    ],
)
def test_lab_patterns_that_could_make_a_scan_crawl_are_refused(pattern, why):
    with pytest.raises(UnsafePattern, match=why):
        compile_lab_pattern(pattern)


def test_a_safe_lab_pattern_finds_its_values():
    rx = compile_lab_pattern(r"\bP-\d{4}-\d{4}\b")
    scan = Scan(budget=1 << 20, patterns=[("Participant ID", rx)])
    scan.file("ids.txt", io.BytesIO(b"P-2023-0042 and P-12-3\n"), 22)
    (finding,) = scan.run([]).findings
    assert (finding["kind"], finding["label"]) == ("lab_pattern", "Participant ID")
    assert finding["count"] == 1
    assert finding["examples"] == ["P-••••-••••"]


# --- Any content: never a failed scan (issue 18) -----------------------------------------


def scan_uploads(tmp_path, files: dict[str, bytes], **options):
    """Runs the scan the way the task does over uploads kept at `tmp_path`."""
    entries = []
    for name, data in files.items():
        (tmp_path / name.replace("/", "_")).write_bytes(data)
        entries.append(
            {"path": name, "origin": "upload", "upload": name.replace("/", "_"),
             "size": len(data), "kind": "file"}
        )  # fmt: skip
    scan = Scan(
        budget=options.pop("budget", 1 << 30),
        open_upload=lambda upload: (tmp_path / upload).open("rb"),
        **options,
    )
    return scan.run(entries)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    # mtime=0: the same bytes in every process (pytest-xdist compares parametrized ids).
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tf,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


EMAIL = b"jane.doe@example.org"
WIDE = b"x" * (200 << 10)  # over the csv module's 128 KiB field limit
PEOPLE_ZIP = _zip({"people.csv": b"name,email\nJane," + EMAIL + b"\n", "notes.txt": b"ok\n"})


@pytest.mark.parametrize(
    ("name", "data", "found"),
    [
        ("wide-first-field.csv", b"a," + WIDE + b",c\n1,2," + EMAIL + b"\n", True),
        ("wide-quoted-header.csv", b'"' + WIDE + b'",email\n1,' + EMAIL + b"\n", True),
        ("wide-field-later.csv", b'name,email\n"' + WIDE + b'",' + EMAIL + b"\n", True),
        ("open-quote.csv", b'name,email\n"Jane,' + EMAIL + b"\n" + b"x\n" * 1000, True),
        ("cr-line-ends.csv", b"name,email\r" + (b"Jane," + EMAIL + b"\r") * 50, True),
        ("latin1.csv", "name,city,email\nJosé,Zürich,".encode("latin-1") + EMAIL + b"\n", True),
        ("bad-utf8.txt", b"\xc3\x28 \xe2\x82 \xf0\x90\x28 mail " + EMAIL + b"\n", True),
        ("cut-utf16.tsv", "name\temail\nJane\tjane.doe@example.org\n".encode("utf-16")[:-3], True),
        (
            "one-line.json",
            b'{"rows":[' + b'{"v":1},' * 200_000 + b'{"email":"' + EMAIL + b'"}]}',
            True,
        ),
        ("quotes-only.csv", b'"' * (3 << 20), False),
        ("empty.csv", b"", False),
    ],
)
def test_text_the_csv_module_or_a_codec_would_choke_on_is_scanned(tmp_path, name, data, found):
    result = scan_uploads(tmp_path, {name: data})
    assert gaps(result.not_scanned) == []
    assert result.files_scanned == 1
    assert any(f["kind"] == "email" for f in result.findings) is found, result.findings
    assert result.hashes[name]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_single_50_mb_line_is_scanned_in_pieces_within_seconds(tmp_path):
    data = b"a," * (25 << 20) + b"\n" + b"n," + EMAIL + b"\n"
    started = time.monotonic()
    result = scan_uploads(tmp_path, {"one-line.csv": data})
    assert time.monotonic() - started < 60
    assert result.bytes_scanned == len(data) and gaps(result.not_scanned) == []
    assert [f["kind"] for f in result.findings] == ["email"]


@pytest.mark.parametrize(
    ("name", "data", "code", "why"),
    [
        ("garbage.csv", bytes(range(256)) * 4096, "not_text", "content is not text"),
        ("nul-inside.csv", b"name,email\nJane\x00," + EMAIL + b"\n", "not_text", "not text"),
        ("damaged.zip", b"PK\x03\x04" + bytes(500), "unreadable", "damaged"),
        ("cut.tar.gz", _tar_gz({"a.csv": b"x,y\n" * 50_000})[:100], "unreadable", "damaged"),
        ("not-gzip.csv.gz", b"\x1f\x8b\x08\x00garbage", "unreadable", "cut off"),
        ("random.tar", bytes(range(256)) * 8, "unreadable", "damaged"),
        ("nested.zip!", _zip({"inner.zip": PEOPLE_ZIP}), "nested_archive", "archive inside"),
    ],
    ids=lambda value: value if isinstance(value, str) else "bytes",
)
def test_content_it_cannot_read_is_listed_as_not_scanned_because(tmp_path, name, data, code, why):
    name = name.rstrip("!")
    result = scan_uploads(tmp_path, {name: data, "fine.csv": b"name,email\nJane," + EMAIL + b"\n"})
    listed = gaps(result.not_scanned)
    assert listed, result
    for gap in listed:  # the archive, and the member it was reading when it broke
        assert gap["file"].startswith(name) and gap["code"] == code, gap
        assert gap["reason"].startswith("not scanned, because") and why in gap["reason"]
    # The other file is still scanned, and both are hashed whole.
    assert [f["file"] for f in result.findings if f["kind"] == "email"] == ["fine.csv"]
    assert result.hashes[name]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_damaged_member_is_listed_and_the_other_members_are_scanned(tmp_path):
    data = bytearray(_zip({"a/people.csv": b"name,email\nJane," + EMAIL + b"\n",
                           "b/notes.txt": b"hello world\n" * 1000}))  # fmt: skip
    at = data.index(b"b/notes.txt") + len(b"b/notes.txt")  # its compressed bytes follow
    data[at + 5 : at + 25] = bytes(20)
    result = scan_uploads(tmp_path, {"bundle.zip": bytes(data)})
    assert {g["file"]: g["code"] for g in gaps(result.not_scanned)} == {
        "bundle.zip!/b/notes.txt": "unreadable"
    }
    assert [f["file"] for f in result.findings if f["kind"] == "email"] == [
        "bundle.zip!/a/people.csv"
    ]


def test_an_unexpected_error_in_one_file_is_listed_not_raised(tmp_path, monkeypatch, caplog):
    from datasets.scanning import formats

    def boom(self, first_block):
        raise ValueError("123-45-6789 quoted by an error")

    monkeypatch.setattr(formats.TableLayout, "start", boom)
    result = scan_uploads(tmp_path, {"a.csv": b"x,y\n1,2\n", "b.txt": b"mail " + EMAIL + b"\n"})
    (gap,) = gaps(result.not_scanned)
    assert (gap["file"], gap["code"]) == ("a.csv", "error")
    assert "ValueError" in gap["reason"] and "123-45" not in gap["reason"]
    assert "123-45" not in caplog.text
    assert [f["file"] for f in result.findings] == ["b.txt"]
    assert set(result.hashes) == {"a.csv", "b.txt"}


def test_a_read_error_is_listed_with_its_reason(tmp_path):
    class Failing(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buf):
            raise OSError(errno.EIO, "Input/output error")

    entry = {"path": "disk.csv", "origin": "upload", "upload": "x", "size": 10, "kind": "file"}
    result = Scan(budget=1 << 20, open_upload=lambda name: io.BufferedReader(Failing())).run(
        [entry]
    )
    (gap,) = result.not_scanned
    assert gap["code"] == "unreadable" and "input/output error" in gap["reason"]
    assert result.hashes == {}  # no hash of bytes never read: approval cannot rely on it


def test_a_file_slower_than_its_time_budget_is_scanned_in_part_and_hashed_whole(tmp_path):
    data = b"id,email\n" + b"".join(b"%d,p%d@example.org\n" % (i, i) for i in range(300_000))
    result = scan_uploads(tmp_path, {"slow.csv": data}, seconds_per_file=0.0)
    (gap,) = gaps(result.not_scanned)
    assert gap["code"] == "partial" and "in the 0 s one file may take" in gap["reason"]
    assert result.bytes_scanned < len(data)
    assert result.hashes["slow.csv"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_when_the_whole_scan_runs_out_of_time_the_files_left_are_listed(tmp_path):
    files = {f"f{i}.csv": b"a,b\n1,2\n" * 200_000 for i in range(3)}
    result = scan_uploads(tmp_path, files, deadline=time.monotonic() - 1)
    assert {g["file"]: g["code"] for g in gaps(result.not_scanned)} == dict.fromkeys(files, "time")
    assert result.hashes == {}


def test_hash_and_scan_share_one_read_of_each_byte(tmp_path):
    data = b"name,email\n" + b"Jane,jane@example.org\n" * 200_000  # 4.4 MB, over the budget
    reads = []

    class Counting(io.BytesIO):
        def read(self, n=-1):
            out = super().read(n)
            reads.append(len(out))
            return out

    entry = {"path": "p.csv", "origin": "upload", "upload": "p", "size": len(data), "kind": "file"}
    result = Scan(budget=1 << 20, open_upload=lambda name: Counting(data)).run([entry])
    assert sum(reads) == len(data)  # every byte read once: scanned (1 MiB), then hashed on
    assert result.bytes_scanned == 1 << 20
    assert result.hashes["p.csv"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_binary_formats_are_hashed_and_listed_without_asking_for_acknowledgement(tmp_path):
    data = bytes(range(256)) * 1000
    result = scan_uploads(tmp_path, {"photo.png": data, "b.bin.gz": gzip.compress(data)})
    assert {s["file"]: s["code"] for s in result.not_scanned} == {
        "photo.png": "binary", "b.bin.gz": "binary"
    }  # fmt: skip
    assert gaps(result.not_scanned) == []
    assert result.hashes["photo.png"]["sha256"] == hashlib.sha256(data).hexdigest()
