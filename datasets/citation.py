"""How to cite a published dataset: BibTeX and CITATION.cff, with the lab members who
made it as authors (ORCID iDs when they gave one), the Kaggle URL and the version."""

import re

ORCID_RE = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")


class CitationError(ValueError):
    pass


def check_orcid(value: str) -> str:
    """An ORCID iD (0000-0002-1825-0097), its check digit verified (ISO 7064 11-2)."""
    value = value.strip().upper().removeprefix("HTTPS://ORCID.ORG/")
    if not ORCID_RE.match(value):
        raise CitationError("An ORCID iD looks like 0000-0002-1825-0097.")
    digits = value.replace("-", "")
    total = 0
    for char in digits[:-1]:
        total = (total + int(char)) * 2
    check = (12 - total % 11) % 11
    if digits[-1] != ("X" if check == 10 else str(check)):
        raise CitationError("That ORCID iD's last digit does not match; check it for a typo.")
    return value


def _published(dataset):
    """(version number, date, Kaggle URL) of the newest published version, or None."""
    from datasets.models import JobState

    job = (
        dataset.jobs.filter(state=JobState.PUBLISHED)
        .select_related("submission")
        .order_by("-finished_at", "-id")
        .first()
    )
    if job is None:
        return None
    number = job.kaggle_version or job.submission.number
    when = job.finished_at or job.created_at
    url = job.kaggle_url or dataset.kaggle_url or f"https://www.kaggle.com/datasets/{dataset.ref}"
    return number, when.date(), url


def authors(dataset) -> list[dict]:
    """The dataset's creators in the order chosen (else who registered it):
    {"given", "family", "name", "orcid"}."""
    from django.contrib.auth import get_user_model

    from datasets.models import Profile

    ids = [int(i) for i in dataset.creators or []] or (
        [dataset.created_by_id] if dataset.created_by_id else []
    )
    users = get_user_model().objects.in_bulk(ids)
    orcids = dict(Profile.objects.filter(user_id__in=ids).values_list("user_id", "orcid"))
    found = []
    for pk in ids:
        user = users.get(pk)
        if user is None:
            continue
        given, family = user.first_name.strip(), user.last_name.strip()
        found.append(
            {
                "given": given,
                "family": family,
                "name": user.get_username() if not (given or family) else "",
                "orcid": orcids.get(pk) or "",
            }
        )
    return found


_BIBTEX_SPECIAL = {c: "\\" + c for c in "{}%&$#_"}
_BIBTEX_SPECIAL.update({"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"})


def _bib(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(c, c) for c in text.replace("\n", " "))


def bibtex(dataset) -> str | None:
    published = _published(dataset)
    if published is None:
        return None
    number, when, url = published
    names = [
        f"{_bib(a['family'])}, {_bib(a['given'])}"
        if a["family"]
        else "{" + _bib(a["name"] or a["given"]) + "}"
        for a in authors(dataset)
    ] or ["{" + _bib(dataset.lab.name) + "}"]
    key = f"{dataset.owner_slug}_{dataset.slug}_v{number}".replace("-", "_")
    fields = [
        ("author", " and ".join(names)),
        ("title", "{" + _bib(dataset.title) + "}"),
        ("year", str(when.year)),
        ("publisher", "Kaggle"),
        ("version", str(number)),
        ("url", url),
        ("note", f"Version {number}, {when.isoformat()}"),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}\n"


def _yaml(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    import json

    return json.dumps(text, ensure_ascii=False)


def citation_cff(dataset) -> str | None:
    """CITATION.cff (Citation File Format 1.2.0)."""
    published = _published(dataset)
    if published is None:
        return None
    number, when, url = published
    lines = [
        "cff-version: 1.2.0",
        'message: "If you use this dataset, please cite it as below."',
        "type: dataset",
        f"title: {_yaml(dataset.title)}",
        f"version: {_yaml(str(number))}",
        f"date-released: {when.isoformat()}",
        f"url: {_yaml(url)}",
        "authors:",
    ]
    people = authors(dataset)
    for a in people:
        if a["family"]:
            lines.append(f"  - family-names: {_yaml(a['family'])}")
            if a["given"]:
                lines.append(f"    given-names: {_yaml(a['given'])}")
        else:
            lines.append(f"  - name: {_yaml(a['name'] or a['given'])}")
        if a["orcid"]:
            lines.append(f"    orcid: {_yaml('https://orcid.org/' + a['orcid'])}")
    if not people:
        lines.append(f"  - name: {_yaml(dataset.lab.name)}")
    if dataset.license not in ("other", "unknown", ""):
        lines.append(f"license: {_yaml(dataset.license)}")
    if dataset.keywords:
        lines.append("keywords:")
        lines += [f"  - {_yaml(k)}" for k in dataset.keywords]
    if dataset.subtitle:
        lines.append(f"abstract: {_yaml(dataset.subtitle)}")
    return "\n".join(lines) + "\n"
