"""Resumable uploads (tus 1.0.0): creation, offsets, resuming, limits, scoping, expiry."""

import base64
import time

import pytest
from django.test import Client
from django.urls import reverse

from datasets import uploads_tus
from datasets.models import DatasetFile
from tests.builders import Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WHARF_TUS_DIR = tmp_path / "partial"
    return Team(tmp_path / "storage")


@pytest.fixture
def dataset(team):
    return team.dataset()


@pytest.fixture
def ada(client, team):
    client.force_login(team.ada)
    return client


def meta(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client, dataset, length, name="sites.csv", **extra):
    return client.post(
        reverse("datasets:file_tus", args=[dataset.pk]),
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=meta(filename=name),
        **{**TUS, **extra},
    )


def patch(client, location, offset, data: bytes):
    return client.generic(
        "PATCH",
        location,
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **TUS,
    )


def test_options_advertise_the_version_extensions_and_the_size_limit(ada, dataset, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 4321
    response = ada.options(reverse("datasets:file_tus", args=[dataset.pk]))
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert "creation" in response["Tus-Extension"].split(",")
    assert response["Tus-Max-Size"] == "4321"


def test_an_upload_sent_in_two_pieces_becomes_a_dataset_file(ada, dataset):
    body = b"site,lat\n1,52.1\n2,53.0\n"
    created = create(ada, dataset, len(body))
    assert created.status_code == 201
    location = created["Location"]
    first = patch(ada, location, 0, body[:10])
    assert first.status_code == 204 and first["Upload-Offset"] == "10"
    assert ada.head(location, **TUS)["Upload-Offset"] == "10"
    last = patch(ada, location, 10, body[10:])
    assert last.status_code == 204
    assert last["Upload-Offset"] == str(len(body))
    item = DatasetFile.objects.get(dataset=dataset)
    assert item.path == "sites.csv" and item.size == len(body)
    with item.upload.open("rb") as f:
        assert f.read() == body
    # The partial file was moved into storage, not copied and left behind.
    assert not list(uploads_tus.tus_dir().glob("*.part"))
    assert ada.head(location, **TUS)["Upload-Offset"] == str(len(body))


def test_a_patch_at_the_wrong_offset_is_refused_with_the_offset_to_resume_from(ada, dataset):
    location = create(ada, dataset, 20)["Location"]
    patch(ada, location, 0, b"0123456789")
    response = patch(ada, location, 4, b"456789abcd")
    assert response.status_code == 409
    assert response["Upload-Offset"] == "10"
    assert not DatasetFile.objects.exists()


def test_bytes_past_the_declared_length_are_refused(ada, dataset):
    location = create(ada, dataset, 5)["Location"]
    response = patch(ada, location, 0, b"0123456789")
    assert response.status_code == 413
    assert ada.head(location, **TUS)["Upload-Offset"] == "0"


def test_an_upload_over_the_limit_is_refused_before_any_byte(ada, dataset, settings):
    settings.WHARF_UPLOAD_MAX_BYTES = 100
    response = create(ada, dataset, 101)
    assert response.status_code == 413
    assert "limited to" in response.json()["errors"][0]
    assert not list(uploads_tus.tus_dir().glob("*")) if uploads_tus.tus_dir().exists() else True


@pytest.mark.parametrize(
    ("name", "length", "status"),
    [("sites.csv", 0, 400), ("dataset-metadata.json", 10, 400), ("", 10, 400)],
)
def test_names_and_sizes_follow_the_upload_rules(ada, dataset, name, length, status):
    assert create(ada, dataset, length, name=name).status_code == status


def test_a_name_the_dataset_already_has_is_refused_at_creation(ada, team, dataset):
    team.upload(dataset, "sites.csv", b"a,b\n")
    response = create(ada, dataset, 10, name="sites.csv")
    assert response.status_code == 400
    assert "already has a file" in response.json()["errors"][0]


def test_a_missing_tus_header_or_length_is_a_clear_error(ada, dataset):
    url = reverse("datasets:file_tus", args=[dataset.pk])
    assert ada.post(url, HTTP_UPLOAD_LENGTH="3").status_code == 412
    response = ada.post(url, HTTP_UPLOAD_LENGTH="many", **TUS)
    assert response.status_code == 400
    response = ada.post(url, HTTP_UPLOAD_LENGTH="3", HTTP_UPLOAD_METADATA="filename ***", **TUS)
    assert response.status_code == 400


def test_another_lab_sees_neither_the_dataset_nor_the_upload(ada, team, dataset):
    location = create(ada, dataset, 10)["Location"]
    stranger = Client()
    stranger.force_login(UserFactory())
    assert create(stranger, dataset, 10).status_code == 404
    assert stranger.head(location, **TUS).status_code == 404
    assert patch(stranger, location, 0, b"0123456789").status_code == 404


def test_another_member_cannot_write_into_someone_elses_upload(ada, team, dataset):
    location = create(ada, dataset, 10)["Location"]
    grace = Client()
    grace.force_login(team.grace)
    assert patch(grace, location, 0, b"0123456789").status_code == 404


def test_logged_out_requests_go_to_the_login_page_and_keep_nothing(client, dataset):
    response = create(client, dataset, 10)
    assert response.status_code == 302 and "/login" in response["Location"]
    assert not uploads_tus.tus_dir().exists() or not list(uploads_tus.tus_dir().iterdir())


def test_csrf_is_checked_on_creation(team, dataset):
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(team.ada)
    assert create(checked, dataset, 10).status_code == 403


def test_termination_deletes_the_partial_upload(ada, dataset):
    location = create(ada, dataset, 10)["Location"]
    patch(ada, location, 0, b"01234")
    assert ada.delete(location, **TUS).status_code == 204
    assert ada.head(location, **TUS).status_code == 404


def test_the_sweep_deletes_abandoned_uploads_only(ada, dataset, settings):
    settings.WHARF_TUS_EXPIRE_SECONDS = 60
    old = create(ada, dataset, 10, name="old.csv")["Location"]
    patch(ada, old, 0, b"01234")
    fresh = create(ada, dataset, 10, name="fresh.csv")["Location"]
    patch(ada, fresh, 0, b"01234")
    # The old one's last byte came 61 s ago.
    upload_id = old.rstrip("/").rsplit("/", 1)[1]
    state = uploads_tus._read_state(upload_id)
    uploads_tus._write_state(upload_id, {**state, "touched": time.time() - 61})
    assert uploads_tus.tus_sweep() == 1
    assert ada.head(old, **TUS).status_code == 404
    assert ada.head(fresh, **TUS)["Upload-Offset"] == "5"


def test_an_expired_upload_is_gone_for_the_client(ada, dataset, settings):
    location = create(ada, dataset, 10)["Location"]
    settings.WHARF_TUS_EXPIRE_SECONDS = -1
    assert ada.head(location, **TUS).status_code == 404
    assert patch(ada, location, 0, b"0123456789").status_code == 404
