"""Kaggle's checks on dataset metadata, with the messages the client and Kaggle use.

Where the official client checks the same rule before calling (title, slug and
subtitle lengths), the sandbox answers with the client's own wording, so a caller
that skips the client-side check sees the same text.
"""

from __future__ import annotations

import re

# From Kaggle/kaggle-api docs/datasets_metadata.md (the list Kaggle accepts).
LICENSES = (
    "CC0-1.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-SA-4.0",
    "GPL-2.0",
    "ODbL-1.0",
    "DbCL-1.0",
    "copyright-authors",
    "other",
    "unknown",
    "CC-BY-4.0",
    "CC-BY-NC-4.0",
    "PDDL",
    "CC-BY-3.0",
    "CC-BY-3.0-IGO",
    "US-Government-Works",
    "CC-BY-NC-SA-3.0-IGO",
    "CDLA-Permissive-1.0",
    "CDLA-Sharing-1.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-4.0",
    "ODC-BY-1.0",
    "LGPL-3.0",
    "AGPL-3.0",
    "FDL-1.3",
    "EU-ODP-Legal-Notice",
    "apache-2.0",
    "GPL-3.0",
)

_SLUG_RE = re.compile(r"^[A-Za-z0-9-]+$")
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")

SLUG_CHARACTERS = 'Slug can only contain alphanumeric or "-" characters'
SLUG_LENGTH = "The dataset slug must be between 6 and 50 characters"
TITLE_LENGTH = "The dataset title must be between 6 and 50 characters"
SUBTITLE_LENGTH = "Subtitle length must be between 20 and 80 characters"
NO_FILES = "Please specify at least one file."
NOT_ALLOWED_OWNER = "You are not allowed to create a dataset as this owner."
NOT_FOUND = "Dataset not found"
UNRESOLVED = "Failed to resolve the necessary information from the request."
PUBLIC_TO_PRIVATE = "A public dataset cannot be made private again."
ONE_LICENSE = "Please specify exactly one license"
# kaggle-cli #399: the create is refused with this text, yet the dataset exists.
USABILITY_REFUSAL = "Cannot update dataset usability rating without a current dataset version"
# kaggle-cli #424: the 500 a create got although the dataset was being created.
INTERNAL_ERROR = (
    "An internal server error occurred. Please ensure that your API client is up to date. "
    "If it is, please report a bug at github.com/Kaggle/kaggle-api"
)
# kaggle-cli #361: a slug one of the owner's notebooks uses; Kaggle says no more.
BAD_REQUEST = "Bad Request"
# kaggle-cli #132 (flat envelope) and #931 (nested, with a gRPC status).
TOO_MANY_REQUESTS_FLAT = "TooManyRequests"
TOO_MANY_REQUESTS_NESTED = "Too many requests"


def slug_taken(slug: str) -> str:
    return (
        f'The requested slug "{slug}" is already in use by a dataset. Please choose another slug.'
    )


def title_taken(title: str) -> str:
    return (
        f'The requested title "{title}" is already in use by a dataset. '
        "Please choose another title."
    )


def too_many_files(limit: int) -> str:
    # Kaggle's answer, quoted in whirlwide/candlestick_retriever#15.
    return f"The file count exceeds the maximum of {limit}"


def too_large(size: int, limit: int) -> str:
    # kaggle-cli #424, as Kaggle staff quoted the processing error.
    return f"The size of your files is {size} bytes, it exceeds the maximum of {limit} bytes"


def slug_error(slug: str | None) -> str | None:
    slug = slug or ""
    if not _SLUG_RE.match(slug):
        return SLUG_CHARACTERS
    if not 6 <= len(slug) <= 50:
        return SLUG_LENGTH
    return None


def title_error(title: str | None) -> str | None:
    if not 6 <= len(title or "") <= 50:
        return TITLE_LENGTH
    return None


def subtitle_error(subtitle: str | None) -> str | None:
    if subtitle and not 20 <= len(subtitle) <= 80:
        return SUBTITLE_LENGTH
    return None


def license_error(name: str | None) -> str | None:
    if not name:
        return "Please specify exactly one license"
    if name not in LICENSES:
        return f'"{name}" is not a valid license. Valid licenses are: {", ".join(LICENSES)}'
    return None


def file_name_error(name: str | None) -> str | None:
    if not name or name in (".", "..") or _BAD_NAME_CHARS.search(name):
        return f"File name is not valid: {name!r}"
    return None
