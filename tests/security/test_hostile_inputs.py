"""Hostile inputs, through the same doors people and pipelines use: the web forms, the
API, uploads, paths on lab storage, archives, and what Kaggle answers.

Every case asserts a clear answer (a 4xx, or the form again with a message that says
what to change) and never a 5xx; that nothing outside the lab's storage roots is read
or shown; and that markup typed into any field is stored as the text it is and shown
inert (escaped, or sanitised for Markdown), so no script runs when a page shows it.
(The pages also send a nonce-only Content-Security-Policy: tests/security/test_settings.py.)
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import stat
import tarfile
import threading
import unicodedata
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from datasets import publishing, rules, staging
from datasets.api.tokens import token_create
from datasets.kaggle import runner
from datasets.kaggle.runner import Credentials
from datasets.models import (
    Dataset,
    DatasetFile,
    JobState,
    LabPattern,
    Membership,
    PublishJob,
    Role,
    StorageRoot,
    Submission,
    Webhook,
    WebhookDelivery,
)
from datasets.services.labs import invitation_create
from portal.celery import app as celery_app
from tests.builders import Team, make_survey
from tests.security.clients import api, web

from .test_authorization_matrix import POLICY

pytestmark = pytest.mark.django_db

SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"
MB = 1024 * 1024

# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


@pytest.fixture
def rival(tmp_path):
    return Team(tmp_path / "rival-storage", owner="rival-lab", username="rival", key="rival-key")


@pytest.fixture
def outside(tmp_path):
    """A folder beside the storage root with a secret in it: it must never be read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


def form_data(team, **overrides):
    data = {
        "lab": team.lab.pk,
        "kaggle_account": team.account.pk,
        "slug": "dawn-chorus",
        "title": "Dawn chorus",
        "subtitle": "Bird song at first light, twelve sites",
        "description": "Recordings from **twelve** sites.",
        "license": "CC-BY-4.0",
        "keywords": "birds, audio",
        "is_private": "on",
        "source": "upload",
        "folder_packaging": "zip",
    }
    data.update(overrides)
    return data


def api_data(team, **overrides):
    data = {
        "lab": team.lab.pk,
        "slug": "dawn-chorus",
        "title": "Dawn chorus",
        "subtitle": "Bird song at first light, twelve sites",
        "license": "CC-BY-4.0",
    }
    data.update(overrides)
    return data


def page(response) -> str:
    assert response.status_code < 500, response.status_code
    return response.content.decode()


class _Markup(HTMLParser):
    """Everything in a page that could run a script."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.live.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value:
                scheme = "".join(value.split()).lower()
                if scheme.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.live.append(f"<{tag} {name}={value}>")
        if tag in ("iframe", "object", "embed", "base"):
            self.live.append(f"<{tag}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.live.append(f"<script>{data[:40]}")


def assert_inert(text: str) -> None:
    parser = _Markup()
    parser.feed(text)
    assert parser.live == [], f"live markup on the page: {parser.live}"


def assert_shown_as_text(text: str, payload: str) -> None:
    """The payload appears escaped (as text a person can read), never as markup."""
    assert_inert(text)
    if "<" in payload or ">" in payload or '"' in payload:
        assert payload not in text, "the payload reached the page unescaped"
    assert html.escape(payload, quote=False) in text.replace("&#x27;", "'").replace(
        "&quot;", '"'
    ), "the payload is not shown as text"


def assert_refused(response, *words) -> str:
    """A form shown again (200/400) or an API 400, with a message that says why."""
    assert response.status_code in (200, 400), response.status_code
    text = response.content.decode()
    if response.status_code == 200:
        assert "invalid-feedback" in text or "alert-danger" in text or "errorlist" in text, (
            "the form came back without saying what is wrong"
        )
    for word in words:
        assert word.lower() in html.unescape(text).lower(), f"no '{word}' in the answer"
    return text


# --- 1. markup and template syntax in every text field -------------------------------------

SCRIPT = "<script>alert('wharf')</script>"
IMG = '<img src=x onerror="alert(1)">'
TEMPLATE = "{{ request.user.password }}{% debug %}"
PAYLOADS = {"script": SCRIPT, "img-onerror": IMG, "template": TEMPLATE}


def _dataset_field(field):
    def flow(team, payload):
        values = {
            "title": {"title": payload},
            "subtitle": {"subtitle": f"{payload} of the buoys"},
            "keywords": {"keywords": f"birds, {payload}"},
        }[field]
        client = web(team.ada)
        response = client.post(reverse("datasets:dataset_create"), form_data(team, **values))
        assert response.status_code == 302, page(response)
        dataset = Dataset.objects.get(slug="dawn-chorus")
        stored = {
            "title": dataset.title,
            "subtitle": dataset.subtitle,
            "keywords": dataset.keywords[-1] if dataset.keywords else "",
        }[field]
        shown = payload.lower() if field == "keywords" else payload
        assert stored.startswith(shown)
        urls = [reverse("datasets:dataset_detail", args=[dataset.pk])]
        if field == "title":
            urls.append(reverse("datasets:dataset_list"))
        return client, urls, shown

    return flow


def _upload_with(team, dataset, **kwargs):
    client = web(team.ada)
    data = {"files": SimpleUploadedFile(kwargs.pop("name", "readings.csv"), b"a,b\n1,2\n")}
    data.update(kwargs)
    return client, client.post(reverse("datasets:file_upload", args=[dataset.pk]), data)


def _file_description(team, payload):
    dataset = team.dataset()
    client, response = _upload_with(team, dataset, description=payload)
    assert response.status_code == 302, page(response)
    assert DatasetFile.objects.get(dataset=dataset).description == payload
    return client, [reverse("datasets:dataset_detail", args=[dataset.pk])], payload


def _file_name(team, payload):
    dataset = team.dataset()
    name = payload.replace("/", "") + ".csv"  # a file name has no '/'
    client, response = _upload_with(team, dataset, name=name)
    assert response.status_code == 302, page(response)
    assert DatasetFile.objects.get(dataset=dataset).path == name
    return client, [reverse("datasets:dataset_detail", args=[dataset.pk])], name


def _submitted(team, slug="ocean-temps"):
    dataset = team.dataset(slug=slug)
    team.upload(dataset, "readings.csv", b"a,b\n1,2\n")
    return dataset


def _version_notes(team, payload):
    dataset = _submitted(team)
    client = web(team.ada)
    url = reverse("datasets:submission_create", args=[dataset.pk])
    response = client.post(url, {"version_notes": payload})
    assert response.status_code == 302, page(response)
    submission = Submission.objects.get(dataset=dataset)
    assert submission.version_notes == payload
    return client, [reverse("datasets:review", args=[submission.pk])], payload


def _review_text(action, field):
    def flow(team, payload):
        submission = team.submit(_submitted(team))
        client = web(team.grace)
        url = reverse(f"datasets:{action}", args=[submission.pk])
        response = client.post(url, {field: payload})
        assert response.status_code == 302, page(response)
        submission.refresh_from_db()
        urls = [reverse("datasets:review", args=[submission.pk])]
        if action == "submission_return":
            assert submission.dataset.return_reason == payload
            urls.append(reverse("datasets:dataset_detail", args=[submission.dataset_id]))
        elif action == "comment_add":
            assert submission.comments.get().text == payload
        else:
            assert submission.review_note == payload
        return client, urls, payload

    return flow


def _storage_root_name(team, payload):
    (team.storage / "second").mkdir()
    client = web(team.grace)
    url = reverse("datasets:storageroot_add", args=[team.lab.slug])
    from django.test import override_settings

    with override_settings(STORAGE_ROOTS_ALLOWED_UNDER=[str(team.storage)]):
        response = client.post(url, {"name": payload, "path": str(team.storage / "second")})
    assert response.status_code == 302, page(response)
    assert StorageRoot.objects.filter(lab=team.lab, name=payload).exists()
    return client, [reverse("datasets:lab_settings", args=[team.lab.slug])], payload


def _token_name(team, payload):
    client = web(team.ada)
    response = client.post(reverse("tokens:create"), {"name": payload})
    assert response.status_code == 200
    assert_inert(page(response))
    assert team.ada.api_tokens.get().name == payload
    return client, [reverse("tokens:list")], payload


def _search_query(where):
    def flow(team, payload):
        client = web(team.ada)
        return client, [reverse(where) + "?" + urlencode({"q": payload})], payload

    return flow


def _storage_browse_path(team, payload):
    dataset = team.dataset()
    client = web(team.ada)
    url = reverse("datasets:storage_browse", args=[dataset.pk])
    return client, [f"{url}?{urlencode({'root': team.root.pk, 'path': payload})}"], payload


FIELDS = {
    "dataset title": _dataset_field("title"),
    "dataset subtitle": _dataset_field("subtitle"),
    "dataset keywords": _dataset_field("keywords"),
    "file description": _file_description,
    "file name": _file_name,
    "version notes": _version_notes,
    "comment": _review_text("comment_add", "text"),
    "return reason": _review_text("submission_return", "reason"),
    "approval note": _review_text("submission_approve", "note"),
    "storage root name": _storage_root_name,
    "API token name": _token_name,
    "dataset search": _search_query("datasets:dataset_list"),
    "history search": _search_query("datasets:history"),
    "storage browser path": _storage_browse_path,
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("field", FIELDS)
def test_markup_in_a_text_field_is_kept_as_text_and_shown_inert(team, field, payload):
    client, urls, shown = FIELDS[field](team, payload)
    for url in urls:
        text = page(client.get(url))
        assert_shown_as_text(text, shown)
        # Template syntax in data is never evaluated.
        assert team.ada.password not in text and "TEMPLATE_DEBUG" not in text


MARKDOWN = {
    "script": "Intro <script>alert('wharf')</script> outro",
    "img-onerror": 'Look ![x](y) <img src=x onerror="alert(1)">',
    "javascript-link": "[click me](javascript:alert(1)) and <a href='javascript:alert(2)'>x</a>",
    "svg": "<svg><script>alert(1)</script></svg><svg onload=alert(3)>",
    "iframe": "<iframe src='https://evil.example'></iframe><style>body{display:none}</style>",
    "template": "{{ request.user.password }} {% debug %}",
}


@pytest.mark.parametrize("text", MARKDOWN.values(), ids=MARKDOWN.keys())
def test_markdown_description_is_stored_verbatim_and_shown_sanitised(team, text):
    dataset = team.dataset(description=text)
    client = web(team.ada)
    dataset.refresh_from_db()
    assert dataset.description == text
    shown = page(client.get(reverse("datasets:dataset_detail", args=[dataset.pk])))
    assert_inert(shown)
    assert "<iframe" not in shown and "<style>body" not in shown
    preview = client.post(reverse("datasets:markdown_preview"), {"description": text})
    assert preview.status_code == 200
    assert_inert(page(preview))


@pytest.mark.parametrize("payload", [SCRIPT, IMG], ids=["script", "img-onerror"])
def test_markup_sent_to_the_api_comes_back_as_json_text(team, payload):
    client = api(team.ada)
    response = client.post(
        reverse("api:datasets"), api_data(team, title=payload, subtitle=payload * 2), format="json"
    )
    assert response.status_code == 201, response.content
    body = client.get(reverse("api:dataset", args=[response.json()["id"]]))
    assert body["Content-Type"].startswith("application/json")
    assert body["X-Content-Type-Options"] == "nosniff"
    assert body.json()["title"] == payload


# --- 2. NUL, control characters and direction overrides -------------------------------------

CONTROL = {
    "nul": "Ocean\x00temps",
    "escape": "Ocean \x1b[31mtemps",
    "bell": "Ocean temps\x07",
    "rtl-override": "Ocean \u202espmet",
    "rtl-isolate": "Ocean \u2067temps\u2069",
}


@pytest.mark.parametrize("value", CONTROL.values(), ids=CONTROL.keys())
def test_control_characters_in_a_title_are_refused_on_the_web(team, value):
    response = web(team.ada).post(reverse("datasets:dataset_create"), form_data(team, title=value))
    assert_refused(response)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("value", CONTROL.values(), ids=CONTROL.keys())
def test_control_characters_in_a_title_are_refused_by_the_api(team, value):
    response = api(team.ada).post(
        reverse("api:datasets"), api_data(team, title=value), format="json"
    )
    assert response.status_code == 400, response.content
    assert "title" in response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "Readings\x00 from buoys"),
        ("keywords", "birds, bad\u202eword"),
        ("subtitle", "Daily readings \x1b from twelve buoys"),
    ],
)
def test_control_characters_in_other_dataset_fields_are_refused(team, field, value):
    response = web(team.ada).post(
        reverse("datasets:dataset_create"), form_data(team, **{field: value})
    )
    assert_refused(response)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["report\u202efdp.exe", "tab\there.csv", "zero\u200bwidth.csv"],
    ids=["rtl-override", "tab", "zero-width"],
)
def test_invisible_or_control_characters_in_a_file_name_are_refused(team, name):
    dataset = team.dataset()
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"file": SimpleUploadedFile("ok.csv", b"1\n"), "path": name},
        format="multipart",
    )
    assert response.status_code == 400
    assert "characters" in response.json()["path"][0]
    # A browser upload's own file name loses such characters on the way in (Django's
    # multipart parser); either way none reaches the stored name.
    _client, response = _upload_with(team, dataset, name=name)
    assert response.status_code in (302, 400)
    for stored in dataset.files.values_list("path", flat=True):
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in stored), stored


@pytest.mark.parametrize(
    ("url_name", "field"),
    [("comment_add", "text"), ("submission_return", "reason")],
)
def test_nul_in_review_text_is_refused(team, url_name, field):
    submission = team.submit(_submitted(team))
    response = web(team.grace).post(
        reverse(f"datasets:{url_name}", args=[submission.pk]), {field: "Please\x00fix"}
    )
    assert_refused(response, "null")
    submission.refresh_from_db()
    assert submission.state == "pending_review" and not submission.comments.exists()


def test_control_characters_in_version_notes_and_token_names_are_refused(team):
    dataset = _submitted(team)
    client = web(team.ada)
    response = client.post(
        reverse("datasets:submission_create", args=[dataset.pk]), {"version_notes": "v\x1b2"}
    )
    assert_refused(response, "control")
    assert not Submission.objects.exists()
    response = client.post(reverse("tokens:create"), {"name": "ci\x1b[2J"})
    assert_refused(response, "control")
    assert not team.ada.api_tokens.exists()


# --- 3. ten-megabyte strings ------------------------------------------------------------------

HUGE = "x" * (10 * MB)


@pytest.mark.parametrize("field", ["title", "description", "keywords"])
def test_ten_megabytes_in_a_web_form_is_a_400_not_a_500(team, field):
    response = web(team.ada).post(
        reverse("datasets:dataset_create"), form_data(team, **{field: HUGE})
    )
    assert response.status_code in (400, 413)
    assert not Dataset.objects.exists()


def test_ten_megabytes_in_a_multipart_upload_field_is_refused(team):
    dataset = team.dataset()
    _client, response = _upload_with(team, dataset, description=HUGE)
    assert response.status_code in (400, 413)
    assert not dataset.files.exists()


def test_ten_megabytes_in_a_comment_is_refused(team):
    submission = team.submit(_submitted(team))
    response = web(team.grace).post(
        reverse("datasets:comment_add", args=[submission.pk]), {"text": HUGE}
    )
    assert response.status_code in (400, 413)
    assert not submission.comments.exists()


@pytest.mark.parametrize("field", ["title", "description", "slug"])
def test_ten_megabytes_in_api_json_is_refused(team, field):
    response = api(team.ada).post(
        reverse("api:datasets"), api_data(team, **{field: HUGE}), format="json"
    )
    assert response.status_code in (400, 413), response.status_code
    assert not Dataset.objects.exists()


def test_a_megabyte_search_query_is_harmless(team):
    client = web(team.ada)
    for name in ("datasets:dataset_list", "datasets:history"):
        response = client.get(reverse(name), {"q": "y" * MB})
        assert response.status_code == 200


# --- 4. Kaggle's lengths, one either side ------------------------------------------------------

LENGTHS = [
    ("title", 5, False), ("title", 6, True), ("title", 50, True), ("title", 51, False),
    ("slug", 5, False), ("slug", 6, True), ("slug", 50, True), ("slug", 51, False),
    ("subtitle", 19, False), ("subtitle", 20, True), ("subtitle", 80, True),
    ("subtitle", 81, False),
]  # fmt: skip


def _of_length(field, n):
    return ("a" * n) if field == "slug" else ("T" * n)


@pytest.mark.parametrize(("field", "n", "ok"), LENGTHS, ids=[f"{f}-{n}" for f, n, _ in LENGTHS])
def test_kaggle_lengths_on_the_web(team, field, n, ok):
    value = _of_length(field, n)
    response = web(team.ada).post(
        reverse("datasets:dataset_create"), form_data(team, **{field: value})
    )
    if ok:
        assert response.status_code == 302, page(response)
        assert getattr(Dataset.objects.get(), field) == value
    else:
        lo, hi = {"title": (6, 50), "slug": (6, 50), "subtitle": (20, 80)}[field]
        assert_refused(response, f"{lo}–{hi} characters")
        assert not Dataset.objects.exists()


@pytest.mark.parametrize(("field", "n", "ok"), LENGTHS, ids=[f"{f}-{n}" for f, n, _ in LENGTHS])
def test_kaggle_lengths_on_the_api(team, field, n, ok):
    value = _of_length(field, n)
    response = api(team.ada).post(
        reverse("api:datasets"), api_data(team, **{field: value}), format="json"
    )
    if ok:
        assert response.status_code == 201, response.content
        assert response.json()[field] == value
    else:
        assert response.status_code == 400
        assert field in response.json()
        assert "characters" in response.json()[field][0]


# --- 5. file names ------------------------------------------------------------------------------

BAD_NAMES = {
    "dot-dot": "../../etc/passwd",
    "absolute": "/etc/passwd",
    "backslash": "..\\..\\windows\\win.ini",
    "just-dot-dot": "..",
    "hidden": ".htaccess",
    "CON": "CON",
    "con.txt": "con.txt",
    "LPT1.csv": "LPT1.csv",
    "2000-chars": "n" * 2000 + ".csv",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_a_bad_file_name_is_refused_by_the_api(team, name):
    dataset = team.dataset()
    upload = SimpleUploadedFile("ok.csv", b"a,b\n1,2\n")
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]), {"file": upload, "path": name}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert not dataset.files.exists()


@pytest.mark.parametrize(
    "name", ["../x.csv", "/etc/passwd", "CON", "n" * 2000], ids=["dot-dot", "abs", "CON", "2000"]
)
def test_renaming_a_file_to_a_bad_name_is_refused(team, name):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"a,b\n1,2\n")
    response = web(team.ada).post(
        reverse("datasets:file_edit", args=[item.pk]), {"path": name, "description": ""}
    )
    assert_refused(response)
    item.refresh_from_db()
    assert item.path == "readings.csv"


def test_an_uploaded_file_name_with_a_path_keeps_only_its_last_part(team, tmp_path):
    dataset = team.dataset()
    _client, response = _upload_with(team, dataset, name="../../../evil.csv")
    assert response.status_code == 302, page(response)
    item = dataset.files.get()
    assert item.path == "evil.csv"
    stored = Path(item.upload.path).resolve()
    assert stored.is_relative_to(Path(tmp_path / "media").resolve())
    assert not (tmp_path / "evil.csv").exists()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (unicodedata.normalize("NFC", "café.csv"), unicodedata.normalize("NFD", "café.csv")),
        (
            unicodedata.normalize("NFD", "Ångström.csv"),
            unicodedata.normalize("NFC", "Ångström.csv"),
        ),
        ("Data.csv", "DATA.CSV"),
    ],
    ids=["nfc-then-nfd", "nfd-then-nfc", "case"],
)
def test_twin_file_names_count_as_duplicates(team, first, second):
    assert first != second
    dataset = team.dataset()
    _client, response = _upload_with(team, dataset, name=first)
    assert response.status_code == 302
    assert dataset.files.get().path == unicodedata.normalize("NFC", first)
    _client, response = _upload_with(team, dataset, name=second)
    assert_refused(response, "already has a file")
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"file": SimpleUploadedFile("x.csv", b"1\n"), "path": second},
        format="multipart",
    )
    assert response.status_code == 400
    assert dataset.files.count() == 1
    assert rules.file_name_key(first) == rules.file_name_key(second)


# --- 6. paths on lab storage --------------------------------------------------------------------


def _storage_form(team, relpath, **extra):
    dataset = team.dataset(source="storage")
    url = reverse("datasets:file_add_storage", args=[dataset.pk])
    data = {"storage_root": team.root.pk, "relpath": relpath, "path": "", "description": ""}
    data.update(extra)
    return dataset, web(team.ada).post(url, data)


def _storage_api(team, relpath):
    dataset = team.dataset(source="storage")
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]), {"storage_path": relpath}, format="json"
    )
    return dataset, response


def _prepare_storage(kind: str, root: Path, outside: Path) -> str:
    """Lays out one hostile thing under the storage root; returns the path to ask for."""
    (root / "plain.csv").write_text("a,b\n1,2\n")
    if kind == "dot-dot":
        return "../outside/secret.txt"
    if kind == "absolute-outside":
        return str(outside / "secret.txt")
    if kind == "etc-passwd":
        return "/etc/passwd"
    if kind == "proc-environ":
        return "/proc/self/environ"
    if kind == "proc-relative":
        return "../../../../../../proc/self/environ"
    if kind == "symlink-dir-out":
        (root / "escape").symlink_to(outside, target_is_directory=True)
        return "escape/secret.txt"
    if kind == "symlink-file-out":
        (root / "passwd.csv").symlink_to("/etc/passwd")
        return "passwd.csv"
    if kind == "symlink-self-loop":
        (root / "loop").symlink_to(root / "loop")
        return "loop"
    if kind == "symlink-pair-loop":
        (root / "ping").symlink_to(root / "pong")
        (root / "pong").symlink_to(root / "ping")
        return "ping/file.csv"
    if kind == "directory-loop":
        (root / "data").mkdir()
        (root / "data" / "a.csv").write_text("1\n")
        (root / "data" / "back").symlink_to(root, target_is_directory=True)
        return "data"
    if kind == "root-itself-loop":
        (root / "cycle").symlink_to(".", target_is_directory=True)
        return "cycle"
    if kind == "fifo":
        os.mkfifo(root / "pipe")
        return "pipe"
    if kind == "fifo-in-folder":
        (root / "feed").mkdir()
        (root / "feed" / "a.csv").write_text("1\n")
        os.mkfifo(root / "feed" / "pipe")
        return "feed"
    if kind == "device":
        (root / "null").symlink_to("/dev/null")
        return "null"
    if kind == "nul-byte":
        return "plain.csv\x00.txt"
    if kind == "newline":
        return "plain.csv\n../outside/secret.txt"
    if kind == "2000-chars":
        return "d/" * 1000
    raise AssertionError(kind)


STORAGE_CASES = [
    "dot-dot", "absolute-outside", "etc-passwd", "proc-environ", "proc-relative",
    "symlink-dir-out", "symlink-file-out", "symlink-self-loop", "symlink-pair-loop",
    "directory-loop", "root-itself-loop", "fifo", "fifo-in-folder", "device", "nul-byte",
    "newline", "2000-chars",
]  # fmt: skip


@pytest.mark.parametrize("kind", STORAGE_CASES)
def test_a_hostile_storage_path_is_refused_on_the_web(team, outside, kind):
    relpath = _prepare_storage(kind, team.storage, outside)
    dataset, response = _storage_form(team, relpath)
    text = assert_refused(response)
    assert SECRET not in text and "root:x:0:0" not in text
    assert not dataset.files.exists()


@pytest.mark.parametrize("kind", STORAGE_CASES)
def test_a_hostile_storage_path_is_refused_by_the_api(team, outside, kind):
    relpath = _prepare_storage(kind, team.storage, outside)
    dataset, response = _storage_api(team, relpath)
    assert response.status_code in (400, 404), (response.status_code, response.content[:300])
    assert SECRET not in response.content.decode()
    assert not dataset.files.exists()


@pytest.mark.parametrize("path", ["../outside", "/etc", "/proc/self", "escape", "loop"])
def test_the_storage_browser_stays_inside_the_root(team, outside, path):
    (team.storage / "escape").symlink_to(outside, target_is_directory=True)
    (team.storage / "loop").symlink_to(team.storage / "loop")
    dataset = team.dataset(source="storage")
    url = reverse("datasets:storage_browse", args=[dataset.pk])
    text = page(web(team.ada).get(url, {"root": team.root.pk, "path": path}))
    assert "secret.txt" not in text and "passwd" not in text
    assert_inert(text)


def test_a_storage_root_of_another_lab_is_refused(team, rival):
    (rival.storage / "theirs.csv").write_text("1\n")
    dataset = team.dataset(source="storage")
    response = web(team.ada).post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": rival.root.pk, "relpath": "theirs.csv", "path": "", "description": ""},
    )
    assert_refused(response)
    browse = page(
        web(team.ada).get(
            reverse("datasets:storage_browse", args=[dataset.pk]), {"root": rival.root.pk}
        )
    )
    assert "theirs.csv" not in browse
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"storage_path": str(rival.storage / "theirs.csv")},
        format="json",
    )
    assert response.status_code in (400, 404)
    assert not dataset.files.exists()


def test_storage_roots_may_not_be_registered_outside_the_allowed_folders(team, settings):
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(team.storage)]
    client = web(team.grace)
    url = reverse("datasets:storageroot_add", args=[team.lab.slug])
    for path in ("/", "/etc", "/proc/self", str(team.storage) + "/../outside"):
        response = client.post(url, {"name": "Sneaky", "path": path})
        assert_refused(response)
    assert not StorageRoot.objects.filter(name="Sneaky").exists()


# --- 7. a symlink swapped in after submission ------------------------------------------------


def _approved_from_storage(team, relpath):
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, relpath)
    return team.approve(team.submit(dataset))


def _swap(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path)
    else:
        path.unlink()
    path.symlink_to(target, target_is_directory=target.is_dir())


@pytest.mark.parametrize("what", ["file", "folder", "member-of-folder", "fifo"])
def test_a_symlink_swapped_in_after_approval_is_refused_at_staging(team, outside, tmp_path, what):
    root = team.storage
    (root / "weather").mkdir()
    (root / "weather" / "jan.csv").write_text("t\n1\n")
    (root / "data.csv").write_text("t\n1\n")
    relpath = "data.csv" if what in ("file", "fifo") else "weather"
    job = _approved_from_storage(team, relpath)
    if what == "file":
        _swap(root / "data.csv", outside / "secret.txt")
    elif what == "folder":
        _swap(root / "weather", outside)
    elif what == "member-of-folder":
        _swap(root / "weather" / "jan.csv", outside / "secret.txt")
    else:
        (root / "data.csv").unlink()
        os.mkfifo(root / "data.csv")
    entry = job.submission.files[0]
    with pytest.raises(staging.StagingError) as refused:
        publishing._source_of(entry, lab_id=job.dataset.lab_id)
    assert refused.value.code in ("unsafe_path", "source_missing", "source_changed")
    # And staging itself, had the swap come between that check and the open: it opens
    # beneath the root without following symlinks (and never blocks on a FIFO).
    item = staging.StageItem(
        name="data.csv" if relpath == "data.csv" else "weather",
        source=root / relpath, kind="file" if relpath == "data.csv" else "folder",
    )  # fmt: skip
    out = tmp_path / "stage-out"
    result: dict = {}

    def run():
        try:
            staging.stage([item], out, packaging="zip", root=root)
        except staging.StagingError as exc:
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "staging hung"
    if what == "member-of-folder":
        # A symlink inside a folder is never followed: left out (and listed as skipped).
        assert "error" in result or "jan.csv" not in str(staged_names(out))
    else:
        assert "error" in result, "staging followed the swapped-in path"
    assert SECRET.encode() not in staged_bytes(out)


def staged_names(folder: Path) -> list[str]:
    names = []
    for path in folder.rglob("*"):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names += archive.namelist()
        elif path.is_file():
            names.append(path.name)
    return names


def staged_bytes(folder: Path) -> bytes:
    """Everything staging wrote, archives opened: what would reach Kaggle."""
    out = b""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                out += b"".join(archive.read(name) for name in archive.namelist())
        else:
            out += path.read_bytes()
    return out


@pytest.mark.django_db(transaction=True)
def test_a_publish_job_fails_cleanly_on_a_swapped_symlink(
    team, outside, settings, tmp_path, celery_worker
):
    """End to end in this process (staging refuses before Kaggle): the session's worker
    stops taking publish jobs meanwhile, so the swap happens before anyone stages."""
    celery_app.control.cancel_consumer("publish", destination=[celery_worker.name], reply=True)
    try:
        (team.storage / "data.csv").write_text("t\n1\n")
        job = _approved_from_storage(team, "data.csv")
        _swap(team.storage / "data.csv", outside / "secret.txt")
        state = publishing.job_run(job.pk, task_id="hostile", worker="tests")
    finally:
        celery_app.control.add_consumer("publish", destination=[celery_worker.name], reply=True)
    job.refresh_from_db()
    assert state == JobState.FAILED == job.state
    assert job.error_code == "unsafe_path", job.error_message
    assert "outside" in job.error_message or "symlink" in job.error_message
    assert SECRET.encode() not in staged_bytes(Path(settings.STAGING_ROOT))
    text = page(web(team.ada).get(reverse("datasets:job_detail", args=[job.pk])))
    assert SECRET not in text


# --- 8. archives uploaded as files ------------------------------------------------------------


def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return buffer.getvalue()


def _zip_symlink(name: str, target: str) -> bytes:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode below is read by unzip and Python's extractors
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([(info, target.encode())])


def _tar(build, mode="w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        build(archive)
    return buffer.getvalue()


def _tar_member(archive, name, data=b"x", **fields):
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    info.size = len(data) if info.type == tarfile.REGTYPE else 0
    archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)


def _zip_bomb() -> bytes:
    # 200 MB of CSV (text, so a scanner reads it) in a few hundred kilobytes.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        chunk = b"0,0\n" * (MB // 4)
        for i in range(10):
            with archive.open(f"zeros-{i}.csv", "w", force_zip64=True) as member:
                for _ in range(20):
                    member.write(chunk)
    return buffer.getvalue()


ESCAPED = "wharf-hostile-escaped.txt"
ARCHIVES = {
    "zip-dot-dot": lambda: _zip([(f"../../../../tmp/{ESCAPED}", b"pwned")]),
    "zip-absolute": lambda: _zip([(f"/tmp/{ESCAPED}", b"pwned")]),
    "zip-symlink": lambda: _zip_symlink("passwd", "/etc/passwd"),
    "tar-dot-dot": lambda: _tar(lambda t: _tar_member(t, f"../../../tmp/{ESCAPED}", b"pwned")),
    "tar-absolute": lambda: _tar(lambda t: _tar_member(t, f"/tmp/{ESCAPED}", b"pwned")),
    "tar-symlink": lambda: _tar(
        lambda t: _tar_member(t, "passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    ),
    "tar-hardlink": lambda: _tar(
        lambda t: _tar_member(t, "passwd", type=tarfile.LNKTYPE, linkname="/etc/passwd")
    ),
    "zip-bomb": _zip_bomb,
    "zip-truncated": lambda: _zip([("data.csv", os.urandom(4096))])[:-200],
    "tar-truncated": lambda: _tar(lambda t: _tar_member(t, "data.csv", os.urandom(8192)))[:500],
}
SUFFIX = {"zip": ".zip", "tar": ".tar.gz"}


@pytest.fixture(scope="module")
def archives():
    return {name: build() for name, build in ARCHIVES.items()}


def _no_escape():
    return not Path("/tmp", ESCAPED).exists()


@pytest.mark.parametrize("name", ARCHIVES)
def test_an_uploaded_archive_is_kept_and_published_as_an_opaque_file(
    team, archives, name, tmp_path
):
    data = archives[name]
    file_name = name + SUFFIX[name.split("-")[0]]
    dataset = team.dataset()
    upload = SimpleUploadedFile(file_name, data)
    response = web(team.ada).post(
        reverse("datasets:file_upload", args=[dataset.pk]), {"files": upload}
    )
    assert response.status_code == 302, page(response)
    item = dataset.files.get()
    assert item.kind == "file" and item.size == len(data)
    media = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert media == [Path(item.upload.path)], "Wharf unpacked the upload"
    assert Path(item.upload.path).read_bytes() == data
    # Staging copies it byte for byte: never extracted, whatever it holds.
    out = tmp_path / "staged"
    manifest = staging.stage(
        [staging.StageItem(name=item.path, source=Path(item.upload.path), kind="file")],
        out,
        packaging="zip",
    )
    assert [m.name for m in manifest] == [file_name]
    assert manifest[0].sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == [file_name]
    assert _no_escape()


@pytest.mark.parametrize("name", ["zip-dot-dot", "tar-symlink", "zip-bomb"])
def test_an_archive_uploaded_through_the_api_is_kept_as_it_is(team, archives, name):
    data = archives[name]
    dataset = team.dataset()
    upload = SimpleUploadedFile(name + SUFFIX[name.split("-")[0]], data)
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]), {"file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(data) and response.json()["kind"] == "file"
    assert _no_escape()


BUDGET = 8 * MB


def _scanner():
    """datasets.scanning (the sensitive-data scanner) reads inside archives: these cases
    hold it to refusing hostile ones safely: it streams members, never unpacks to disk,
    never follows a link member, stops at its byte budget and survives damage."""
    try:
        from datasets.scanning import Scan
    except ImportError:
        pytest.skip("datasets.scanning (the content scanner) is not in the code yet")

    def scan(path: Path):
        entry = {"path": path.name, "origin": "upload", "upload": str(path),
                 "size": path.stat().st_size, "kind": "file"}  # fmt: skip
        return Scan(budget=BUDGET, open_upload=lambda name: open(name, "rb")).run([entry])

    return scan


@pytest.mark.parametrize("name", ARCHIVES)
def test_the_content_scanner_refuses_hostile_archives_safely(archives, name, tmp_path):
    scan = _scanner()
    path = tmp_path / (name + SUFFIX[name.split("-")[0]])
    path.write_bytes(archives[name])
    before = set(tmp_path.rglob("*"))
    result: dict = {}

    def run():
        try:
            result["value"] = scan(path)
        except Exception as exc:
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the scanner hung on the archive"
    assert "error" not in result, f"the scanner crashed: {result.get('error')!r}"
    assert _no_escape(), "the scanner wrote outside its folder"
    assert set(tmp_path.rglob("*")) == before, "the scanner unpacked the archive"
    scanned = result["value"]
    assert "root:x:0:0" not in repr(scanned.findings), "the scanner followed a link member"
    # The budget is per file: each member of the bomb is read up to it, no further.
    members = max(1, scanned.files_scanned)
    assert scanned.bytes_scanned <= members * BUDGET, "the scanner read past its budget"
    if name.endswith("truncated"):
        assert scanned.not_scanned, "a damaged archive should be listed as not scanned"


# --- 9. another lab's ids, wherever an id goes -------------------------------------------------


def test_another_labs_ids_in_forms_are_refused(team, rival):
    client = web(team.ada)
    create = reverse("datasets:dataset_create")
    assert_refused(client.post(create, form_data(team, lab=rival.lab.pk)))
    assert_refused(client.post(create, form_data(team, kaggle_account=rival.account.pk)))
    assert not Dataset.objects.filter(lab=team.lab).exists()
    theirs = rival.dataset(slug="rival-data")
    item = rival.upload(theirs, "theirs.csv", b"1\n")
    assert (
        client.post(reverse("datasets:file_edit", args=[item.pk]), {"path": "x.csv"}).status_code
        == 404
    )
    assert client.get(reverse("datasets:history"), {"lab": rival.lab.pk}).status_code == 200
    listing = page(client.get(reverse("datasets:dataset_list"), {"lab": rival.lab.pk}))
    assert "rival-data" not in listing


def test_another_labs_ids_in_the_api_are_not_found(team, rival):
    client = api(team.ada)
    theirs = rival.dataset(slug="rival-data")
    item = rival.upload(theirs, "theirs.csv", b"1\n")
    response = client.post(reverse("api:datasets"), api_data(team, lab=rival.lab.pk), format="json")
    assert response.status_code == 404
    for url, params in [
        (reverse("api:jobs"), {"dataset": theirs.pk}),
        (reverse("api:jobs"), {"lab": rival.lab.pk}),
        (reverse("api:submissions"), {"lab": rival.lab.pk}),
        (reverse("api:datasets"), {"lab": rival.lab.pk}),
        (reverse("api:file", args=[theirs.pk, item.pk]), {}),
    ]:
        assert client.get(url, params).status_code == 404, url
    mine = team.dataset()
    # Their file id under my dataset: not found either.
    assert client.get(reverse("api:file", args=[mine.pk, item.pk])).status_code == 404
    response = client.post(
        reverse("api:files", args=[mine.pk]),
        {"storage_path": "theirs.csv", "storage_root": rival.root.pk},
        format="json",
    )
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("junk", ["abc", "-1", "9" * 30, "1.5", "0x10", "%00"])
def test_junk_ids_and_filters_are_client_errors(team, junk):
    client = api(team.ada)
    for name in ("api:jobs", "api:submissions", "api:datasets"):
        response = client.get(reverse(name), {"lab": junk, "dataset": junk})
        assert response.status_code in (400, 404), (name, junk, response.status_code)
    response = web(team.ada).get(reverse("datasets:history"), {"lab": junk, "dataset": junk})
    assert response.status_code == 200
    response = web(team.ada).get(f"/datasets/{'9' * 30}/")
    assert response.status_code == 404


# --- 10. GET on every action URL, and POSTs without a CSRF token ----------------------------------

ACTIONS = sorted(
    name for name, entry in POLICY.items() if "POST" in entry.methods and "GET" not in entry.methods
)


def _action_url(name, objects) -> str:
    entry = POLICY[name]
    if entry.obj is None:
        return reverse(name)
    if entry.obj == "lab":
        return reverse(name, kwargs={"slug": objects["lab"].slug})
    if name == "api:file":
        return reverse(name, args=[objects["dataset"].pk, objects["file"].pk])
    if entry.obj == "invitation_token":
        return reverse(name, kwargs={"token": objects["invitation_token"]})
    return reverse(name, args=[objects[entry.obj].pk])


@pytest.fixture
def objects(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"a,b\n1,2\n")
    make_survey(team.storage, parts=3)
    folder = team.add_storage(dataset, "survey")
    submission = team.submit(_submitted(team, "in-review"))
    job = team.approve(team.submit(_submitted(team, "approved")))
    token, _raw = token_create(team.grace, "ci")
    webhook = Webhook.objects.create(
        lab=team.lab, url="https://hooks.example.org/w", secret_encrypted="-",
        secret_last4="abcd", events=["job.published"],
    )  # fmt: skip
    delivery = WebhookDelivery.objects.create(webhook=webhook, action="job.published", body="{}")
    pattern = LabPattern.objects.create(lab=team.lab, name="Participant", pattern=r"P-\d{6}")
    membership = Membership.objects.get(lab=team.lab, user=team.ada)
    invitation, invitation_token = invitation_create(
        team.lab, actor=team.grace, email="new@hostile.example", role=Role.RESEARCHER
    )
    return {
        "membership": membership, "invitation": invitation,
        "invitation_token": invitation_token,
        "dataset": dataset, "file": item, "folder": folder, "submission": submission,
        "job": job,
        "account": team.account, "root": team.root, "token": token, "lab": team.lab,
        "webhook": webhook, "delivery": delivery, "pattern": pattern,
    }  # fmt: skip


@pytest.mark.parametrize("name", ACTIONS)
def test_get_on_an_action_url_is_405(team, objects, name):
    client = Client()
    headers = {}
    if name.startswith("api:"):
        headers["Authorization"] = f"Token {token_create(team.grace, 'x')[1]}"
    else:
        client.force_login(team.grace)
    response = client.get(_action_url(name, objects), headers=headers)
    assert response.status_code == 405, (name, response.status_code)


WEB_POSTS = sorted(
    name
    for name, entry in POLICY.items()
    if "POST" in entry.methods and not name.startswith("api:")
)


def _counts():
    return (Dataset.objects.count(), DatasetFile.objects.count(), Submission.objects.count())


@pytest.mark.parametrize("name", WEB_POSTS)
def test_a_post_without_a_csrf_token_is_403(team, objects, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.grace)
    before = (Dataset.objects.count(), DatasetFile.objects.count(), Submission.objects.count())
    response = client.post(_action_url(name, objects), {"name": "x", "text": "x"})
    assert response.status_code == 403, (name, response.status_code)
    assert before == (
        Dataset.objects.count(),
        DatasetFile.objects.count(),
        Submission.objects.count(),
    )


@pytest.mark.parametrize(
    "name", ["api:datasets", "api:approve", "api:comments", "api:job_retry", "api:dataset"]
)
def test_an_api_write_with_a_browser_session_needs_the_csrf_token(team, objects, name):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(team.grace)
    url = _action_url(name, objects) if POLICY[name].obj else reverse(name)
    method = "patch" if name == "api:dataset" else "post"
    response = getattr(client, method)(url, {}, format="json")
    assert response.status_code == 403, (name, response.status_code)
    assert "CSRF" in response.json()["detail"]


def test_the_login_form_needs_the_csrf_token(team):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": team.ada.username, "password": "x"})
    assert response.status_code == 403 and b"CSRF" in response.content


# --- 11. what Kaggle answers ---------------------------------------------------------------------

CREDENTIALS = Credentials(
    owner_slug="demo-lab", username="wharf-demo", secret="k-SECRET-42", kind="key"
)


def _429(retry_after):
    return {"kind": "http", "status": 429, "retry_after": retry_after}


UPSTREAM = {
    "script-in-400": ({"kind": "http", "status": 400, "message": SCRIPT}, "rejected", False),
    "secret-echoed": (
        {"kind": "http", "status": 400, "message": "bad key k-SECRET-42 for wharf-demo"},
        "rejected", False,
    ),
    "megabyte-message": ({"kind": "value", "message": "v" * MB}, "rejected", False),
    "retry-after-junk": (_429("soon"), "rate_limited", True),
    "retry-after-negative": (_429("-50"), "rate_limited", True),
    "retry-after-huge": (_429("1e400"), "rate_limited", True),
    "retry-after-nan": (_429("nan"), "rate_limited", True),
    "unknown-kind": ({"kind": "martian", "message": None}, "client_error", True),
    "empty": ({}, "client_error", True),
    "401": ({"kind": "http", "status": 401, "message": "nope"}, "credentials_rejected", False),
    "599": ({"kind": "http", "status": 599, "message": "odd"}, "kaggle_unavailable", True),
}  # fmt: skip


@pytest.mark.parametrize(("error", "code", "transient"), UPSTREAM.values(), ids=UPSTREAM.keys())
def test_a_hostile_kaggle_error_becomes_a_stable_code_without_the_secret(error, code, transient):
    result = runner.error_from(error, CREDENTIALS)
    assert (result.code, result.transient) == (code, transient)
    assert "k-SECRET-42" not in result.message and "k-SECRET-42" not in repr(result)
    if result.retry_after is not None:
        assert result.retry_after >= 0


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "", "//evil.example/x",
     "JAVASCRIPT:alert(1)", " javascript:alert(1)"],
)  # fmt: skip
def test_a_hostile_dataset_url_from_kaggle_is_replaced_by_kaggles_own(url):
    result = publishing._kaggle_url("demo-lab/ocean", {"url": url})
    assert result == "https://www.kaggle.com/datasets/demo-lab/ocean"


def test_kaggle_text_on_the_job_page_is_shown_inert(team):
    dataset = _submitted(team)
    job = team.approve(team.submit(dataset))
    PublishJob.objects.filter(pk=job.pk).update(
        state=JobState.FAILED,
        error_code="rejected",
        error_message=f"Kaggle refused the request: {SCRIPT} {IMG}",
        kaggle_ref=f"demo-lab/{IMG}",
    )
    text = page(web(team.ada).get(reverse("datasets:job_detail", args=[job.pk])))
    assert_shown_as_text(text, SCRIPT)
    api_body = api(team.ada).get(reverse("api:job", args=[job.pk]))
    assert api_body.status_code == 200 and SCRIPT in json.dumps(api_body.json())


def test_a_refusal_from_kaggle_is_a_message_not_a_crash():
    from datasets.kaggle import child

    class Response:
        error = SCRIPT
        status = "error"
        ref = url = None

    assert child._outcome(Response()) == {"refused": SCRIPT}

    class Odd:
        error = None
        status = 12345  # not even a string
        ref = url = None

    assert "refused" in child._outcome(Odd())


def test_the_whole_hostile_set_is_large_enough():
    # The issue asks for at least 80 cases; keep the count honest as cases change.
    import sys

    module = sys.modules[__name__]
    count = 0
    for name in dir(module):
        function = getattr(module, name)
        if not name.startswith("test_") or not callable(function):
            continue
        marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
        n = 1
        for mark in marks:
            n *= len(mark.args[1])
        count += n
    assert count >= 80, count


# --- 12. in a real browser: no script runs ------------------------------------------------------

# Each payload would set a flag or open a dialog if the browser ran it.
BROWSER_PAYLOADS = [
    "<script>window.__wharf_xss = 1</script>",
    '<img src=x onerror="window.__wharf_xss = 2">',
    '<svg onload="window.__wharf_xss = 3"></svg>',
    '"><script>alert(4)</script>',
]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_script_runs_when_hostile_text_is_shown_in_chromium(
    tmp_path, live_server, settings, browser
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    team = Team(tmp_path / "storage")
    short = ['"><img src=x onerror=alert(5)>', "<svg onload=alert(6)>"]
    dataset = team.dataset(
        title=short[0][:50], subtitle=(short[1] + " of twelve buoys")[:80],
        description="\n\n".join(BROWSER_PAYLOADS), keywords=short,
    )  # fmt: skip
    team.upload(dataset, short[1].replace("/", "") + ".csv", b"a\n1\n", BROWSER_PAYLOADS[1])
    submission = team.submit(dataset, notes=BROWSER_PAYLOADS[0])
    from datasets.services.review import comment_add

    comment_add(submission, actor=team.grace, text=BROWSER_PAYLOADS[3])
    client = Client()
    client.force_login(team.ada)
    session = client.cookies["sessionid"].value
    pages = [
        reverse("datasets:dataset_detail", args=[dataset.pk]),
        reverse("datasets:dataset_list") + "?" + urlencode({"q": BROWSER_PAYLOADS[0]}),
        reverse("datasets:review", args=[submission.pk]),
        reverse("datasets:history") + "?" + urlencode({"q": BROWSER_PAYLOADS[1]}),
    ]
    dialogs = []
    context = browser.new_context()
    try:
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path in pages:
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            page.wait_for_load_state("load")
            assert page.evaluate("window.__wharf_xss") is None, path
            if path == pages[0]:  # the payloads are there, as text a person reads
                assert "onerror=alert(5)" in page.inner_text("body")
    finally:
        context.close()
    assert dialogs == [], f"a script ran: {dialogs}"
