"""What kind of file a name or its first bytes say it is, and how each text format
places a hit: CSV/TSV by column (with checks driven by the headers), JSON by key,
anything else by line."""

import csv
import re

from . import rules
from .detect import TABLE_PLAN, TEXT_PLAN, Hit
from .rules import words

TABLE_DELIMITERS = {".csv": None, ".tsv": "\t", ".tab": "\t", ".psv": "|"}
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".geojson")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz")
ARCHIVE_SUFFIXES += (".txz",)
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
BINARY_SUFFIXES = frozenset(
    words(
        ".wav .mp3 .flac .ogg .m4a .aac .png .jpg .jpeg .gif .tif .tiff .bmp .webp .heic .svgz "
        ".mp4 .mov .avi .mkv .pdf .parquet .feather .arrow .orc .avro .npy .npz .h5 .hdf5 .he5 "
        ".nc .nc4 .mat .pkl .pickle .joblib .pt .pth .onnx .ckpt .safetensors .xlsx .xls .xlsm "
        ".ods .docx .doc .pptx .odt .sqlite .sqlite3 .db .bin .exe .so .dll .class .jar .whl "
        ".7z .rar .zst .lz4 .fits .fit .dcm .nii .edf .bam .cram .bcf .sav .dta .sas7bdat .rds "
        ".rdata .dat .raw .img .iso .dmg .msgpack .tfrecord .blend"
    )
)
BINARY_WHY = "binary file: not scanned"


def suffix_of(name: str) -> str:
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    dot = lower.rfind(".")
    return lower[dot:] if dot > lower.rfind("/") else ""


def kind_of(name: str) -> str:
    """archive, compressed, binary, table, json or text (the last one sniffed later)."""
    suffix = suffix_of(name)
    if suffix in ARCHIVE_SUFFIXES:
        return "archive"
    if suffix in COMPRESSED_SUFFIXES:
        return "compressed"
    if suffix in BINARY_SUFFIXES:
        return "binary"
    if suffix in TABLE_DELIMITERS:
        return "table"
    if suffix in JSON_SUFFIXES:
        return "json"
    return "text"


def looks_binary(head: bytes) -> bool:
    sample = head[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for ch in sample if ch < 32 and ch not in (9, 10, 12, 13))
    return controls > len(sample) // 100 + 1


# The csv module refuses fields over 128 KiB: what is parsed with it is cut well below.
_CSV_PARSED = 64 << 10


class TextLayout:
    """Plain text: a hit is placed by its line."""

    plan = TEXT_PLAN
    needs_lines = True

    def start(self, first_block: bytes) -> None:
        pass

    def extra_hits(self, block: bytes, t: bytes) -> list[tuple[tuple, Hit]]:
        return []

    def where(self, block: bytes, hit: Hit, first_line: bool) -> tuple:
        return ("lines", None)

    def finish(self, findings, name: str, rows: int) -> None:
        pass


class JsonLayout(TextLayout):
    """JSON and JSON lines: a hit is placed by the key it is the value of."""

    _KEY = re.compile(rb'"((?:[^"\\\n]|\\.){1,64})"\s*:')

    def __init__(self):
        self.identifier_keys: dict[str, int] = {}
        self.phone_rules: list[tuple[str, re.Pattern]] = []

    def start(self, first_block: bytes) -> None:
        for m in self._KEY.finditer(first_block, 0, 65536):
            key = m[1].decode("utf-8", "replace")
            norm = rules.normalize_header(key)
            if rules.identifier_header(norm) and key not in self.identifier_keys:
                self.identifier_keys[key] = 0
            if rules.header_role(norm) == "phone" and key not in dict(self.phone_rules):
                value = rb'"\s*:\s*"?(\+?\d{9,15})"?(?=[,}\]\s])'
                self.phone_rules.append((key, re.compile(re.escape(m[1]) + value)))

    def extra_hits(self, block: bytes, t: bytes) -> list[tuple[tuple, Hit]]:
        for key in self.identifier_keys:
            self.identifier_keys[key] += block.count(b'"%s"' % key.encode())
        out = []
        for key, rx in self.phone_rules:
            for m in rx.finditer(block):
                value = m[1]
                if rules.phone_ok(value) and not rules.PHONE.fullmatch(value):
                    hit = Hit(m.start(1), m.end(1), "phone", value)
                    out.append((("key", key), hit))
        return out

    def where(self, block: bytes, hit: Hit, first_line: bool) -> tuple:
        # Bounded: a one-line JSON file of many MB must not be searched back per hit.
        lo = block.rfind(b"\n", max(0, hit.start - 300), hit.start) + 1 or max(0, hit.start - 300)
        last = None
        for last in self._KEY.finditer(block, lo, hit.start):  # noqa: B007 - want the last
            pass
        if last is None:
            return ("lines", None)
        return ("key", last[1].decode("utf-8", "replace"))

    def finish(self, findings, name: str, rows: int) -> None:
        for key, count in self.identifier_keys.items():
            findings.add_count(name, ("key", key), "identifier_column", count, [])


class TableLayout(TextLayout):
    """CSV and TSV: a hit is placed by its column; the headers say which columns hold
    identifiers, and which must be checked value by value (dates of birth, coordinates,
    unformatted SSNs and phone numbers)."""

    plan = TABLE_PLAN

    def __init__(self, delimiter: str | None):
        self.delimiter = delimiter
        self.headers: list[str] = []
        self.rules: list[tuple[tuple, object, str, tuple]] = []
        self.identifiers: list[tuple[int, list[str]]] = []
        self.lat = self.lon = None
        self.norms: list[str] = []
        self._excluded: dict[tuple, bool] = {}
        self._cache: tuple | None = None

    def start(self, first_block: bytes) -> None:
        end = first_block.find(b"\n")
        first = first_block[: end if end != -1 else len(first_block)]
        text = first[:_CSV_PARSED].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
        if self.delimiter is None:
            counts = {d: text.count(d) for d in (",", ";", "\t", "|")}
            self.delimiter = max(counts, key=lambda d: (counts[d], d == ","))
        self.d = self.delimiter.encode()
        if len(first) > _CSV_PARSED or "\r" in text:
            # A header line is names of at most 80 characters; a first line longer than
            # this (or one ending in a lone CR: old Mac line ends) is data, or no table.
            return
        try:
            fields = next(csv.reader([text], delimiter=self.delimiter), [])
        except csv.Error:
            return  # no header row: columns are numbered, nothing to go by
        if not fields or not all(_is_header(f) for f in fields):
            return  # no header row: columns are numbered, nothing to go by
        self.headers = fields
        self.norms = [rules.normalize_header(f) for f in fields]
        roles = {}
        for index, name in enumerate(fields):
            norm = rules.normalize_header(name)
            if rules.identifier_header(norm):
                self.identifiers.append((index, []))
            roles[index] = rules.header_role(norm)
        self._build_rules(roles)
        self._identifier_examples(first_block[end + 1 :] if end != -1 else b"")

    @property
    def needs_lines(self) -> bool:  # rows are counted only for identifier columns
        return bool(self.identifiers)

    def _identifier_examples(self, rest: bytes) -> None:
        lines = rest[:_CSV_PARSED].decode("utf-8", "replace").splitlines()[:50]
        try:
            rows = list(csv.reader(lines, delimiter=self.delimiter))
        except csv.Error:  # a quote left open, a stray NUL: examples are only a nicety
            return
        for row in rows:
            for index, examples in self.identifiers:
                if index < len(row) and row[index].strip() and len(examples) < 3:
                    value = rules.mask_generic(row[index].encode())
                    if value not in examples:
                        examples.append(value)

    def _build_rules(self, roles: dict[int, str | None]) -> None:
        d = re.escape(self.d)
        plain = rb"[^" + d + rb"\n]*+" + d
        quoted = rb'(?:"[^"]*+(?:""[^"]*+)*+"|[^' + d + rb'"\n]*+)' + d
        end = rb"(?=" + d + rb"|\r?\n|\Z)"

        def walk(field: bytes, index: int, value: bytes) -> re.Pattern:
            if not value.startswith(b'("'):  # a value pattern that does not handle quotes
                value = rb'"?' + value + rb'"?'
            return re.compile(rb"\n(?:" + field + rb"){%d}" % index + value + end)

        def add(index: int, value: bytes, check, kind: str, columns: tuple) -> None:
            rxs = (walk(plain, index, value), walk(quoted, index, value))
            self.rules.append((rxs, check, kind, columns))

        self.roles = roles
        for index, role in roles.items():
            if role in _VALUE_RULES:
                value, check, kind = _VALUE_RULES[role]
                if role == "dob":  # "March 12, 1985" holds a comma: quoted, or not a delimiter
                    value = rb'("[^"\r\n]{6,40}"|[^' + d + rb'"\r\n]{6,40})'
                add(index, value, check, kind, (index,))
        lats = [i for i, r in roles.items() if r == "lat"]
        lons = [i for i, r in roles.items() if r == "lon"]
        if lats and lons:
            self.lat, self.lon = lats[0], lons[0]
            if abs(self.lat - self.lon) != 1:  # side by side is found faster, below
                first, second = sorted((self.lat, self.lon))
                number = rb"(-?\d{1,3}\.\d{4,})"
                value = number + rb'"?' + d + rb"(?:" + quoted + rb"){%d}" % (second - first - 1)
                value += rb'"?' + number
                add(first, value, _pair_check(self.lat > self.lon), "lat_lon", (self.lat, self.lon))

    def extra_hits(self, block: bytes, t: bytes) -> list[tuple[tuple, Hit]]:
        out = []
        if self.rules:
            buf = b"\n" + block  # every line, the first included, starts after a newline
            quotes = b'"' in block
            for rxs, check, kind, columns in self.rules:
                for m in rxs[quotes].finditer(buf):
                    value = check(m)  # the value to count, or None
                    if value:
                        # Placed by its column: the position only keeps hits in order.
                        out.append(
                            (self._where(columns), Hit(m.end() - 2, m.end() - 1, kind, value))
                        )
        if self.lat is not None and abs(self.lat - self.lon) == 1:
            out.extend(self._side_by_side(block, t))
        return out

    def _where(self, columns: tuple) -> tuple:
        return ("column", " / ".join(str(self._column_name(c)) for c in columns))

    def _side_by_side(self, block: bytes, t: bytes):
        """Precise lat, lon in neighbouring columns: candidates are two precise numbers
        around a delimiter (found in the translated buffer), kept if they sit in the
        lat and lon columns."""
        for m in _PRECISE_PAIR.finditer(t):
            seg = block[max(0, m.start() - 4) : m.start()]
            lat_start = m.start() - (len(seg) - len(seg.rstrip(_DIGITS)))
            if lat_start > 0 and block[lat_start - 1] == 45:  # "-"
                lat_start -= 1
            # The longitude starts after the delimiter, its quote and sign, if any.
            lon_start = m.end() - 5
            while t[lon_start - 1] == 48:  # "0": a digit
                lon_start -= 1
            lat_end = m.start() + 5
            while t[lat_end] == 48:
                lat_end += 1
            if block[lon_start - 1] == 45:
                lon_start -= 1
            tail = block[m.end() : m.end() + 24]
            lon_end = m.end() + len(tail) - len(tail.lstrip(_DIGITS))
            columns = (self._column_at(block, lat_start)[1], self._column_at(block, lon_start)[1])
            if columns not in ((self.lat, self.lon), (self.lon, self.lat)):
                continue
            first, second = block[lat_start:lat_end], block[lon_start:lon_end]
            lat, lon = (first, second) if columns[0] == self.lat else (second, first)
            if rules.lat_lon_ok(lat, lon):
                yield (
                    self._where((self.lat, self.lon)),
                    Hit(lat_start, lon_end, "lat_lon", lat + b", " + lon),
                )

    def _column_name(self, index: int):
        if index < len(self.headers) and self.headers[index].strip():
            return self.headers[index].strip()
        return index + 1

    def _column_at(self, block: bytes, pos: int) -> tuple[int, int]:
        """(start of the line, column) of a position. Positions come in order, so each
        call goes on from the last one: a line of 50 MB is walked once, not per hit."""
        cache = self._cache
        if cache is not None and cache[0] is block and cache[2] <= pos:
            _block, line_start, last, column, quoted = cache
            newline = block.rfind(b"\n", last, pos)
            if newline != -1:
                line_start, last, column, quoted = newline + 1, newline + 1, 0, False
        else:
            line_start = block.rfind(b"\n", 0, pos) + 1
            last, column, quoted = line_start, 0, False
        pieces = block[last:pos].split(b'"')
        column += sum(piece.count(self.d) for piece in pieces[int(quoted) :: 2])
        quoted ^= len(pieces) % 2 == 0  # an odd number of quotes in between
        self._cache = (block, line_start, pos, column, quoted)
        return line_start, column

    def where(self, block: bytes, hit: Hit, first_line: bool) -> tuple | None:
        line_start, index = self._column_at(block, hit.start)
        if first_line and line_start == 0 and self.headers:
            return ("header", None)
        excluded = self._excluded.get((hit.kind, index))
        if excluded is None:
            excluded = index < len(self.norms) and rules.header_excludes(
                hit.kind, self.norms[index]
            )
            self._excluded[hit.kind, index] = excluded
        if excluded:
            return None  # the header says what it is: not this kind
        return ("column", self._column_name(index))

    def finish(self, findings, name: str, rows: int) -> None:
        for index, examples in self.identifiers:
            where = ("column", self._column_name(index))
            findings.add_count(name, where, "identifier_column", max(rows, 0), examples)


_DIGITS = b"0123456789"
# In the translated buffer: "52.37021,4.89516", "52.37021;-4.89516", "\"52.37021\",\"4.89516\"".
_PRECISE_PAIR = re.compile(rb'\.00000*+"?[,;\t|][\x01"]{0,3}+0{1,3}+\.0000')


def _is_header(field: str) -> bool:
    field = field.strip()
    return (
        0 < len(field) <= 80
        and "@" not in field
        and any(c.isalpha() for c in field)
        and not rules.DATE.fullmatch(field.encode())
    )


def _dob_check(m):
    value = m[1].strip().strip(b'"')
    date = rules.DATE.fullmatch(value)
    return value if date and rules.birth_date_ok(date) else None


def _ssn_check(m):
    value = m[1]
    return value if rules.ssn_ok(value[:3], value[3:5], value[5:]) else None


def _phone_check(m):
    value = m[1].strip()
    if not rules.phone_ok(value) or rules.PHONE.fullmatch(value):
        return None  # a formatted number: the general detector counted it already
    return value


def _geo_check(m):
    groups = [g for g in m.groups() if g]
    lat, lon = (groups[1], groups[0]) if m[0].lstrip(b'"').startswith(b"POINT") else groups[:2]
    if not rules.lat_lon_ok(lat, lon):
        return None
    return lat + b", " + lon


def _pair_check(swap: bool):
    def check(m):
        lat, lon = (m[2], m[1]) if swap else (m[1], m[2])
        if not rules.lat_lon_ok(lat, lon):
            return None
        return lat + b", " + lon

    return check


_VALUE_RULES = {
    "dob": (b"", _dob_check, "date_of_birth"),  # the value pattern depends on the delimiter
    "ssn": (rb"(\d{9})", _ssn_check, "us_ssn"),
    "phone": (rb"(\+?[\d(][\d ().-]{7,20}\d)", _phone_check, "phone"),
    "geo_pair": (
        rb"(?:POINT\s*\(\s*(-?\d{1,3}\.\d{4,})\s+(-?\d{1,2}\.\d{4,})\s*\)"
        rb"|\(?\s*(-?\d{1,2}\.\d{4,})\s*[,; ]\s*(-?\d{1,3}\.\d{4,})\s*\)?)",
        _geo_check,
        "lat_lon",
    ),
}


def layout_for(kind: str, name: str) -> TextLayout:
    if kind == "table":
        return TableLayout(TABLE_DELIMITERS.get(suffix_of(name)))
    if kind == "json":
        return JsonLayout()
    return TextLayout()
