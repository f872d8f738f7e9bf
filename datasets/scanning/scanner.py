"""Scanning a submission's files: uploads, files and folders on lab storage, and the
members of zip and tar archives, each read once in 1 MiB blocks of whole lines, so
memory stays flat whatever the size. A file is read up to a byte budget; binary files
are listed as not scanned, with the reason."""

import bz2
import codecs
import gzip
import lzma
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from datasets import storage

from .detect import detect
from .findings import Findings
from .formats import BINARY_WHY, COMPRESSED_SUFFIXES, kind_of, layout_for, looks_binary, suffix_of
from .rules import TRANSLATION

CHUNK = 1 << 20
LONGEST_LINE = 8 << 20  # a longer line is scanned in pieces
MAX_NOT_SCANNED = 200
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)
_UNREADABLE += (tarfile.TarError, NotImplementedError, RuntimeError)


def human_size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value == int(value)
                else f"{value:.1f} {unit}"
            )
    return f"{n} bytes"


@dataclass
class ScanResult:
    findings: list = field(default_factory=list)
    not_scanned: list = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0


def estimate_scan_bytes(files: list[dict]) -> int:
    """About how many bytes scanning a frozen file list reads (binaries are skipped)."""
    total = 0
    for entry in files:
        for name, size in _members(entry):
            if kind_of(name) != "binary":
                total += size or 0
    return total


def _members(entry: dict):
    if entry.get("kind") == "folder":
        for sub in entry.get("entries") or []:
            yield f"{entry['path']}/{sub['path']}", sub.get("size")
    else:
        yield entry["path"], entry.get("size")


class Scan:
    """One run over a frozen file list. `patterns` are the lab's (name, compiled bytes
    regex); `open_upload(name)` opens an upload kept by Wharf."""

    def __init__(self, *, budget: int, patterns=(), open_upload=None):
        self.budget = budget
        self.patterns = list(patterns)
        self.open_upload = open_upload
        self.findings = Findings()
        self.result = ScanResult()
        self._skipped_more = 0

    def run(self, files: list[dict]) -> ScanResult:
        for entry in files:
            self.entry(entry)
        self.result.findings = self.findings.result()
        if self.findings.omitted:
            self.skip("…", "more", f"{self.findings.omitted} more findings were not kept")
        if self._skipped_more:
            self.result.not_scanned.append(
                {"file": "…", "code": "more", "reason": f"and {self._skipped_more} more"}
            )
        return self.result

    def skip(self, name: str, code: str, reason: str, **extra) -> None:
        if len(self.result.not_scanned) >= MAX_NOT_SCANNED:
            self._skipped_more += 1
            return
        self.result.not_scanned.append({"file": name, "code": code, "reason": reason, **extra})

    # --- Where the bytes are ---------------------------------------------------------

    def entry(self, entry: dict) -> None:
        if entry.get("origin") != "storage":
            if kind_of(entry["path"]) == "binary":
                self.skip(entry["path"], "binary", BINARY_WHY)
                return
            try:
                fileobj = self.open_upload(entry.get("upload") or "")
            except (OSError, ValueError):
                self.skip(entry["path"], "missing", "the upload is missing on the server")
                return
            with fileobj:
                self.file(entry["path"], fileobj, entry.get("size"))
            return
        base = entry["relpath"]
        for name, size in _members(entry):
            relpath = (
                base
                if entry.get("kind") != "folder"
                else f"{base}/{name[len(entry['path']) + 1 :]}"
            )
            self.storage_file(name, entry["root_path"], relpath, size)

    def storage_file(self, name: str, root: str, relpath: str, size) -> None:
        if kind_of(name) == "binary":
            self.skip(name, "binary", BINARY_WHY)
            return
        try:
            real = storage.resolve_under_root(root, relpath)
        except storage.UnsafePath:
            self.skip(name, "missing", "no longer readable on lab storage")
            return
        try:
            with Path(real).open("rb") as fileobj:
                self.file(name, fileobj, size)
        except OSError:
            self.skip(name, "missing", "no longer readable on lab storage")

    def file(self, name: str, fileobj, size, *, in_archive: bool = False) -> None:
        kind = kind_of(name)
        try:
            if kind == "binary":
                self.skip(name, "binary", BINARY_WHY)
            elif kind == "archive" and in_archive:
                self.skip(name, "nested_archive", "an archive inside an archive: not scanned")
            elif kind == "archive":
                self.archive(name, fileobj)
            elif kind == "compressed":
                self.compressed(name, fileobj, in_archive=in_archive)
            else:
                self.text(name, kind, fileobj, size)
        except _UNREADABLE:
            self.skip(name, "unreadable", "could not be read (damaged or unsupported)")

    def archive(self, name: str, fileobj) -> None:
        if suffix_of(name) == ".zip":
            with zipfile.ZipFile(fileobj) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    member = f"{name}!/{info.filename}"
                    if info.flag_bits & 1:
                        self.skip(member, "encrypted", "encrypted: not scanned")
                        continue
                    if kind_of(member) == "binary":
                        self.skip(member, "binary", BINARY_WHY)
                        continue
                    with zf.open(info) as member_file:
                        self.file(member, member_file, info.file_size, in_archive=True)
            return
        # Stream mode: members are read in order, never all at once.
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            for info in tf:
                if not info.isfile():
                    continue
                member = f"{name}!/{info.name}"
                if kind_of(member) == "binary":
                    self.skip(member, "binary", BINARY_WHY)
                    continue
                member_file = tf.extractfile(info)
                if member_file is not None:
                    self.file(member, member_file, info.size, in_archive=True)

    def compressed(self, name: str, fileobj, *, in_archive: bool) -> None:
        suffix = suffix_of(name)
        inner = name[: -len(suffix)]
        inner_kind = kind_of(inner)
        if inner_kind in ("binary", "archive", "compressed"):
            self.skip(name, "binary", BINARY_WHY)
            return
        opener = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
        with opener[COMPRESSED_SUFFIXES[suffix]](fileobj=fileobj) as plain:
            self.text(name, inner_kind, plain, None, layout_name=inner)

    # --- Text ------------------------------------------------------------------------

    def text(self, name: str, kind: str, fileobj, size, *, layout_name: str = "") -> None:
        head = fileobj.read(CHUNK)
        read = fileobj.read
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            head, read = _utf16(head, read)
        elif looks_binary(head):
            self.skip(name, "binary", BINARY_WHY)
            return
        layout = layout_for(kind, layout_name or name)
        lines, sent, carry, first, truncated = 0, 0, b"", True, False
        data = head
        while data:
            if len(data) > self.budget - sent:
                data, truncated = data[: self.budget - sent], True
            sent += len(data)
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n") + 1
            if cut or len(buf) >= LONGEST_LINE:
                cut = cut or len(buf)
                block, carry = buf[:cut], buf[cut:]
                lines = self._block(name, layout, block, lines, first)
                first = False
            else:
                carry = buf
            if truncated:
                break
            data = read(CHUNK)
        if carry:
            lines = self._block(name, layout, carry, lines, first) + 1
        layout.finish(self.findings, name, lines - 1)
        self.result.files_scanned += 1
        self.result.bytes_scanned += sent
        if truncated:
            total = f" of {human_size(size)}" if size else ""
            self.skip(
                name,
                "partial",
                f"scanned the first {human_size(sent)}{total}",
                scanned_bytes=sent,
                size=size,
            )

    def _block(self, name: str, layout, block: bytes, lines: int, first: bool) -> int:
        if first:
            layout.start(block)
        add = self.findings.add
        pos, line = 0, lines + 1
        t = block.translate(TRANSLATION)
        for hit in detect(block, self.patterns, layout.plan, t):
            where = layout.where(block, hit, first)
            if where is None:
                continue
            if where[0] == "lines":
                line += block.count(b"\n", pos, hit.start)
                pos = hit.start
                add(name, where, hit, line)
            else:
                add(name, where, hit)
        for where, hit in layout.extra_hits(block, t):
            add(name, where, hit)
        return lines + block.count(b"\n") if layout.needs_lines else lines


def _utf16(head: bytes, read):
    """UTF-16 text (spreadsheet exports) re-encoded as UTF-8, block by block."""
    decoder = codecs.getincrementaldecoder("utf-16")()

    def read_utf8(n: int) -> bytes:
        data = read(n)
        return decoder.decode(data, final=not data).encode("utf-8")

    return decoder.decode(head).encode("utf-8"), read_utf8
