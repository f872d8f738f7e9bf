"""Kaggle's rules for dataset metadata, in one place: forms, the API and the services
all validate through these functions, so a message reads the same everywhere."""

import re
import unicodedata

from django.core.exceptions import ValidationError

TITLE_MIN, TITLE_MAX = 6, 50
SLUG_MIN, SLUG_MAX = 6, 50
SUBTITLE_MIN, SUBTITLE_MAX = 20, 80
DESCRIPTION_MAX = 50_000
KEYWORDS_MAX = 20
KEYWORD_MAX_LENGTH = 50
VERSION_NOTES_MAX = 10_000
FILE_DESCRIPTION_MAX = 2_000
PATH_MAX = 255

SLUG_RE = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
OWNER_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")

# Kaggle's license names (docs/datasets_metadata.md in Kaggle/kaggle-api), with what
# each means for someone who is not a lawyer.
LICENSES: dict[str, str] = {
    "CC0-1.0": "Public domain: anyone may use it for anything, no credit needed.",
    "CC-BY-4.0": "Anyone may use and adapt it, also commercially, if they credit you.",
    "CC-BY-SA-4.0": "Like CC BY, and adaptations must be shared under the same license.",
    "CC-BY-NC-4.0": "Anyone may use and adapt it with credit, but not commercially.",
    "CC-BY-NC-SA-4.0": "Non-commercial, with credit, adaptations under the same license.",
    "CC-BY-ND-4.0": "Use with credit, also commercially, but no modified versions.",
    "CC-BY-NC-ND-4.0": "Use with credit, non-commercially, no modified versions.",
    "CC-BY-3.0": "Older CC BY: use and adapt with credit.",
    "CC-BY-SA-3.0": "Older CC BY-SA: credit, share adaptations alike.",
    "CC-BY-3.0-IGO": "CC BY for intergovernmental organisations.",
    "CC-BY-NC-SA-3.0-IGO": "CC BY-NC-SA for intergovernmental organisations.",
    "ODbL-1.0": "Open Database License: use with credit, share database changes alike.",
    "ODC-BY-1.0": "Open Data Commons Attribution: use with credit.",
    "PDDL": "Open Data Commons public domain dedication.",
    "DbCL-1.0": "Database Contents License, for the contents of an ODbL database.",
    "CDLA-Permissive-1.0": "Community Data License, permissive: use with the notice kept.",
    "CDLA-Sharing-1.0": "Community Data License, sharing: publish changes alike.",
    "apache-2.0": "Apache 2.0 (a software license): use with notice, patent grant.",
    "GPL-2.0": "GNU GPL 2 (a software license): derivatives under the GPL.",
    "GPL-3.0": "GNU GPL 3 (a software license): derivatives under the GPL.",
    "LGPL-3.0": "GNU LGPL 3 (a software license).",
    "AGPL-3.0": "GNU AGPL 3 (a software license), also covering network use.",
    "FDL-1.3": "GNU Free Documentation License.",
    "US-Government-Works": "A work of the US government, not under copyright.",
    "EU-ODP-Legal-Notice": "The EU Open Data Portal's reuse notice.",
    "copyright-authors": "All rights reserved by the authors: others may only look.",
    "other": "Another license, named in the description.",
    "unknown": "The license is not known (discouraged).",
}
LICENSE_CHOICES = [(name, f"{name} — {help_text}") for name, help_text in LICENSES.items()]
DEFAULT_LICENSE = "CC-BY-4.0"

# Control characters other than tab and newline never belong in metadata.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def check_no_control_characters(value: str, field: str = "This field") -> None:
    if value and _CONTROL_RE.search(value):
        raise ValidationError(
            f"{field} contains control or direction-override characters; remove them.",
            code="control_characters",
        )


def check_length(value: str, low: int, high: int, field: str) -> None:
    n = len(value or "")
    if not low <= n <= high:
        raise ValidationError(
            f"{field} must be {low}–{high} characters long on Kaggle; it has {n}.",
            code="length",
        )


def check_title(value: str) -> None:
    check_no_control_characters(value, "The title")
    check_length(value.strip(), TITLE_MIN, TITLE_MAX, "The title")


def check_subtitle(value: str) -> None:
    if not value:
        return
    check_no_control_characters(value, "The subtitle")
    check_length(value.strip(), SUBTITLE_MIN, SUBTITLE_MAX, "The subtitle")


def check_slug(value: str) -> None:
    if value != unicodedata.normalize("NFKC", value) or not value.isascii():
        raise ValidationError(
            "The slug may use only plain ASCII letters, digits and hyphens "
            "(it contains a look-alike or accented character).",
            code="slug_ascii",
        )
    check_length(value, SLUG_MIN, SLUG_MAX, "The slug")
    if not SLUG_RE.match(value):
        raise ValidationError(
            "The slug may use only letters, digits and single hyphens between them, "
            "e.g. 'bird-song-recordings'.",
            code="slug_characters",
        )


def check_owner_slug(value: str) -> None:
    if not value.isascii() or not OWNER_SLUG_RE.match(value):
        raise ValidationError(
            "A Kaggle owner is a user name or organisation slug: letters, digits, "
            "hyphens and underscores, up to 50 characters.",
            code="owner_slug",
        )


def check_license(value: str) -> None:
    if value not in LICENSES:
        raise ValidationError(
            f"'{value}' is not one of Kaggle's licenses; choose one from the list.",
            code="license",
        )


def clean_keywords(values: list[str]) -> list[str]:
    """Trims, lower-cases and de-duplicates keywords, refusing ones Kaggle cannot take."""
    seen: list[str] = []
    for raw in values:
        word = " ".join(str(raw).split()).lower()
        if not word:
            continue
        check_no_control_characters(word, "A keyword")
        if len(word) > KEYWORD_MAX_LENGTH:
            raise ValidationError(
                f"Keyword '{word[:20]}…' is longer than {KEYWORD_MAX_LENGTH} characters.",
                code="keyword_length",
            )
        if word not in seen:
            seen.append(word)
    if len(seen) > KEYWORDS_MAX:
        raise ValidationError(f"Use at most {KEYWORDS_MAX} keywords.", code="keywords_count")
    return seen


_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
FILE_NAME_MAX = 200


def clean_file_name(name: str) -> str:
    """A published file name: one path component, printable, NFC-normalised. Returns
    the cleaned name or raises ValidationError saying what to change."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise ValidationError("Give the file a name.", code="file_name_empty")
    if "/" in name or "\\" in name:
        raise ValidationError(
            f"'{name[:60]}' contains a path separator; a file name is a single name, "
            "like 'measurements.csv'.",
            code="file_name_path",
        )
    if name in {".", ".."} or name.startswith("."):
        raise ValidationError(
            "File names may not start with a dot (hidden files are not published).",
            code="file_name_dot",
        )
    if any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in name):
        raise ValidationError(
            "The file name contains control or invisible formatting characters.",
            code="file_name_control",
        )
    if len(name) > FILE_NAME_MAX:
        raise ValidationError(
            f"The file name is {len(name)} characters long; keep it under {FILE_NAME_MAX}.",
            code="file_name_length",
        )
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        raise ValidationError(
            f"'{name}' is a reserved device name on Windows; people could not download it.",
            code="file_name_reserved",
        )
    check_not_skipped_by_kaggle(name)
    return name


def file_name_key(name: str) -> str:
    """Names that differ only by case or Unicode form count as the same file."""
    return unicodedata.normalize("NFC", name).casefold()


# --- Names Kaggle never receives -------------------------------------------------------
# The official client's upload_files (kaggle_api_extended.py, KaggleApi.upload_files)
# lists the top of the staged folder and silently skips these names, and
# DEFAULT_IGNORE_PATTERNS drops these folders: a file by such a name would be approved,
# staged and then never reach Kaggle. They are refused when a file is added instead.
CLIENT_SKIPPED_FILES: dict[str, str] = {
    "dataset-metadata.json": "the metadata file Wharf writes for the Kaggle client",
    "datapackage.json": "the older name of Kaggle's metadata file",
    "kernel-metadata.json": "Kaggle's notebook metadata file",
    "model-metadata.json": "Kaggle's model metadata file",
    "model-instance-metadata.json": "Kaggle's model metadata file",
    **{
        f"dataset-cover-image.{ext}": "Kaggle's cover image (not a data file)"
        for ext in ("png", "jpg", "jpeg", "webp")
    },
}
CLIENT_IGNORED_FOLDERS = frozenset({".git", ".cache", ".huggingface"})
_SKIPPED_KEYS = {name.casefold(): name for name in CLIENT_SKIPPED_FILES}


def check_not_skipped_by_kaggle(name: str) -> None:
    """Refuses a published name the Kaggle client would never upload. Case-insensitive:
    people download to systems where case does not tell names apart."""
    reserved = _SKIPPED_KEYS.get(unicodedata.normalize("NFC", name or "").strip().casefold())
    if reserved:
        stem, _, ext = reserved.rpartition(".")
        raise ValidationError(
            f"'{name}' is {CLIENT_SKIPPED_FILES[reserved]}: the Kaggle client never uploads "
            f"a file by that name, so it would be missing from the published dataset. "
            f"Give it another name, e.g. '{stem}-original.{ext}'.",
            code="file_name_kaggle_reserved",
        )


def check_archive_member(relpath: str, folder: str = "the folder") -> None:
    """A path inside a folder that is published as one archive: relative, '/'-separated,
    nothing an extractor could read as a way out of its target folder, valid UTF-8."""
    parts = relpath.split("/")
    for part in parts:
        if (
            part in ("", ".", "..")
            or "\\" in part
            or any(ord(c) < 32 or ord(c) == 127 for c in part)
            or (len(part) >= 2 and part[1] == ":")
        ):
            raise ValidationError(
                f"'{relpath}' in {folder} has a name that is unsafe in an archive (a "
                "backslash, control character or drive letter); rename it.",
                code="member_name_unsafe",
            )
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        shown = relpath.encode("utf-8", "replace")
        raise ValidationError(
            f"A file name in {folder} is not valid UTF-8 ({shown!r}); rename it.",
            code="member_name_encoding",
        ) from None


def check_folder_entries(relpaths, folder: str = "the folder") -> None:
    """Every file of a folder picked on lab storage (relative '/'-separated paths): each
    must be archivable, and its top level may hold nothing the Kaggle client skips (a
    metadata file, a cover image, or a .git/.cache/.huggingface folder)."""
    for relpath in relpaths:
        check_archive_member(relpath, folder)
        top, sep, _rest = relpath.partition("/")
        if sep and top in CLIENT_IGNORED_FOLDERS:
            raise ValidationError(
                f"{folder} holds a '{top}/' folder at its top; the Kaggle client leaves "
                f"'{top}/' out of everything it uploads. Pick a folder without it (for "
                "example a subfolder holding only the data) or move it out.",
                code="folder_kaggle_ignored",
            )
        if not sep and top.casefold() in _SKIPPED_KEYS:
            try:
                check_not_skipped_by_kaggle(top)
            except ValidationError as exc:
                raise ValidationError(
                    f"{folder} holds '{top}' at its top. {exc.messages[0]} Move or rename "
                    "it, then add the folder again.",
                    code="folder_kaggle_reserved",
                ) from None


# Kaggle's limits on one version (kaggle_sandbox/FIDELITY.md has the sources): more than
# 1,000 files is refused when the version is created ("The file count exceeds the maximum
# of 1000", whirlwide/candlestick_retriever#15); a dataset over Kaggle's size limit fails
# only at processing, hours into an upload (kaggle-cli #424; the figure there is cut off,
# so this is the sandbox's pessimistic 6 GB).
KAGGLE_MAX_FILES = 1000
KAGGLE_MAX_DATASET_BYTES = 6_000_000_000


def published_file_count(files: list[dict]) -> int:
    """How many files Kaggle will count: Kaggle unpacks the archives Wharf makes of
    folders, so each entry of a folder counts (pessimistic: kaggle_sandbox B12)."""
    return sum(len(f.get("entries") or ()) or f.get("entry_count") or 1 for f in files)


def check_version_files(files: list[dict]) -> None:
    """Refuses a version (its frozen file list) that Kaggle would refuse, fail, or hold
    only in part, before anything is uploaded: names the client skips (files added before
    the rule existed, or a folder whose content changed since), then Kaggle's limits."""
    from django.template.defaultfilters import filesizeformat

    for entry in files:
        check_not_skipped_by_kaggle(entry["path"])
        if entry.get("entries"):
            check_folder_entries((e["path"] for e in entry["entries"]), f"'{entry['path']}'")
    count = published_file_count(files)
    if count > KAGGLE_MAX_FILES:
        raise ValidationError(
            f"This version has {count:,} files (folders count by their entries, as Kaggle "
            f"unpacks them); Kaggle takes at most {KAGGLE_MAX_FILES:,} in a dataset. Pack "
            "files into fewer folders' archives or split the dataset.",
            code="too_many_files",
        )
    total = sum(f.get("size") or 0 for f in files)
    if total > KAGGLE_MAX_DATASET_BYTES:
        raise ValidationError(
            f"This version is {filesizeformat(total)}; Kaggle fails datasets over "
            f"{filesizeformat(KAGGLE_MAX_DATASET_BYTES)} when it processes them. Remove or "
            "split files before submitting.",
            code="too_large",
        )
