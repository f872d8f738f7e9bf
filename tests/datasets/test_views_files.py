"""Files: uploads (limits, empty files, names), lab storage (path safety), editing."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from datasets.models import DatasetFile
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def dataset(team):
    return team.dataset()


def upload(client, dataset, *files, json=False, description=""):
    headers = {"HTTP_ACCEPT": "application/json"} if json else {}
    return client.post(
        reverse("datasets:file_upload", args=[dataset.pk]),
        {"files": list(files), "description": description},
        **headers,
    )


def test_several_files_are_uploaded_at_once_under_generated_names(client, team, dataset):
    client.force_login(team.ada)
    response = upload(
        client,
        dataset,
        SimpleUploadedFile("sites.csv", b"site,lat\n1,52.1\n"),
        SimpleUploadedFile("README.md", b"# Dawn\n"),
        description="Field data",
    )
    assert response.status_code == 302
    items = {f.path: f for f in dataset.files.all()}
    assert set(items) == {"sites.csv", "README.md"}
    assert items["sites.csv"].size == 16
    assert items["sites.csv"].description == "Field data"
    assert "sites.csv" not in items["sites.csv"].upload.name  # the stored name is Wharf's
    page = client.get(reverse("datasets:dataset_detail", args=[dataset.pk]))
    assert "16\xa0bytes" in page.content.decode()


def test_the_upload_page_carries_the_limit_for_the_script(client, team, dataset, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 1234
    client.force_login(team.ada)
    html = client.get(reverse("datasets:file_upload", args=[dataset.pk])).content.decode()
    assert 'data-max-bytes="1234"' in html
    assert "js/upload.js" in html
    assert "<script>" not in html  # nothing inline: the CSP forbids it


def test_a_json_upload_answers_per_file(client, team, dataset):
    client.force_login(team.ada)
    response = upload(client, dataset, SimpleUploadedFile("a.csv", b"1,2\n"), json=True)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "added": ["Added 'a.csv' (4\xa0bytes)."], "errors": []}


def test_an_upload_over_the_limit_is_refused_with_a_clear_message(client, team, dataset, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 10
    client.force_login(team.ada)
    big = SimpleUploadedFile("big.bin", b"x" * 50)
    response = upload(client, dataset, big, json=True)
    assert response.status_code == 400
    [message] = response.json()["errors"]
    assert "'big.bin' is larger than 10\xa0bytes, the limit for uploads" in message
    assert "lab storage" in message

    page = upload(client, dataset, SimpleUploadedFile("big.bin", b"x" * 50))
    assert page.status_code == 400
    assert "is larger than 10\xa0bytes" in page.content.decode()
    assert not DatasetFile.objects.exists()


def test_only_the_file_over_the_limit_is_refused(client, team, dataset, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 10
    client.force_login(team.ada)
    response = upload(
        client,
        dataset,
        SimpleUploadedFile("big.bin", b"x" * 50),
        SimpleUploadedFile("small.csv", b"1,2\n"),
        json=True,
    )
    body = response.json()
    assert body["added"] == ["Added 'small.csv' (4\xa0bytes)."]
    assert "big.bin" in body["errors"][0]
    assert list(dataset.files.values_list("path", flat=True)) == ["small.csv"]


def test_a_zero_byte_upload_is_refused(client, team, dataset):
    client.force_login(team.ada)
    response = upload(client, dataset, SimpleUploadedFile("empty.csv", b""), json=True)
    assert response.status_code == 400
    assert "'empty.csv': the file is empty (0 bytes)" in response.json()["errors"][0]
    page = upload(client, dataset, SimpleUploadedFile("empty.csv", b""))
    assert "the file is empty" in page.content.decode()
    assert not DatasetFile.objects.exists()


def test_duplicate_names_are_refused_whatever_their_case(client, team, dataset):
    team.upload(dataset, "readings.csv", b"1,2\n")
    client.force_login(team.ada)
    response = upload(client, dataset, SimpleUploadedFile("Readings.CSV", b"3,4\n"), json=True)
    assert response.status_code == 400
    assert "already has a file named 'readings.csv'" in response.json()["errors"][0]
    assert dataset.files.count() == 1


def test_upload_without_a_file_says_so(client, team, dataset):
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:file_upload", args=[dataset.pk]), {"description": "kept text"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required" in html or "Choose at least one file" in html
    assert "kept text" in html


def test_files_cannot_be_added_while_in_review(client, team, dataset):
    team.upload(dataset, "a.csv", b"1\n")
    team.submit(dataset)
    client.force_login(team.ada)
    response = upload(client, dataset, SimpleUploadedFile("b.csv", b"2\n"))
    assert response.status_code == 302
    assert dataset.files.count() == 1


def test_a_file_and_a_folder_from_lab_storage(client, team, dataset):
    (team.storage / "recordings").mkdir()
    (team.storage / "recordings" / "a.wav").write_bytes(b"RIFF" * 100)
    (team.storage / "notes.txt").write_text("hello")
    client.force_login(team.ada)
    url = reverse("datasets:file_add_storage", args=[dataset.pk])
    page = client.get(url)
    assert "recordings" in page.content.decode()  # the browser opens the only root
    for relpath in ("recordings", str(team.storage / "notes.txt")):
        response = client.post(
            url, {"storage_root": team.root.pk, "relpath": relpath, "description": "d"}
        )
        assert response.status_code == 302, response.context["form"].errors
    items = {f.path: f for f in dataset.files.all()}
    assert items["recordings"].kind == "folder" and items["recordings"].size == 400
    assert items["notes.txt"].storage_relpath == "notes.txt"


@pytest.mark.parametrize(
    "relpath, message",
    [
        ("../outside.txt", "may not contain '..'"),
        ("/etc/passwd", "not an absolute path"),
        ("escape", "leads outside the storage root"),
        ("fifo", "not a regular file or folder"),
        ("missing.csv", "does not exist"),
        ("bad\x01name", "control characters"),
    ],
)
def test_storage_path_tricks_are_refused_with_a_message(client, team, dataset, relpath, message):
    outside = team.storage.parent / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, team.storage / "escape")
    os.mkfifo(team.storage / "fifo")
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": team.root.pk, "relpath": relpath},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors.get("relpath", []) + errors.get("__all__", []))
    assert not DatasetFile.objects.exists()


def test_another_labs_storage_root_is_refused(client, team, dataset, tmp_path):
    rival = Team(tmp_path / "rival", owner="rival-lab")
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": rival.root.pk, "relpath": "x"},
    )
    assert response.status_code == 200
    assert "storage_root" in response.context["form"].errors


def test_the_storage_browser_navigates_and_refuses_tricks(client, team, dataset):
    (team.storage / "sub").mkdir()
    (team.storage / "sub" / "deep.csv").write_text("1,2\n")
    os.symlink("/etc", team.storage / "etc-link")
    client.force_login(team.ada)
    url = reverse("datasets:storage_browse", args=[dataset.pk])
    top = client.get(url, {"root": team.root.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "sub" in top and "link — not offered" in top
    assert "<html" not in top  # a partial for htmx
    inner = client.get(url, {"root": team.root.pk, "path": "sub"}).content.decode()
    assert "deep.csv" in inner and 'data-pick-relpath="sub/deep.csv"' in inner
    for trick, message in (
        ("../..", "may not contain"),
        ("etc-link", "leads outside"),
        ("/etc", "not an absolute path"),
    ):
        html = client.get(url, {"root": team.root.pk, "path": trick}).content.decode()
        assert message in html, trick
        assert "passwd" not in html
    assert "not one of this lab" in client.get(url, {"root": 999999}).content.decode()
    assert client.get(url, {"root": "x'"}).status_code == 200


def test_a_file_is_renamed_and_names_with_paths_are_refused(client, team, dataset):
    item = team.upload(dataset, "a.csv", b"1\n")
    client.force_login(team.ada)
    url = reverse("datasets:file_edit", args=[item.pk])
    bad = client.post(url, {"path": "../etc/passwd", "description": "mine"})
    assert bad.status_code == 200
    assert "path separator" in bad.context["form"].errors["path"][0]
    assert "mine" in bad.content.decode()
    good = client.post(url, {"path": "b.csv", "description": "Renamed"})
    assert good.status_code == 302
    item.refresh_from_db()
    assert (item.path, item.description) == ("b.csv", "Renamed")


def test_a_file_is_removed(client, team, dataset):
    item = team.upload(dataset, "a.csv", b"1\n")
    client.force_login(team.ada)
    response = client.post(reverse("datasets:file_delete", args=[item.pk]), follow=True)
    assert "Removed &#x27;a.csv&#x27;" in response.content.decode()
    assert not dataset.files.exists()
    assert client.get(reverse("datasets:file_delete", args=[item.pk])).status_code in (404, 405)


def test_a_lab_without_storage_roots_is_told_where_to_add_one(client, team, dataset):
    team.root.delete()
    client.force_login(team.ada)
    html = client.get(reverse("datasets:file_add_storage", args=[dataset.pk])).content.decode()
    assert "has no storage roots yet" in html
