import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import DatasetFile

from .conftest import api_client

pytestmark = pytest.mark.django_db


def upload(client, dataset, name="readings.csv", content=b"a,b\n1,2\n", **fields):
    return client.post(
        f"/api/v1/datasets/{dataset.pk}/files/",
        {"file": SimpleUploadedFile(name, content), **fields},
        format="multipart",
    )


def add_storage(client, dataset, storage_path, **fields):
    return client.post(
        f"/api/v1/datasets/{dataset.pk}/files/", {"storage_path": storage_path, **fields}
    )


def test_an_upload_is_kept_under_a_generated_name(team):
    dataset = team.dataset()
    response = upload(api_client(team.ada), dataset, "readings.csv", description="Raw <b>data</b>")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["path"] == "readings.csv"
    assert body["size"] == 8 and body["kind"] == "file" and body["origin"] == "upload"
    assert body["description"] == "Raw <b>data</b>"
    stored = DatasetFile.objects.get(pk=body["id"])
    assert "readings" not in os.path.basename(stored.upload.name)


def test_files_are_listed_edited_and_removed(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv")
    client = api_client(team.ada)
    base = f"/api/v1/datasets/{dataset.pk}/files/"
    assert [f["path"] for f in client.get(base).json()] == ["readings.csv"]
    response = client.patch(f"{base}{item.pk}/", {"path": "temps.csv", "description": "Daily."})
    assert response.status_code == 200
    assert response.json()["path"] == "temps.csv"
    assert client.patch(f"{base}{item.pk}/", {"path": "../x.csv"}).status_code == 400
    assert client.delete(f"{base}{item.pk}/").status_code == 204
    assert client.get(base).json() == []


def test_a_zero_byte_upload_is_refused(team):
    response = upload(api_client(team.ada), team.dataset(), "empty.csv", b"")
    assert response.status_code == 400
    assert "empty (0 bytes)" in response.json()["file"][0]


def test_an_upload_over_the_limit_is_refused(team, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 10
    response = upload(api_client(team.ada), team.dataset(), "big.csv", b"x" * 11)
    assert response.status_code == 400
    assert "uploads are limited to 10" in response.json()["file"][0]
    assert not DatasetFile.objects.exists()


def test_duplicate_names_are_refused_whatever_their_case(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    assert upload(client, dataset, "Data.csv").status_code == 201
    response = upload(client, dataset, "data.csv")
    assert response.status_code == 400
    assert "already has a file named 'Data.csv'" in response.json()["path"][0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../etc/passwd", "path separator"),
        ("sub\\file.csv", "path separator"),
        (".hidden", "dot"),
        ("bad\x07name.csv", "control"),
        ("con.txt", "reserved device name"),
        ("name\u202egnp.exe", "control"),  # right-to-left override
    ],
)
def test_file_names_with_path_tricks_or_control_characters_are_refused(team, name, message):
    response = upload(api_client(team.ada), team.dataset(), "ok.csv", path=name)
    assert response.status_code == 400, response.content
    assert message in response.json()["path"][0]


def test_a_null_byte_in_a_name_is_refused(team):
    response = upload(api_client(team.ada), team.dataset(), "ok.csv", path="a\x00b.csv")
    assert response.status_code == 400
    assert "path" in response.json()


def test_a_file_or_folder_from_lab_storage(team):
    (team.storage / "recordings").mkdir()
    (team.storage / "recordings" / "a.wav").write_bytes(b"RIFF" * 10)
    (team.storage / "recordings" / "b.wav").write_bytes(b"RIFF" * 5)
    (team.storage / "notes.txt").write_text("hello")
    dataset = team.dataset(source="storage")
    client = api_client(team.ada)
    folder = add_storage(client, dataset, str(team.storage / "recordings"), description="Audio")
    assert folder.status_code == 201, folder.json()
    assert folder.json()["kind"] == "folder"
    assert folder.json()["size"] == 60 and folder.json()["entry_count"] == 2
    assert folder.json()["storage_path"] == str(team.storage / "recordings")
    relative = add_storage(client, dataset, "notes.txt")  # the lab's only root
    assert relative.status_code == 201, relative.json()
    by_root = add_storage(client, dataset, "notes.txt", storage_root=team.root.pk, path="n.txt")
    assert by_root.status_code == 201


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "not under the lab's storage roots"),
        ("{root}/../outside.txt", "may not contain '..'"),
        ("../outside.txt", "may not contain '..'"),
        ("{root}/missing.csv", "does not exist"),
        ("{root}/escape", "leads outside the storage root"),
        ("{root}/fifo", "not a regular file or folder"),
        ("{root}/empty.csv", "empty (0 bytes)"),
        ("{root}/a\x07b", "control characters"),
    ],
)
def test_storage_path_tricks_are_refused(team, tmp_path, path, message):
    (tmp_path / "outside.txt").write_text("secret")
    (team.storage / "escape").symlink_to(tmp_path / "outside.txt")
    os.mkfifo(team.storage / "fifo")
    (team.storage / "empty.csv").write_bytes(b"")
    dataset = team.dataset(source="storage")
    response = add_storage(api_client(team.ada), dataset, path.format(root=team.storage))
    assert response.status_code == 400, response.content
    assert message in response.json()["storage_path"][0]
    assert not DatasetFile.objects.exists()


def test_another_labs_storage_root_is_not_found(team, rival):
    (rival.storage / "theirs.csv").write_text("1,2")
    dataset = team.dataset(source="storage")
    client = api_client(team.ada)
    response = add_storage(client, dataset, "theirs.csv", storage_root=rival.root.pk)
    assert response.status_code == 404
    response = add_storage(client, dataset, str(rival.storage / "theirs.csv"))
    assert response.status_code == 400  # not under this lab's roots


def test_a_file_of_another_dataset_is_not_found(team, rival):
    mine = team.dataset()
    theirs = rival.dataset("rival-data1")
    item = rival.upload(theirs)
    client = api_client(team.ada)
    assert client.get(f"/api/v1/datasets/{mine.pk}/files/{item.pk}/").status_code == 404
    assert client.delete(f"/api/v1/datasets/{mine.pk}/files/{item.pk}/").status_code == 404


def test_a_post_without_a_file_or_a_path_says_what_to_send(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    response = client.post(f"/api/v1/datasets/{dataset.pk}/files/", {"description": "x"})
    assert response.status_code == 400
    assert "Send a file" in response.json()["file"][0]
    response = client.post(
        f"/api/v1/datasets/{dataset.pk}/files/",
        {"file": "not a file"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "file" in response.json()


def test_creating_a_storage_dataset_with_its_folder_in_one_call(team):
    (team.storage / "recordings").mkdir()
    (team.storage / "recordings" / "a.wav").write_bytes(b"RIFF")
    client = api_client(team.ada)
    response = client.post(
        "/api/v1/datasets/",
        {
            "lab": team.lab.pk,
            "slug": "dawn-chorus",
            "title": "Dawn chorus",
            "license": "CC0-1.0",
            "storage_path": str(team.storage / "recordings"),
            "folder_packaging": "tar",
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == "storage"
    files = client.get(f"/api/v1/datasets/{response.json()['id']}/files/").json()
    assert [(f["path"], f["kind"]) for f in files] == [("recordings", "folder")]


def test_a_refused_storage_path_leaves_no_dataset_behind(team):
    from datasets.models import Dataset

    response = api_client(team.ada).post(
        "/api/v1/datasets/",
        {
            "lab": team.lab.pk,
            "slug": "dawn-chorus",
            "title": "Dawn chorus",
            "license": "CC0-1.0",
            "storage_path": "/etc",
        },
    )
    assert response.status_code == 400
    assert not Dataset.objects.exists()


def test_files_cannot_change_while_in_review(team):
    submission = team.submitted()
    response = upload(api_client(team.ada), submission.dataset, "more.csv")
    assert response.status_code == 409


def test_a_body_that_is_not_an_object_is_refused(team):
    dataset = team.dataset()
    response = api_client(team.ada).post(
        f"/api/v1/datasets/{dataset.pk}/files/", ["storage_path"], format="json"
    )
    assert response.status_code == 400
