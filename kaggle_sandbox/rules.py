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


def _tag_key(tag: str) -> str:
    return " ".join(tag.replace("-", " ").replace("_", " ").lower().split())


# A sample of Kaggle's tag vocabulary: keywords outside it come back in
# `invalidTags` (the dataset is still created, as on Kaggle).
TAG_NAMES = [
    "beginner",
    "intermediate",
    "advanced",
    "tutorial",
    "education",
    "research",
    "data visualization",
    "exploratory data analysis",
    "data cleaning",
    "data analytics",
    "classification",
    "regression",
    "clustering",
    "time series analysis",
    "forecasting",
    "nlp",
    "text",
    "text mining",
    "computer vision",
    "image",
    "image classification",
    "object detection",
    "deep learning",
    "neural networks",
    "machine learning",
    "statistical analysis",
    "tabular",
    "video",
    "audio",
    "signal processing",
    "geospatial analysis",
    "remote sensing",
    "satellite images",
    "biology",
    "chemistry",
    "physics",
    "mathematics",
    "medicine",
    "health",
    "healthcare",
    "public health",
    "mental health",
    "genetics",
    "bioinformatics",
    "neuroscience",
    "psychology",
    "diseases",
    "cancer",
    "drugs and medications",
    "earth and nature",
    "earth science",
    "environment",
    "climate change",
    "weather and climate",
    "oceans",
    "water bodies",
    "pollution",
    "agriculture",
    "animals",
    "plants",
    "forestry",
    "geology",
    "astronomy",
    "energy",
    "economics",
    "finance",
    "business",
    "employment",
    "housing",
    "demographics",
    "sports",
    "social science",
    "government",
    "politics",
    "law",
    "crime",
    "transportation",
    "cities and urban areas",
    "covid19",
    "computer science",
    "software",
    "internet",
    "social networks",
    "universities and colleges",
    "science and technology",
    "arts and entertainment",
    "music",
    "movies and tv shows",
    "games",
    "food",
    "travel",
    "history",
    "religion and belief systems",
    "categorical",
    "survey analysis",
    "laboratory experiments",
]


TAGS = frozenset(_tag_key(name) for name in TAG_NAMES)


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


def invalid_tags(keywords: list[str] | None) -> list[str]:
    return [k for k in keywords or [] if _tag_key(k) not in TAGS]


def file_name_error(name: str | None) -> str | None:
    if not name or name in (".", "..") or _BAD_NAME_CHARS.search(name):
        return f"File name is not valid: {name!r}"
    return None
