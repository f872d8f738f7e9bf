"""What Wharf sends to Kaggle: the metadata snapshot frozen in a submission, and the
exact `dataset-metadata.json` built from it (`isPrivate` always present: Kaggle reads
a missing value as public)."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from . import cover, tabular
from .models import Dataset
from .models.datasets import UpdateFrequency


@dataclass(frozen=True)
class MetadataField:
    """One field of a dataset's metadata. The form, the services, the API, the review
    page and the diff all read this list; adding a field here adds it everywhere."""

    name: str
    label: str
    # Frozen in each submission (so reviewed and diffed); the rest are Wharf's own.
    snapshot: bool = True
    # Set by the researcher (form and API); otherwise derived by a service.
    editable: bool = True
    # The form tab it is shown on.
    tab: str = ""
    # Accepted by the JSON API (a file is not).
    api: bool = True


SOURCES_MAX = 5000

BASICS, DESCRIPTION, PUBLISHING = "1. Basics", "2. Description", "3. Publishing"

METADATA_FIELDS = (
    MetadataField("kaggle_account", "Kaggle account (owner)", snapshot=False, tab=BASICS),
    MetadataField("owner_slug", "Kaggle owner", editable=False),
    MetadataField("title", "Title", tab=BASICS),
    MetadataField("slug", "Slug", tab=BASICS),
    MetadataField("subtitle", "Subtitle", tab=BASICS),
    MetadataField("description", "Description", tab=DESCRIPTION),
    MetadataField("keywords", "Keywords", tab=DESCRIPTION),
    MetadataField("license", "License", tab=DESCRIPTION),
    MetadataField("user_specified_sources", "Sources", tab=DESCRIPTION),
    MetadataField("cover_image", "Cover image", tab=DESCRIPTION, api=False),
    # Wharf's own (citations), not Kaggle's.
    MetadataField("creators", "Creators", snapshot=False, tab=DESCRIPTION, api=False),
    MetadataField("is_private", "Private on Kaggle", tab=PUBLISHING),
    MetadataField("source", "Where the files come from", snapshot=False, tab=PUBLISHING),
    MetadataField("folder_packaging", "Folder packaging", tab=PUBLISHING),
    MetadataField("expected_update_frequency", "Expected update frequency", tab=PUBLISHING),
    MetadataField("collaborators", "Kaggle collaborators", tab=PUBLISHING),
)

FIELDS_BY_NAME = {f.name: f for f in METADATA_FIELDS}
SNAPSHOT_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.snapshot)
EDITABLE_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.editable)
API_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.editable and f.api)
# What the API shows of a dataset: every field but the account row (shown as owner_slug)
# and files.
PUBLIC_FIELDS = tuple(f.name for f in METADATA_FIELDS if f.name != "kaggle_account" and f.api)
FIELD_LABELS = {f.name: f.label for f in METADATA_FIELDS}


def form_tabs() -> list[tuple[str, list[str]]]:
    """(tab, field names) in declaration order, for the dataset form's layout."""
    tabs: dict[str, list[str]] = {}
    for f in METADATA_FIELDS:
        if f.editable and f.tab:
            tabs.setdefault(f.tab, []).append(f.name)
    return list(tabs.items())


# Set in every snapshot taken since Wharf describes what is inside folders to Kaggle (a
# "Folders" section in the description, the columns of a folder's tables). A version
# approved before carries what its reviewer saw and approved: without either, and its
# read-back and drift watch expect neither (no false "edited on Kaggle").
FOLDER_CONTENTS = "describes_folder_contents"


def describes_folder_contents(snapshot: dict) -> bool:
    return bool(snapshot.get(FOLDER_CONTENTS))


def dataset_snapshot(dataset: Dataset) -> dict:
    snapshot = {field: getattr(dataset, field) for field in SNAPSHOT_FIELDS}
    snapshot[FOLDER_CONTENTS] = True
    snapshot["cover_image"] = dataset.cover_image.name or ""  # a file: its stored name
    if not snapshot["expected_update_frequency"]:
        snapshot["expected_update_frequency"] = schedule_frequency(dataset)
    return snapshot


class MetadataError(ValueError):
    """A metadata value Wharf refuses; the message says why, for a person."""


def lab_kaggle_usernames(labs) -> dict[str, str]:
    """{Kaggle username: the member's name} of the members of `labs` who gave one."""
    from .models import Profile

    rows = (
        Profile.objects.filter(user__memberships__lab__in=labs)
        .exclude(kaggle_username="")
        .values_list("kaggle_username", "user__username")
        .distinct()
    )
    return dict(rows)


def clean_collaborators(lab, value) -> list[dict]:
    """[{"username", "role"}] of lab members with a Kaggle username, each once."""
    from .models.datasets import CollaboratorRole

    known = lab_kaggle_usernames([lab])
    cleaned, seen = [], set()
    for item in value or []:
        if not isinstance(item, dict):
            raise MetadataError("Each collaborator is a username and a role.")
        username, role = str(item.get("username", "")), str(item.get("role", "")).lower()
        if username not in known:
            raise MetadataError(
                f"'{username[:50]}' is not the Kaggle username of a member of {lab.name} "
                "(members add theirs on their profile page)."
            )
        if role not in CollaboratorRole.values:
            raise MetadataError(f"A collaborator is a reader or a writer, not '{role[:20]}'.")
        if username in seen:
            raise MetadataError(f"{username} is listed twice; choose one role.")
        seen.add(username)
        cleaned.append({"username": username, "role": role})
    return cleaned


def schedule_frequency(dataset: Dataset) -> str:
    """The update frequency a dataset's schedule implies ('' without one): what Kaggle
    is told when the researcher did not say."""
    from django.core.exceptions import ObjectDoesNotExist

    try:
        schedule = dataset.schedule  # the accessor caches it for the page that shows it
    except ObjectDoesNotExist:
        return ""
    if not schedule.enabled:
        return ""
    if schedule.interval_minutes:
        minutes = schedule.interval_minutes
        for limit, word in ((60, "hourly"), (1440, "daily"), (10080, "weekly"),
                            (44640, "monthly"), (133920, "quarterly")):  # fmt: skip
            if minutes <= limit:
                return word
        return "annually"
    return _cron_frequency(schedule.cron)


def _cron_frequency(cron: str) -> str:
    parts = cron.split()
    if len(parts) != 5:
        return ""
    minute, hour, day, month, weekday = parts
    if hour == "*" or "/" in hour or "," in hour or "-" in hour or minute == "*":
        return "hourly"
    if day == "*" and weekday == "*":
        return "daily"
    if weekday != "*":
        return "weekly"
    if month == "*":
        return "monthly"
    return "quarterly" if len(month.split(",")) >= 4 else "annually"


def published_name(entry: dict, packaging: str) -> str:
    """The file name Kaggle will show for a file list entry: folders become archives."""
    if entry.get("kind") == "folder":
        return f"{entry['path']}.{'zip' if packaging == 'zip' else 'tar'}"
    return entry["path"]


# Keys of kaggle_metadata that only UpdateDatasetMetadata carries: the client's create
# and version ignore them (kaggle-client-notes.md, "dataset-metadata.json" table), so a
# create, or a version where one of them changed, needs the metadata update after it.
UPDATE_ONLY_KEYS = ("userSpecifiedSources", "expectedUpdateFrequency", "collaborators", "image")


def kaggle_metadata(snapshot: dict, files: list[dict]) -> dict:
    """`dataset-metadata.json` for a snapshot and its file list (dicts with path, kind,
    description), in the shape the official client reads."""
    metadata = {
        "title": snapshot["title"],
        "id": f"{snapshot['owner_slug']}/{snapshot['slug']}",
        "licenses": [{"name": snapshot["license"]}],
        "isPrivate": bool(snapshot["is_private"]),
        "keywords": list(snapshot.get("keywords") or []),
        "resources": [
            resource
            for entry in files
            for resource in (
                _resource(entry, snapshot.get("folder_packaging", "zip")),
                *member_resources(entry, snapshot),
            )
        ],
    }
    if snapshot.get("subtitle"):
        metadata["subtitle"] = snapshot["subtitle"]
    description = snapshot.get("description") or ""
    if describes_folder_contents(snapshot):
        description = kaggle_description(
            description, files, snapshot.get("folder_packaging", "zip")
        )
    if description:
        metadata["description"] = description
    # Only a metadata update carries these (create and version ignore them); when
    # absent the client sends them empty, which is Wharf's state too.
    if snapshot.get("user_specified_sources"):
        metadata["userSpecifiedSources"] = snapshot["user_specified_sources"]
    if snapshot.get("expected_update_frequency"):
        metadata["expectedUpdateFrequency"] = snapshot["expected_update_frequency"]
    if snapshot.get("cover_image"):
        # The client's metadata update uploads `image` (a path joined to the metadata's
        # folder: an absolute one stands) with Kaggle's two fixed crops; create and
        # version ignore it. The worker reads Wharf's sanitised copy.
        metadata["image"] = str(Path(settings.MEDIA_ROOT) / snapshot["cover_image"])
    if snapshot.get("collaborators"):
        metadata["collaborators"] = [
            {"username": c["username"], "role": c["role"]} for c in snapshot["collaborators"]
        ]
    return metadata


FOLDERS_HEADING = "## Folders"


def kaggle_description(description: str, files: list[dict], packaging: str) -> str:
    """The dataset description Kaggle gets: the researcher's, then a "Folders" section with
    each described folder's description. Kaggle unpacks a folder's archive into its files,
    so the archive's own resource (and its description) is gone on Kaggle; the dataset
    description is the one place Kaggle shows for what a folder holds, and it travels
    (and is read back) with the rest of the metadata."""
    folders = [
        (entry["path"], entry["description"].strip())
        for entry in files
        if entry.get("kind") == "folder" and (entry.get("description") or "").strip()
    ]
    if not folders:
        return description
    archive = "zip" if packaging == "zip" else "tar"
    lines = [
        FOLDERS_HEADING,
        "",
        f"Each folder was uploaded as one .{archive} archive, which Kaggle unpacks into "
        "the files listed under the folder's name.",
    ]
    for path, text in folders:
        lines += ["", f"### `{path}/`", "", text]
    section = "\n".join(lines)
    return f"{description.rstrip()}\n\n{section}" if description.strip() else section


def _resource(entry: dict, packaging: str) -> dict:
    resource = {
        "path": published_name(entry, packaging),
        "description": entry.get("description", ""),
    }
    # An archive has no columns of its own: its tabular entries are described by
    # `member_resources`, under the names Kaggle gives them once it unpacked it.
    if entry.get("columns") and entry.get("kind") != "folder":
        resource["schema"] = {"fields": tabular.schema_fields(entry["columns"])}
    return resource


def member_name(folder: str, relpath: str) -> str:
    """The name Kaggle shows for an entry of a folder: Kaggle unpacks the folder's archive
    into a folder of the archive's name (kaggle_sandbox FIDELITY.md B33)."""
    return f"{folder}/{relpath}"


def member_resources(entry: dict, snapshot: dict) -> list[dict]:
    """One resource per tabular entry of a folder whose columns are known, named as Kaggle
    shows it after unpacking. A create or version request describes only the files it
    uploads (the archive), so these reach Kaggle only by the metadata update that follows
    the version (`update_after_every_version`)."""
    if entry.get("kind") != "folder" or not describes_folder_contents(snapshot):
        return []
    return [
        {
            "path": member_name(entry["path"], relpath),
            # Wharf has no description of its own for an entry (the folder's goes into
            # the dataset description); sent empty so Kaggle holds what Wharf shows.
            "description": "",
            "schema": {"fields": tabular.schema_fields(columns)},
        }
        for relpath, columns in (entry.get("entry_columns") or {}).items()
        if columns
    ]


def update_after_every_version(snapshot: dict, files: list[dict]) -> bool:
    """Whether every version of these files needs the metadata update after it, whatever
    changed: Kaggle unpacks a folder's archive afresh on each version, and the unpacked
    entries have no columns until the update describes them (`member_resources`)."""
    return any(member_resources(entry, snapshot) for entry in files)


def file_entry(item) -> dict:
    """What a DatasetFile contributes to the metadata: frozen into each submission's
    file list, and read by `kaggle_metadata`."""
    entry = {"path": item.path, "kind": item.kind, "description": item.description}
    if item.columns:
        entry["columns"] = item.columns
    if item.entry_columns:
        entry["entry_columns"] = item.entry_columns
    return entry


def file_entries(files) -> list[dict]:
    return [file_entry(f) for f in files]


def current_files(dataset: Dataset) -> list[dict]:
    return file_entries(dataset.files.all())


def shown_metadata(metadata: dict) -> dict:
    """kaggle_metadata as people see it (pages, downloads, the API): the cover is named
    as the client finds it beside dataset-metadata.json, never by its path on Wharf's
    server."""
    if "image" not in metadata:
        return metadata
    return {**metadata, "image": cover.KAGGLE_NAME}


def dataset_kaggle_metadata(dataset: Dataset) -> dict:
    """The metadata Wharf would send if the dataset were submitted now."""
    return kaggle_metadata(dataset_snapshot(dataset), current_files(dataset))


# --- Frictionless Data Package ----------------------------------------------------------

MEDIA_TYPES = {".csv": "text/csv", ".tsv": "text/tab-separated-values", ".json": "application/json"}


def _package_name(text: str) -> str:
    import re

    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return name or "resource"


def datapackage(submission, manifest: list[dict] | None = None, url: str = "") -> dict:
    """A version as a Frictionless Data Package (datapackage.json): one resource per
    published file, and per entry of a folder (what Kaggle unpacks), with its size,
    sha256 (from the staged manifest, or the entry's own hash) and columns. The
    "continuous data" scripts wrote this format."""
    snapshot = submission.metadata
    hashes = {e["path"]: e.get("sha256", "") for e in manifest or []}
    resources, names = [], set()

    def add(path: str, size: int, sha256: str, columns, description: str = ""):
        name = _package_name(path)
        while name in names:
            name += "-1"
        names.add(name)
        suffix = Path(path).suffix.lower()
        resource = {"name": name, "path": path, "bytes": size}
        if suffix:
            resource["format"] = suffix.lstrip(".")
        if suffix in MEDIA_TYPES:
            resource["mediatype"] = MEDIA_TYPES[suffix]
        if sha256:
            resource["hash"] = f"sha256:{sha256}"
        if description:
            resource["description"] = description
        if columns:
            resource["schema"] = {"fields": tabular.schema_fields(columns)}
        resources.append(resource)

    for entry in submission.files:
        if entry.get("kind") == "folder":
            described = entry.get("entry_columns") or {}
            for item in entry.get("entries", []):
                add(
                    member_name(entry["path"], item["path"]),
                    item["size"],
                    item.get("sha256", ""),
                    described.get(item["path"]),
                )
        else:
            add(
                entry["path"],
                entry["size"],
                hashes.get(entry["path"]) or entry.get("sha256", ""),
                entry.get("columns"),
                entry.get("description", ""),
            )
    package = {
        "name": _package_name(snapshot["slug"]),
        "id": f"{snapshot['owner_slug']}/{snapshot['slug']}",
        "title": snapshot["title"],
        "version": str(submission.number),
        "licenses": [{"name": snapshot["license"]}],
        "keywords": list(snapshot.get("keywords") or []),
        "resources": resources,
    }
    if snapshot.get("subtitle") or snapshot.get("description"):
        package["description"] = snapshot.get("description") or snapshot["subtitle"]
    if snapshot.get("user_specified_sources"):
        package["sources"] = [{"title": snapshot["user_specified_sources"]}]
    if url:
        package["homepage"] = url
    return package


# --- Starting from an existing descriptor ---------------------------------------------

DESCRIPTOR_NAMES = ("datapackage.json", "dataset-metadata.json")
DESCRIPTOR_MAX_BYTES = 1024 * 1024


def descriptor_read(path) -> dict:
    """A datapackage.json or dataset-metadata.json read from lab storage (at most
    DESCRIPTOR_MAX_BYTES). Raises MetadataError with the reason."""
    import json

    if Path(path).name not in DESCRIPTOR_NAMES:
        raise MetadataError("Choose a datapackage.json or dataset-metadata.json file.")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(DESCRIPTOR_MAX_BYTES + 1)
    except OSError as exc:
        raise MetadataError(f"It cannot be read: {exc.strerror}.") from None
    if len(raw) > DESCRIPTOR_MAX_BYTES:
        raise MetadataError("It is larger than 1 MB; that is not a metadata file.")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(f"It is not valid JSON ({str(exc)[:120]}).") from None
    if not isinstance(data, dict):
        raise MetadataError("It is JSON, but not an object of metadata.")
    return data


def _text(value, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def initial_from_descriptor(data: dict) -> dict:
    """Form values from a Frictionless Data Package or a Kaggle dataset-metadata.json
    (also the {"info": ...} one `kaggle datasets metadata` downloads). Only prefills:
    the form's own checks still decide, and nothing is published without review."""
    import re

    from datasets import rules

    data = data.get("info") if isinstance(data.get("info"), dict) else data
    initial = {}
    slug = data.get("datasetSlug") or str(data.get("id") or "").rpartition("/")[2]
    slug = slug or data.get("name") or ""
    if isinstance(slug, str) and slug:
        initial["slug"] = re.sub(r"[^A-Za-z0-9]+", "-", slug).strip("-")[:50]
    for key, name, limit in (
        ("title", "title", 50),
        ("subtitle", "subtitle", 80),
        ("description", "description", rules.DESCRIPTION_MAX),
    ):
        if _text(data.get(key), limit):
            initial[name] = _text(data.get(key), limit)
    keywords = data.get("keywords")
    if isinstance(keywords, list):
        initial["keywords"] = [k.strip() for k in keywords if isinstance(k, str) and k.strip()]
    licenses = data.get("licenses")
    if isinstance(licenses, list) and licenses and isinstance(licenses[0], dict):
        name = licenses[0].get("name")
        if name in rules.LICENSES:
            initial["license"] = name
    if isinstance(data.get("isPrivate"), bool):
        initial["is_private"] = data["isPrivate"]
    sources = _text(data.get("userSpecifiedSources"), SOURCES_MAX)
    if not sources and isinstance(data.get("sources"), list):
        parts = [
            " ".join(str(s.get(k, "")) for k in ("title", "path") if s.get(k))
            for s in data["sources"]
            if isinstance(s, dict)
        ]
        sources = "\n".join(p for p in parts if p)[:SOURCES_MAX]
    if sources:
        initial["user_specified_sources"] = sources
    frequency = data.get("expectedUpdateFrequency")
    if isinstance(frequency, str) and frequency.lower() in UpdateFrequency.values:
        initial["expected_update_frequency"] = frequency.lower()
    return initial
