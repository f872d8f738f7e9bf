"""Scanning a submission's files: uploads, files and folders on lab storage, and the
members of zip and tar archives, each read once in 1 MiB blocks of whole lines, so
memory stays flat whatever the size.

The same read hashes every file (sha256 of all its bytes): the submission freezes those
hashes, and approval and staging compare content with them (issue 15). A file is
scanned up to a byte budget and a time budget and hashed to its end; whatever the scan
cannot read (a damaged archive, content that is not text, an encoding it cannot
follow, a budget reached) is listed as "not scanned, because …": content never makes
the scan itself fail (issue 18)."""

import bz2
import codecs
import gzip
import hashlib
import logging
import lzma
import os
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded

from datasets import storage

from .detect import detect
from .findings import Findings
from .formats import BINARY_WHY, COMPRESSED_SUFFIXES, kind_of, layout_for, looks_binary, suffix_of
from .rules import TRANSLATION

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# A longer line is scanned in pieces of this size: a value cut in two is missed, but no
# single block costs more than a few seconds whatever it holds.
LONGEST_LINE = 2 << 20
MAX_NOT_SCANNED = 200
DEFAULT_SECONDS_PER_FILE = 120.0
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)
_UNREADABLE += (tarfile.TarError, NotImplementedError, RuntimeError, UnicodeError)

# not_scanned codes: a file whose *name* says it is a binary format (images, parquet, …)
# is outside what the scan reads and is only listed. Every other code is a gap in what
# the scan promised to read: the engineer acknowledges it like a finding. "changed"
# is no gap but a refusal: the bytes are not those submitted.
LISTED_ONLY = frozenset({"binary"})
CHANGED = "changed"


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
    # name -> {"sha256", "inode", "ctime_ns"} of every file read to its end unchanged
    # (a folder's entries as "folder/entry"); see apply_hashes.
    hashes: dict = field(default_factory=dict)
    bytes_hashed: int = 0


def gaps(not_scanned: list[dict]) -> list[dict]:
    """The not-scanned records an engineer must acknowledge before approving."""
    return [s for s in not_scanned if s.get("code") not in LISTED_ONLY | {CHANGED}]


def changed_files(not_scanned: list[dict]) -> list[str]:
    """Files the scan found different from what was submitted."""
    return [s["file"] for s in not_scanned if s.get("code") == CHANGED]


def estimate_scan_bytes(files: list[dict]) -> int:
    """About how many bytes scanning a frozen file list reads (binaries are skipped)."""
    total = 0
    for entry in files:
        for name, size in _members(entry):
            if kind_of(name) != "binary":
                total += size or 0
    return total


def estimate_read_bytes(files: list[dict]) -> int:
    """How many bytes checking a frozen file list reads: all of them, since every file
    is hashed (binaries too)."""
    return sum(size or 0 for entry in files for _name, size in _members(entry))


def apply_hashes(files: list[dict], hashes: dict) -> list[dict]:
    """The frozen file list with each hash the scan computed added ("sha256" on a file
    entry, on each item of a folder's "entries"). A hash frozen earlier is kept: the
    scan only records a different one as a change (see Scan)."""
    out = []
    for entry in files:
        entry = dict(entry)
        if entry.get("kind") == "folder":
            subs = []
            for sub in entry.get("entries") or []:
                sub = dict(sub)
                got = hashes.get(f"{entry['path']}/{sub['path']}")
                if got and not sub.get("sha256"):
                    sub.update(got)
                elif got and sub.get("sha256") == got["sha256"]:
                    sub.update(got)  # the same bytes: their new inode/ctime are known good
                subs.append(sub)
            entry["entries"] = subs
        else:
            got = hashes.get(entry["path"])
            if got and (not entry.get("sha256") or entry["sha256"] == got["sha256"]):
                entry.update(got)
        out.append(entry)
    return out


def _members(entry: dict):
    if entry.get("kind") == "folder":
        for sub in entry.get("entries") or []:
            yield f"{entry['path']}/{sub['path']}", sub.get("size")
    else:
        yield entry["path"], entry.get("size")


def _frozen_members(entry: dict):
    """(name, relpath under the root, the frozen dict of the file) of each file."""
    if entry.get("kind") == "folder":
        for sub in entry.get("entries") or []:
            yield f"{entry['path']}/{sub['path']}", f"{entry['relpath']}/{sub['path']}", sub
    else:
        yield entry["path"], entry["relpath"], entry


class _Hashing:
    """A file object that hashes every byte read through it; `drain` reads the rest."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, n=-1):
        data = self.raw.read(n)
        self.digest.update(data)
        self.count += len(data)
        return data

    def readable(self):
        return True

    def drain(self, deadline: float | None) -> bool:
        """Reads to the end; False if the deadline came first."""
        while self.read(CHUNK):
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True


class TimeUp(Exception):
    """The whole scan's time is spent: the files left are listed, not read."""


class Scan:
    """One run over a frozen file list. `patterns` are the lab's (name, compiled bytes
    regex); `open_upload(name)` opens an upload kept by Wharf."""

    def __init__(
        self,
        *,
        budget: int,
        patterns=(),
        open_upload=None,
        seconds_per_file: float = DEFAULT_SECONDS_PER_FILE,
        deadline: float | None = None,
    ):
        self.budget = budget
        self.patterns = list(patterns)
        self.open_upload = open_upload
        self.seconds_per_file = seconds_per_file
        self.deadline = deadline  # time.monotonic() by which the whole run stops
        self.findings = Findings()
        self.result = ScanResult()
        self._skipped_more = 0

    def run(self, files: list[dict]) -> ScanResult:
        for entry in files:
            try:
                self.entry(entry)
            except TimeUp:
                self._time_up(files, entry)
                break
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

    def _time_up(self, files: list[dict], stopped_at: dict) -> None:
        left = files[files.index(stopped_at) :]
        names = [name for entry in left for name, _size in _members(entry)]
        minutes = "the time the scan of a version may take"
        for name in names:
            if name not in self.result.hashes:
                self.skip(name, "time", f"not scanned, because the scan ran out of {minutes}")

    # --- Where the bytes are ---------------------------------------------------------

    def entry(self, entry: dict) -> None:
        if entry.get("origin") != "storage":
            self.upload(entry)
            return
        for name, relpath, frozen in _frozen_members(entry):
            self.storage_file(name, entry["root_path"], relpath, frozen)

    def upload(self, entry: dict) -> None:
        name = entry["path"]
        try:
            fileobj = self.open_upload(entry.get("upload") or "")
        except (OSError, ValueError):
            self.skip(name, "missing", "not scanned, because the upload is missing on the server")
            return
        with fileobj:
            self.hashed_file(name, fileobj, entry.get("size"), frozen=None)

    def storage_file(self, name: str, root: str, relpath: str, frozen: dict) -> None:
        try:
            real = storage.resolve_under_root(root, relpath)
            fileobj = open(real, "rb")  # noqa: SIM115 - closed below, after fstat
        except (storage.UnsafePath, OSError) as exc:
            why = str(exc) if isinstance(exc, storage.UnsafePath) else _os_why(exc)
            self.skip(name, "missing", f"not scanned, because it is no longer readable: {why}")
            return
        with fileobj:
            self.hashed_file(name, fileobj, frozen.get("size"), frozen=frozen)

    def hashed_file(self, name: str, fileobj, size, *, frozen: dict | None) -> None:
        """Scans and hashes one file in one read. `frozen` is a storage file's entry as
        submitted: the bytes must still be those (size and mtime), and stay so while
        they are read, or the file is recorded as changed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeUp
        before = _fstat(fileobj)
        if frozen is not None and before is not None and _differs(frozen, before):
            self.skip(name, CHANGED, "changed on lab storage after it was submitted")
            return
        start = time.monotonic()
        if suffix_of(name) == ".zip":
            # Members are read by offset: hash the bytes in order first (the members'
            # reads then come from the page cache), then scan.
            reader = _Hashing(fileobj)
            complete = self._drain(reader, name)
            if complete:
                fileobj.seek(0)
                self.file(name, fileobj, size, started=start)
        else:
            reader = _Hashing(fileobj)
            self.file(name, reader, size, started=start)
            complete = self._drain(reader, name)
        if not complete:
            return
        after = _fstat(fileobj)
        if (
            frozen is not None
            and after is not None
            and (_stamp(before) != _stamp(after) or reader.count != after.st_size)
        ):
            self.skip(name, CHANGED, "changed on lab storage while it was being read")
            return
        self.result.bytes_hashed += reader.count
        got = {"sha256": reader.digest.hexdigest()}
        if after is not None and frozen is not None:
            got.update(inode=after.st_ino, ctime_ns=after.st_ctime_ns)
        if frozen is not None and frozen.get("sha256") and frozen["sha256"] != got["sha256"]:
            self.skip(name, CHANGED, "its content differs from what was submitted")
            return
        self.result.hashes[name] = got

    def _drain(self, reader: _Hashing, name: str) -> bool:
        try:
            if not reader.drain(self.deadline):
                raise TimeUp
        except OSError as exc:
            listed = self.result.not_scanned and self.result.not_scanned[-1]["file"] == name
            if not listed:  # the scan's own read may have failed on it already
                why = f"not scanned, because reading it failed: {_os_why(exc)}"
                self.skip(name, "unreadable", why)
            return False
        return True

    def file(self, name: str, fileobj, size, *, in_archive: bool = False, started=None) -> None:
        """Scans one file (or archive member). Whatever its content, this returns: what
        could not be read is listed, never raised."""
        kind = kind_of(name)
        started = time.monotonic() if started is None else started
        try:
            if kind == "binary":
                self.skip(name, "binary", BINARY_WHY)
            elif kind == "archive" and in_archive:
                why = "not scanned, because it is an archive inside an archive"
                self.skip(name, "nested_archive", why)
            elif kind == "archive":
                self.archive(name, fileobj, started)
            elif kind == "compressed":
                self.compressed(name, fileobj, in_archive=in_archive, started=started)
            else:
                self.text(name, kind, fileobj, size, started=started)
        except (TimeUp, SoftTimeLimitExceeded):
            raise
        except _UNREADABLE as exc:
            why = _os_why(exc) if isinstance(exc, OSError) else _damage_why(exc)
            self.skip(name, "unreadable", f"not scanned, because {why}")
        except Exception as exc:  # any content: listed, never a failed scan
            # Only the type: an exception's message may quote the file's content.
            log.warning("scan stopped on %s in one file: %s", type(exc).__name__, _where(exc))
            self.skip(
                name,
                "error",
                f"not scanned, because the scanner stopped on it ({type(exc).__name__})",
            )

    def archive(self, name: str, fileobj, started: float) -> None:
        if suffix_of(name) == ".zip":
            with zipfile.ZipFile(fileobj) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    member = f"{name}!/{info.filename}"
                    if info.flag_bits & 1:
                        self.skip(member, "encrypted", "not scanned, because it is encrypted")
                        continue
                    if kind_of(member) == "binary":
                        self.skip(member, "binary", BINARY_WHY)
                        continue
                    if self._over_time(member, started, info.file_size):
                        continue
                    try:
                        with zf.open(info) as member_file:
                            self.file(member, member_file, info.file_size, in_archive=True)
                    except _UNREADABLE as exc:  # a damaged member: the others still count
                        self.skip(member, "unreadable", f"not scanned, because {_damage_why(exc)}")
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
                if self._over_time(member, started, info.size):
                    continue
                member_file = tf.extractfile(info)
                if member_file is not None:
                    self.file(member, member_file, info.size, in_archive=True)

    def _over_time(self, member: str, started: float, size) -> bool:
        """One archive shares the per-file time budget among its members."""
        if time.monotonic() - started <= self.seconds_per_file:
            return False
        self.skip(
            member, "time", f"not scanned, because the archive used up {self._seconds()}",
            size=size,
        )  # fmt: skip
        return True

    def _seconds(self) -> str:
        return f"the {self.seconds_per_file:g} s one file may take"

    def compressed(self, name: str, fileobj, *, in_archive: bool, started: float) -> None:
        suffix = suffix_of(name)
        inner = name[: -len(suffix)]
        inner_kind = kind_of(inner)
        if inner_kind in ("binary", "archive", "compressed"):
            self.skip(name, "binary", BINARY_WHY)
            return
        opener = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
        with opener[COMPRESSED_SUFFIXES[suffix]](fileobj=fileobj) as plain:
            self.text(name, inner_kind, plain, None, layout_name=inner, started=started)

    # --- Text ------------------------------------------------------------------------

    def text(
        self, name: str, kind: str, fileobj, size, *, layout_name: str = "", started: float
    ) -> None:
        head = fileobj.read(CHUNK)
        read = fileobj.read
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            head, read = _utf16(head, read)
        elif looks_binary(head):
            self.skip(
                name,
                "not_text",
                "not scanned, because its content is not text (binary bytes in a file "
                "named as text)",
            )
            return
        layout = layout_for(kind, layout_name or name)
        lines, sent, carry, first, truncated, timed_out = 0, 0, b"", True, False, False
        data = head
        while data:
            if len(data) > self.budget - sent:
                data, truncated = data[: self.budget - sent], True
            if time.monotonic() - started > self.seconds_per_file:
                timed_out = truncated = True
                break
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
            why = f"in {self._seconds()}" if timed_out else "(the per-file byte budget)"
            self.skip(
                name,
                "partial",
                f"scanned the first {human_size(sent)}{total} {why}",
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
    """UTF-16 text (spreadsheet exports) re-encoded as UTF-8, block by block; a broken
    or cut-off character becomes U+FFFD, never an error."""
    decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")

    def read_utf8(n: int) -> bytes:
        data = read(n)
        return decoder.decode(data, final=not data).encode("utf-8")

    return decoder.decode(head).encode("utf-8"), read_utf8


def _fstat(fileobj):
    try:
        return os.fstat(fileobj.fileno())
    except (AttributeError, OSError, ValueError):  # an upload's storage may have no fd
        return None


def _stamp(st) -> tuple:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _differs(frozen: dict, st) -> bool:
    """Whether a storage file is no longer what the submission froze (size, mtime)."""
    if frozen.get("size") is not None and st.st_size != frozen["size"]:
        return True
    mtime = frozen.get("mtime")
    return mtime is not None and abs(st.st_mtime - mtime) > 1e-3


def _os_why(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _damage_why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeError):
        return "its text encoding could not be followed"
    if isinstance(exc, NotImplementedError | RuntimeError):
        return "it uses a compression or feature the scanner does not support"
    if isinstance(exc, EOFError):
        return "it is cut off (damaged or incomplete)"
    return "it is damaged or in a format the scanner cannot read"


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
