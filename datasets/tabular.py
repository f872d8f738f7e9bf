"""Tabular files (CSV, TSV): their columns, inferred with Frictionless from a bounded
sample when a file is added, then described by the researcher.

A column is a dict {"name", "type", "inferred_type", "description"}: `type` is a
Frictionless Table Schema type (what Kaggle's client reads in `resources[].schema.fields`,
see `process_column`), `inferred_type` what Frictionless guessed, so a corrected type is
visible as such. Inference reads at most SAMPLE_BYTES, whatever the file's size."""

import csv
import logging
from pathlib import Path, PurePosixPath

from django.core.exceptions import ValidationError

from datasets import rules, storage

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv"}
# Frictionless Table Schema types (https://specs.frictionlessdata.io/table-schema/#types).
TYPES = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "time",
    "year",
    "yearmonth",
    "duration",
    "geopoint",
    "geojson",
    "object",
    "array",
    "any",
)
SAMPLE_BYTES = 256 * 1024
SAMPLE_ROWS = 500
MAX_COLUMNS = 1000
MAX_NAME = 200
COLUMN_DESCRIPTION_MAX = 1000
# Tabular entries of a folder whose columns are inferred when it is added.
MAX_FOLDER_TABLES = 200


class TabularError(Exception):
    """A column list that cannot be accepted; the message says why, for a person."""


def table_format(name: str) -> str | None:
    """ "csv" or "tsv" for a tabular file name, else None."""
    return FORMATS.get(PurePosixPath(name).suffix.lower())


def _sample(path: Path) -> bytes:
    """The first SAMPLE_BYTES, cut at the last complete line so the sample holds no
    half row (a half row would read as a ragged one)."""
    with open(path, "rb") as handle:
        data = handle.read(SAMPLE_BYTES + 1)
    if len(data) > SAMPLE_BYTES:
        data = data[:SAMPLE_BYTES]
        cut = data.rfind(b"\n")
        if cut <= 0:
            raise TabularError(f"the header row is longer than {SAMPLE_BYTES // 1024} KiB")
        data = data[: cut + 1]
    return data


def _check_header_width(sample: bytes, fmt: str) -> None:
    """Counts the header's columns with the csv module before Frictionless sees it: its
    inference costs per column, and a wide header (one 50 MB line of commas) would hold
    the request that adds the file for minutes."""
    header = sample.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        names = next(csv.reader([header], delimiter="\t" if fmt == "tsv" else ","), [])
    except csv.Error as exc:  # e.g. a header cell over the csv module's field limit
        raise TabularError(f"the header row cannot be read ({exc})") from None
    if len(names) > MAX_COLUMNS:
        raise TabularError(f"{len(names)} columns; Wharf describes up to {MAX_COLUMNS}")


def infer_columns(path: Path, fmt: str) -> list[dict]:
    """Column names and types of a CSV/TSV from its first rows. Raises TabularError."""
    from frictionless import Detector, FrictionlessException, Resource

    sample = _sample(path)
    if not sample.strip():
        raise TabularError("the file has no header row")
    _check_header_width(sample, fmt)
    try:
        resource = Resource(
            sample,
            format=fmt,
            detector=Detector(sample_size=SAMPLE_ROWS, buffer_size=SAMPLE_BYTES),
        )
        resource.infer()
        fields = resource.schema.fields
    except FrictionlessException as exc:
        raise TabularError(exc.error.message) from None
    except (UnicodeError, ValueError, LookupError) as exc:
        raise TabularError(str(exc)) from None
    if not fields:
        raise TabularError("no columns found in the header row")
    if len(fields) > MAX_COLUMNS:
        raise TabularError(f"{len(fields)} columns; Wharf describes up to {MAX_COLUMNS}")
    # A column with no values in the sample reads as "any", which Kaggle has no word
    # for: text is its default, and the researcher can say otherwise.
    types = ["string" if f.type == "any" else f.type for f in fields]
    return [
        {"name": field.name[:MAX_NAME], "type": kind, "inferred_type": kind, "description": ""}
        for field, kind in zip(fields, types, strict=True)
    ]


def inferred_fields(name: str, real: Path, kind: str) -> dict:
    """The DatasetFile fields for a file or folder being added: its columns (files) or
    its tabular entries' columns (folders). Never raises: a file whose columns cannot be
    read is still added, with the reason."""
    if kind == "folder":
        return {"entry_columns": _folder_columns(real)}
    fmt = table_format(name)
    if fmt is None:
        return {"columns": [], "columns_error": ""}
    try:
        return {"columns": infer_columns(real, fmt), "columns_error": ""}
    except TabularError as exc:
        return {"columns": [], "columns_error": f"Columns could not be read: {exc}."}
    except OSError as exc:
        return {"columns": [], "columns_error": f"Columns could not be read: {exc.strerror}."}


def _folder_columns(real: Path) -> dict:
    found: dict[str, list[dict]] = {}
    try:
        for entry in storage.walk_folder(real):
            fmt = table_format(entry.relpath)
            if fmt is None:
                continue
            try:
                found[entry.relpath] = infer_columns(Path(real) / entry.relpath, fmt)
            except (TabularError, OSError):
                found[entry.relpath] = []
            if len(found) >= MAX_FOLDER_TABLES:
                break
    except (storage.UnsafePath, OSError) as exc:
        log.info("folder columns not inferred: %s", exc)
    return found


def clean_columns(current: list[dict], submitted: list[dict]) -> list[dict]:
    """The researcher's edits (type and description per column, in order) applied to the
    inferred columns. Names come from the file and are not edited here."""
    if len(submitted) != len(current):
        raise TabularError(
            "The column list changed while you were editing; reload the page and try again."
        )
    cleaned = []
    for column, edit in zip(current, submitted, strict=True):
        kind = (edit.get("type") or column["type"]).strip().lower()
        if kind not in TYPES:
            raise TabularError(
                f"'{kind[:40]}' is not a Table Schema type (column {column['name']})."
            )
        description = (edit.get("description") or "").strip()
        if len(description) > COLUMN_DESCRIPTION_MAX:
            raise TabularError(
                f"Keep the description of column {column['name']} under "
                f"{COLUMN_DESCRIPTION_MAX} characters."
            )
        try:
            rules.check_no_control_characters(
                description.replace("\r", ""), f"The description of column {column['name']}"
            )
        except ValidationError as exc:
            raise TabularError(exc.messages[0]) from None
        cleaned.append({**column, "type": kind, "description": description})
    return cleaned


def schema_fields(columns: list[dict]) -> list[dict]:
    """Table Schema fields as Kaggle's client and datapackage.json read them."""
    return [
        {"name": c["name"], "type": c["type"], "description": c.get("description", "")}
        for c in columns
    ]


def column_changes(old: list[dict], new: list[dict]) -> dict:
    """Columns added, removed and retyped between two column lists (by name)."""
    before = {c["name"]: c for c in old}
    after = {c["name"]: c for c in new}
    return {
        "added": [c["name"] for c in new if c["name"] not in before],
        "removed": [c["name"] for c in old if c["name"] not in after],
        "retyped": [
            {"name": name, "old": before[name]["type"], "new": c["type"]}
            for name, c in after.items()
            if name in before and before[name]["type"] != c["type"]
        ],
    }


# --- Data checks (review) -------------------------------------------------------------

# Bytes checked of each file by default (WHARF_DATA_CHECK_MAX_BYTES_PER_FILE overrides):
# Frictionless checks about 0.2–1 MB/s per core here (bench/tabular.py), so about a
# minute or two per file at most.
VALIDATE_BUDGET = 64 * 1024 * 1024
# Errors kept per file (the reviewer sees the first ones; the count says how many more).
ERRORS_KEPT = 20
ERRORS_COUNTED = 1000
# After the byte budget, read on to the end of the row so the cut is not a ragged row.
LINE_TAIL_MAX = 1024 * 1024


class _BudgetedFile:
    """A local file read through at most `budget` bytes (then to the end of that line),
    which Frictionless streams as it validates: memory stays flat whatever the size."""

    def __init__(self, path: Path, budget: int):
        self._file = open(path, "rb")  # noqa: SIM115 - Frictionless closes it
        self.name = str(path)  # Frictionless insists on a local stream's name
        self.budget = self.remaining = budget
        self.tail = LINE_TAIL_MAX
        self.truncated = False
        self.bytes_read = 0

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    # What io.TextIOWrapper asks of a raw stream; nothing else is passed through, so no
    # read can go around the budget.
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._file.seek(offset, whence)
        if position == 0:  # Frictionless rewinds after sniffing: the budget starts again
            self.remaining, self.tail, self.bytes_read = self.budget, LINE_TAIL_MAX, 0
            self.truncated = False
        return position

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def read(self, size: int = -1) -> bytes:
        if self.remaining > 0:
            n = self.remaining if size is None or size < 0 else min(size, self.remaining)
            data = self._file.read(n)
            self.remaining -= len(data)
            self.bytes_read += len(data)
            if self.remaining <= 0 and data and not data.endswith(b"\n"):
                data += self._finish_line()
            return data
        if not self.truncated and self._file.read(1):
            self.truncated = True
        return b""

    def _finish_line(self) -> bytes:
        rest = b""
        while self.tail > 0:
            chunk = self._file.readline(min(self.tail, 64 * 1024))
            if not chunk:
                break
            rest += chunk
            self.tail -= len(chunk)
            if chunk.endswith(b"\n"):
                break
        self.bytes_read += len(rest)
        return rest


def _schema_for(columns: list[dict]):
    from frictionless import Schema

    names = [c["name"] for c in columns]
    if not columns or len(set(names)) != len(names):
        return None  # let Frictionless read the header itself (and report it)
    return Schema.from_descriptor(
        {"fields": [{"name": c["name"], "type": c["type"]} for c in columns]}
    )


def validate_table(path: Path, fmt: str, columns: list[dict], *, budget: int) -> dict:
    """A Frictionless validation report of one CSV/TSV, against its described columns:
    blank or duplicate headers, rows with too few or too many cells, values that do not
    fit the column's type, bytes that are not UTF-8. Reads at most `budget` bytes."""
    from frictionless import FrictionlessException, Resource

    stream = _BudgetedFile(path, budget)
    report = {"valid": True, "rows": 0, "bytes_checked": 0, "error_count": 0, "errors": []}
    try:
        resource = Resource(stream, format=fmt, encoding="utf-8", schema=_schema_for(columns))
        result = resource.validate(limit_errors=ERRORS_COUNTED)
    except FrictionlessException as exc:
        result = None
        text = ERROR_TEXT.get(exc.error.type, exc.error.message)
        report["errors"].append({"type": exc.error.type, "message": text})
        report["error_count"] = 1
    except (UnicodeError, ValueError) as exc:
        result = None
        report["errors"].append({"type": "source-error", "message": str(exc)[:300]})
        report["error_count"] = 1
    finally:
        stream.close()
    if result is not None:
        task = result.tasks[0]
        report["rows"] = task.stats.get("rows") or 0
        report["error_count"] = len(task.errors)
        report["errors"] = [_error(e) for e in task.errors[:ERRORS_KEPT]]
        report["limit_reached"] = len(task.errors) >= ERRORS_COUNTED
    report["valid"] = report["error_count"] == 0
    report["bytes_checked"] = stream.bytes_read
    report["truncated"] = stream.truncated
    return report


# What each kind of error means, in words that quote no cell: a value may be personal
# data, and reports are stored and shown (the content scan keeps only masked examples).
ERROR_TEXT = {
    "type-error": "the value does not fit the column's type",
    "missing-cell": "the row has fewer cells than the header",
    "extra-cell": "the row has more cells than the header",
    "blank-label": "the column's header is blank",
    "duplicate-label": "the column's header repeats an earlier one",
    "incorrect-label": "the header differs from the described column",
    "blank-row": "the row is empty",
    "encoding-error": "the bytes are not valid UTF-8",
    "constraint-error": "the value breaks a constraint of the column",
}


def _error(error) -> dict:
    text = ERROR_TEXT.get(error.type) or (error.title or error.type).rstrip(".").lower()
    found = {"type": error.type, "message": text}
    for key in ("row_number", "field_number", "field_name"):
        value = getattr(error, key, None)
        if value not in (None, ""):
            found[key] = value
    return found
