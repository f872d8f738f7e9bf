"""The cover image: checked with Pillow (type, size, dimensions), stored as Pillow's
re-encoding fitted to Kaggle's 560×280 header, previewed as Kaggle's two crops."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from datasets import cover
from datasets.metadata import dataset_snapshot
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def image_bytes(size=(1200, 800), fmt="JPEG", color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def edit_data(dataset, **extra):
    return {
        "kaggle_account": dataset.kaggle_account_id,
        "slug": dataset.slug,
        "title": dataset.title,
        "subtitle": dataset.subtitle,
        "license": dataset.license,
        "is_private": "on",
        "source": "upload",
        "folder_packaging": "zip",
        **extra,
    }


def test_a_cover_is_stored_fitted_and_re_encoded_and_its_crops_are_served(team, client):
    dataset = team.dataset()
    client.force_login(team.ada)
    upload = SimpleUploadedFile("cover.jpg", image_bytes(), content_type="image/jpeg")
    response = client.post(
        reverse("datasets:dataset_edit", args=[dataset.pk]),
        edit_data(dataset, cover_image=upload),
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    with dataset.cover_image.open("rb") as handle, Image.open(handle) as stored:
        assert (stored.format, stored.size) == ("PNG", (560, 280))
    assert dataset_snapshot(dataset)["cover_image"] == dataset.cover_image.name
    header = client.get(reverse("datasets:dataset_cover", args=[dataset.pk]) + "?crop=header")
    thumb = client.get(reverse("datasets:dataset_cover", args=[dataset.pk]) + "?crop=thumbnail")
    assert header["Content-Type"] == "image/png" and header["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(header.content)).size == (560, 280)
    assert Image.open(io.BytesIO(thumb.content)).size == (280, 280)
    page = client.get(reverse("datasets:dataset_edit", args=[dataset.pk])).content.decode()
    assert "Cover image as Kaggle crops it" in page
    team.upload(dataset, "buoys.csv", b"buoy\nB1\n")
    submission = team.submit(dataset)
    client.force_login(team.grace)
    review = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "Cover image, as Kaggle crops it" in review


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (image_bytes((300, 200)), "Kaggle needs at least 560×280"),
        (b"<html><script>alert(1)</script></html>", "not an image Wharf can read"),
        (image_bytes(fmt="GIF"), "Use a PNG, JPEG or WebP image"),
    ],
)
def test_an_unfit_cover_is_refused_and_the_form_keeps_the_rest(team, client, content, message):
    dataset = team.dataset()
    client.force_login(team.ada)
    upload = SimpleUploadedFile("cover.png", content, content_type="image/png")
    response = client.post(
        reverse("datasets:dataset_edit", args=[dataset.pk]),
        edit_data(dataset, cover_image=upload, subtitle="A brand new subtitle for buoys"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page and "A brand new subtitle for buoys" in page
    dataset.refresh_from_db()
    assert not dataset.cover_image


def test_the_stored_cover_carries_no_metadata_of_the_upload():
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "secret location"  # ImageDescription
    Image.new("RGB", (600, 300)).save(out, format="JPEG", exif=exif)
    upload = SimpleUploadedFile("c.jpg", out.getvalue())
    stored = cover.cover_sanitise(upload).read()
    assert b"secret location" not in stored


def test_no_cover_no_preview(team, client):
    dataset = team.dataset()
    client.force_login(team.ada)
    assert (
        client.get(
            reverse("datasets:dataset_cover", args=[dataset.pk]) + "?crop=header"
        ).status_code
        == 404
    )
