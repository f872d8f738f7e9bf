"""Refuse at the door, not at publish: every name the Kaggle client never uploads (its
metadata files and cover images; .git/.cache/.huggingface folders) and every name staging
refuses as unsafe is refused when a file is added (browser upload, storage pick, API,
rename), with the reason and what to do, by the one rule in datasets.rules that staging
applies too."""

import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from datasets import rules, staging
from datasets.services.errors import ServiceError
from datasets.staging.model import StageItem
from tests.builders import Team
from tests.security.clients import api, web

pytestmark = pytest.mark.django_db

RESERVED = [
    "dataset-metadata.json", "datapackage.json", "kernel-metadata.json",
    "model-metadata.json", "model-instance-metadata.json", "dataset-cover-image.png",
    "dataset-cover-image.jpg", "dataset-cover-image.jpeg", "dataset-cover-image.webp",
]  # fmt: skip
LOOKALIKES = ["Dataset-Metadata.json", "DATAPACKAGE.JSON", "dataset-cover-image.PNG"]


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def test_the_rule_knows_every_name_the_client_skips():
    # The names kaggle_api_extended.KaggleApi.upload_files skips, read from the client.
    from kaggle.api.kaggle_api_extended import DEFAULT_IGNORE_PATTERNS, KaggleApi

    skipped = {
        KaggleApi.DATASET_METADATA_FILE, KaggleApi.OLD_DATASET_METADATA_FILE,
        *KaggleApi.DATASET_COVER_IMAGE_FILES, KaggleApi.KERNEL_METADATA_FILE,
        KaggleApi.MODEL_METADATA_FILE, KaggleApi.MODEL_INSTANCE_METADATA_FILE,
    }  # fmt: skip
    assert skipped == set(rules.CLIENT_SKIPPED_FILES)
    ignored = {p.strip("*/").rstrip("/") for p in DEFAULT_IGNORE_PATTERNS}
    assert ignored == set(rules.CLIENT_IGNORED_FOLDERS)


@pytest.mark.parametrize("name", RESERVED + LOOKALIKES)
def test_a_reserved_name_is_refused_at_browser_upload(team, name):
    dataset = team.dataset()
    response = web(team.ada).post(
        reverse("datasets:file_upload", args=[dataset.pk]),
        {"files": [SimpleUploadedFile(name, b'{"a": 1}')], "description": ""},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert "never uploads" in error and "another name" in error
    assert not dataset.files.exists()


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_name_is_refused_by_the_api(team, name):
    dataset = team.dataset()
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"file": SimpleUploadedFile(name, b'{"a": 1}')},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert "never uploads" in response.content.decode()
    response = api(team.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"file": SimpleUploadedFile("fine.json", b'{"a": 1}'), "path": name},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert not dataset.files.exists()


@pytest.mark.parametrize("name", ["dataset-metadata.json", "dataset-cover-image.webp"])
def test_a_reserved_name_is_refused_at_storage_pick(team, name):
    (team.storage / name).write_text('{"a": 1}')
    dataset = team.dataset(source="storage")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(dataset, name)
    assert "never uploads" in refused.value.message
    response = web(team.ada).post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": team.root.pk, "relpath": name, "path": "", "description": ""},
    )
    assert response.status_code in (200, 400) and "never uploads" in response.content.decode()
    assert not dataset.files.exists()


def test_a_storage_file_with_a_reserved_name_may_be_published_under_another(team):
    (team.storage / "dataset-metadata.json").write_text('{"a": 1}')
    dataset = team.dataset(source="storage")
    response = web(team.ada).post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {
            "storage_root": team.root.pk,
            "relpath": "dataset-metadata.json",
            "path": "original-metadata.json",
            "description": "",
        },
    )
    assert response.status_code == 302
    assert list(dataset.files.values_list("path", flat=True)) == ["original-metadata.json"]


def test_renaming_to_a_reserved_name_is_refused(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.json", b'{"a": 1}')
    response = web(team.ada).post(
        reverse("datasets:file_edit", args=[item.pk]),
        {"path": "datapackage.json", "description": ""},
    )
    assert response.status_code == 200 and "never uploads" in response.content.decode()
    item.refresh_from_db()
    assert item.path == "readings.json"


@pytest.mark.parametrize(
    "layout, word",
    [
        ({"dataset-metadata.json": "{}", "a.csv": "1"}, "dataset-metadata.json"),
        ({"datapackage.json": "{}", "a.csv": "1"}, "datapackage.json"),
        ({"dataset-cover-image.png": "png", "a.csv": "1"}, "dataset-cover-image.png"),
        ({".git/HEAD": "ref", "a.csv": "1"}, ".git/"),
        ({".cache/x": "1", "a.csv": "1"}, ".cache/"),
        ({".huggingface/token": "1", "a.csv": "1"}, ".huggingface/"),
    ],
    ids=["metadata", "datapackage", "cover", "git", "cache", "huggingface"],
)
def test_a_storage_folder_holding_a_skipped_name_at_its_top_is_refused(team, layout, word):
    folder = team.storage / "survey"
    for relpath, text in layout.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_text(text)
    dataset = team.dataset(source="storage")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(dataset, "survey")
    assert word in refused.value.message and "survey" in refused.value.message
    assert not dataset.files.exists()


def test_skipped_names_deeper_in_a_folder_are_fine(team):
    folder = team.storage / "survey"
    (folder / "sub" / ".git").mkdir(parents=True)
    (folder / "sub" / ".git" / "HEAD").write_text("ref")
    (folder / "sub" / "dataset-metadata.json").write_text("{}")
    (folder / ".env").write_text("hidden files are uploaded by the client")
    assert team.add_storage(team.dataset(source="storage"), "survey").entry_count == 3


@pytest.mark.parametrize(
    "member",
    ["back\\slash.csv", "tab\there.csv", "c:drive.csv", "del\x7f.csv"],
    ids=["backslash", "control", "drive-letter", "delete"],
)
def test_a_folder_with_a_name_staging_refuses_is_refused_when_added(team, member):
    folder = team.storage / "survey"
    folder.mkdir()
    (folder / "ok.csv").write_text("1\n")
    (folder / member).write_text("1\n")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(team.dataset(source="storage"), "survey")
    assert "unsafe in an archive" in refused.value.message


def test_a_folder_with_a_name_that_is_not_utf8_is_refused_when_added(team):
    folder = team.storage / "survey"
    folder.mkdir()
    (folder / "ok.csv").write_text("1\n")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.csv"), "wb") as handle:
        handle.write(b"1\n")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(team.dataset(source="storage"), "survey")
    assert "not valid UTF-8" in refused.value.message


def test_staging_applies_the_same_rules(tmp_path):
    """For submissions made before the rule: staging refuses with the same words."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "dataset-metadata.json").write_text("{}")
    item = StageItem(name="datapackage.json", source=source / "dataset-metadata.json", kind="file")
    with pytest.raises(staging.StagingError) as refused:
        staging.stage([item], tmp_path / "out", packaging="zip")
    assert refused.value.code == "unsafe_name" and "never uploads" in refused.value.message
    (source / "folder").mkdir()
    (source / "folder" / "back\\slash.csv").write_text("1\n")
    item = StageItem(name="folder", source=source / "folder", kind="folder")
    with pytest.raises(staging.StagingError) as refused:
        staging.stage([item], tmp_path / "out2", packaging="zip")
    with pytest.raises(ValidationError) as rule:
        rules.check_archive_member("back\\slash.csv", "folder")
    assert refused.value.message == rule.value.messages[0]


@pytest.mark.parametrize("name", ["metadata.json", "dataset-metadata.json.bak", "cover.png"])
def test_names_near_the_reserved_ones_are_accepted(team, name):
    assert team.upload(team.dataset(), name, b"1\n").path == name
