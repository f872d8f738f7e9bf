"""The content scan's engine: measured against the labelled corpus, and the promises
around it (masked examples, a byte budget, binaries listed, flat memory, safe lab
patterns). No database: the scanner is plain Python."""

import io
import json
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from datasets.scanning import KINDS, Scan, UnsafePattern, compile_lab_pattern

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
    assert partial["reason"] == f"scanned the first 256 KB of {path.stat().st_size / 2**20:.1f} MB"
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
