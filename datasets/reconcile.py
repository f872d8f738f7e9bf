"""What Kaggle holds against what was approved: one line per difference, in words a
person understands.

"Published" means Kaggle holds exactly what the engineer approved, so after every publish
(and periodically, for changes made outside Wharf) the dataset is read back through the
adapter (`kaggle.dataset_read`) and compared here. Pure functions of plain dicts: the
caller reads, this module only compares.

Kaggle unpacks an uploaded archive into a folder of the same name (the sandbox ledger
records it), so a folder Wharf published as `images.zip` shows on Kaggle as the files
`images/<path inside>`; either form counts as present."""

from datasets.metadata import kaggle_metadata, member_resources, published_name

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
# A folder of a thousand files that did not arrive is one line, not a thousand.
NAMES_SHOWN = 5


def differences(snapshot: dict, files: list[dict], manifest: list[dict], kaggle: dict) -> list[str]:
    """`snapshot` is Submission.metadata, `files` Submission.files, `manifest` the staged
    files (path, size, sha256; empty for a metadata-only publish) and `kaggle` the
    `dataset_read` dict. Empty when Kaggle holds what was approved."""
    if not kaggle.get("exists", True):
        return ["The dataset is not on Kaggle (deleted, or the account can no longer see it)."]
    expected = kaggle_metadata(snapshot, files)
    held = kaggle.get("metadata") or {}
    lines = _file_differences(snapshot, files, manifest, kaggle.get("files") or [])
    lines += _metadata_differences(expected, held, kaggle.get("invalid_tags") or [])
    lines += _description_differences(snapshot, files, held, kaggle.get("files") or [])
    lines += _member_column_differences(snapshot, files, held, kaggle.get("files") or [])
    return lines


# --- files -----------------------------------------------------------------------------


def _archive_stem(name: str) -> str | None:
    lower = name.lower()
    return next((name[: -len(s)] for s in ARCHIVE_SUFFIXES if lower.endswith(s)), None)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    more = len(items) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _size_line(name: str, on_kaggle: int, approved: int) -> str:
    return f"{name} has {on_kaggle:,} bytes on Kaggle; {approved:,} were approved."


def _file_differences(snapshot, files, manifest, held_files) -> list[str]:
    packaging = snapshot.get("folder_packaging", "zip")
    staged = {m["path"]: m.get("size") for m in manifest or []}
    held = {f["name"]: f.get("size") for f in held_files}
    accounted: set[str] = set()
    lines: list[str] = []
    for entry in files:
        name = published_name(entry, packaging)
        if name in held:
            accounted.add(name)
            want = staged.get(name, entry.get("size") if entry.get("kind") != "folder" else None)
            if want is not None and held[name] is not None and held[name] != want:
                lines.append(_size_line(name, held[name], want))
            continue
        stem = _archive_stem(name)
        inside = {n for n in held if stem and n.startswith(f"{stem}/")}
        if not inside:
            lines.append(f"{name} is not on Kaggle.")
            continue
        accounted |= inside
        if entry.get("kind") != "folder":
            continue  # an archive the lab uploaded: Wharf does not know what it holds
        lines += _folder_differences(name, stem, entry.get("entries") or [], held)
    extra = sorted(n for n in held if n not in accounted)
    if extra:
        lines.append(f"Kaggle holds files that were not approved: {_names(extra)}.")
    return lines


def _folder_differences(name, stem, entries, held) -> list[str]:
    missing, resized = [], []
    for item in entries:
        path = f"{stem}/{item['path']}"
        if path not in held:
            missing.append(item["path"])
        elif held[path] is not None and held[path] != item.get("size"):
            resized.append(_size_line(path, held[path], item.get("size") or 0))
    lines = []
    if missing:
        count, verb = (f"{len(missing)} files", "are") if len(missing) != 1 else ("1 file", "is")
        lines.append(f"{count} of the folder {name} {verb} not on Kaggle: {_names(missing)}.")
    return lines + resized[:NAMES_SHOWN]


# --- metadata --------------------------------------------------------------------------


def _tag_key(tag: str) -> str:
    # Kaggle matches tags loosely ("Data-Visualization" is "data visualization").
    return " ".join(str(tag).replace("-", " ").replace("_", " ").lower().split())


def _text(value) -> str:
    return "\n".join(line.rstrip() for line in str(value or "").replace("\r\n", "\n").split("\n"))


def _shown(value: str, limit: int = 80) -> str:
    value = " ".join(value.split())
    return f"'{value[:limit]}…'" if len(value) > limit else f"'{value}'"


def _metadata_differences(expected: dict, held: dict, invalid_tags: list[str]) -> list[str]:
    lines = []
    for key, label in (("title", "title"), ("subtitle", "subtitle")):
        want, got = _text(expected.get(key)).strip(), _text(held.get(key)).strip()
        if want != got:
            lines.append(
                f"Kaggle shows {label} {_shown(got)}, approved {_shown(want)}."
                if got
                else f"Kaggle shows no {label}; approved {_shown(want)}."
            )
    want, got = _text(expected.get("description")).strip(), _text(held.get("description")).strip()
    if want != got:
        lines.append(
            "Kaggle shows no description; one was approved."
            if not got
            else f"Kaggle's description differs from the approved one (Kaggle: {_shown(got, 60)})."
        )
    want = [lic.get("name") for lic in expected.get("licenses") or []]
    got = [lic.get("name") for lic in held.get("licenses") or []]
    if [str(n).lower() for n in want] != [str(n).lower() for n in got]:
        lines.append(
            f"Kaggle shows the license {', '.join(map(str, got)) or 'none'}, "
            f"approved {', '.join(map(str, want))}."
        )
    lines += _keyword_differences(expected.get("keywords") or [], held, invalid_tags)
    if "isPrivate" in held and bool(held["isPrivate"]) != bool(expected.get("isPrivate")):
        lines.append(
            "Kaggle shows the dataset private; it was approved public."
            if held["isPrivate"]
            else "Kaggle shows the dataset public; it was approved private."
        )
    return lines


def _keyword_differences(approved: list[str], held: dict, invalid_tags: list[str]) -> list[str]:
    invalid = {_tag_key(t) for t in invalid_tags}
    if "keywords" in held:
        present = {_tag_key(t) for t in held.get("keywords") or []} - invalid
    else:
        present = {_tag_key(t) for t in approved} - invalid
    dropped = [k for k in approved if _tag_key(k) not in present]
    wanted = {_tag_key(k) for k in approved}
    added = [k for k in held.get("keywords") or [] if _tag_key(k) not in wanted]
    lines = []
    if dropped:
        lines.append(f"Kaggle dropped the keywords {', '.join(dropped)}.")
    if added:
        lines.append(f"Kaggle shows keywords that were not approved: {', '.join(added)}.")
    return lines


def _description_differences(snapshot, files, held: dict, held_files) -> list[str]:
    """File descriptions: only where Kaggle lists the file under its published name (an
    unpacked folder has no one file to carry the folder's description)."""
    if "resources" not in held:
        return []
    packaging = snapshot.get("folder_packaging", "zip")
    on_kaggle = {r.get("path"): _text(r.get("description")).strip() for r in held["resources"]}
    names = {f["name"] for f in held_files}
    lines = []
    for entry in files:
        name = published_name(entry, packaging)
        want = _text(entry.get("description")).strip()
        if name not in on_kaggle and name not in names:
            continue  # missing or unpacked: said above
        got = on_kaggle.get(name, "")
        if want != got:
            lines.append(
                f"Kaggle shows no description for {name}."
                if not got
                else f"Kaggle shows another description for {name}: {_shown(got, 60)}."
            )
    return lines


def _fields(fields) -> list[tuple[str, str, str]]:
    return [
        (
            str(f.get("name") or ""),
            str(f.get("type") or "").lower(),
            _text(f.get("description")).strip(),
        )
        for f in fields or []
    ]


def _member_column_differences(snapshot, files, held: dict, held_files) -> list[str]:
    """The columns of a folder's tabular entries, as Kaggle lists them after unpacking.
    They travel only by the metadata update after each version (Kaggle unpacks every
    version afresh), so a missed or refused update shows here. Entries Kaggle does not
    hold are said above."""
    if "resources" not in held:
        return []
    on_kaggle = {r.get("path"): (r.get("schema") or {}).get("fields") for r in held["resources"]}
    names = {f["name"] for f in held_files} | set(on_kaggle)
    bare, other = [], []
    for entry in files:
        for resource in member_resources(entry, snapshot):
            name = resource["path"]
            if name not in names:
                continue
            got = _fields(on_kaggle.get(name))
            if not got:
                bare.append(name)
            elif got != _fields(resource["schema"]["fields"]):
                other.append(name)
    lines = []
    if bare:
        lines.append(f"Kaggle shows no columns for {_names(bare)}; they were described.")
    if other:
        lines.append(f"Kaggle shows other columns than were approved for {_names(other)}.")
    return lines
