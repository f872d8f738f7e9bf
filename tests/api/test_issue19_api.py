"""Issue 19 through the API: the cover image (PUT/GET/DELETE /datasets/{id}/cover/), a
CSV's columns read and described through /files/{id}/, and a folder's entries a page at a
time (/files/{id}/entries/), with the same checks and services as the web forms."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from datasets import cover
from datasets.models import Dataset, DatasetStatus, Event
from datasets.services import files
from tests.builders import make_survey

from .conftest import api_client

pytestmark = pytest.mark.django_db


def image_bytes(size=(1200, 600), fmt="PNG", mode="RGB", **save) -> bytes:
    image = Image.new(mode, size, "white" if mode == "RGB" else 0)
    if mode == "RGB":
        # A left half red and a right half blue, so the fit and the crop are visible.
        image.paste((200, 0, 0), (0, 0, size[0] // 2, size[1]))
        image.paste((0, 0, 200), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def cover_url(dataset) -> str:
    return f"/api/v1/datasets/{dataset.pk}/cover/"


def put_multipart(client, dataset, data: bytes, name="cover.png"):
    return client.put(
        cover_url(dataset), {"image": SimpleUploadedFile(name, data)}, format="multipart"
    )


def put_raw(client, dataset, data: bytes, content_type="image/png"):
    return client.generic("PUT", cover_url(dataset), data, content_type=content_type)


def opened(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# --- the cover image -------------------------------------------------------------------------


def test_a_cover_put_as_multipart_is_stored_sanitised_and_served_back_as_png(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    exif = Image.Exif()
    exif[0x010E] = "secret camera note"  # ImageDescription
    uploaded = image_bytes(fmt="JPEG", exif=exif.tobytes())

    response = put_multipart(client, dataset, uploaded, "holiday.jpg")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["cover_url"] == f"http://testserver{cover_url(dataset)}"

    served = client.get(cover_url(dataset))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    png = served.content
    assert png != uploaded and png.startswith(b"\x89PNG")
    image = opened(png)
    assert image.size == cover.HEADER and image.format == "PNG"
    assert b"secret camera note" not in png and not image.getexif()
    # The web page's preview serves the same stored file: one cover, two doors.
    dataset.refresh_from_db()
    assert dataset.cover_image.name.startswith("covers/")
    with dataset.cover_image.open("rb") as handle:
        assert handle.read() == png
    event = Event.objects.filter(dataset=dataset, action="dataset.updated").latest("id")
    assert event.data == {"fields": ["cover_image"]} and event.actor == team.ada


def test_a_cover_put_as_a_raw_image_body_works_too_and_the_thumbnail_is_kaggles_crop(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    response = put_raw(client, dataset, image_bytes(fmt="WEBP"), "image/webp")
    assert response.status_code == 200, response.json()
    thumbnail = client.get(cover_url(dataset) + "?crop=thumbnail")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    box = cover.THUMBNAIL_BOX
    assert opened(thumbnail.content).size == (box[2] - box[0], box[3] - box[1])
    assert client.get(cover_url(dataset) + "?crop=sideways").status_code == 400


def test_the_cover_reaches_the_metadata_sent_to_kaggle(team, settings):
    from datasets.metadata import dataset_kaggle_metadata

    dataset = team.dataset()
    client = api_client(team.ada)
    assert "image" not in client.get(f"/api/v1/datasets/{dataset.pk}/kaggle-metadata/").json()
    assert put_multipart(client, dataset, image_bytes()).status_code == 200
    dataset.refresh_from_db()
    # The worker reads Wharf's sanitised copy; people see the name the client looks for,
    # never a path on Wharf's server.
    assert dataset_kaggle_metadata(dataset)["image"].endswith(dataset.cover_image.name)
    response = client.get(f"/api/v1/datasets/{dataset.pk}/kaggle-metadata/")
    assert response.json()["image"] == "dataset-cover-image.png"
    assert str(settings.MEDIA_ROOT) not in response.content.decode()


def bomb() -> bytes:
    """A small PNG that claims 400 million pixels (Pillow refuses it before decoding)."""
    return image_bytes(size=(20_000, 20_000), mode="1")


@pytest.mark.parametrize("how", ["multipart", "raw"])
@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b"t,temp\n1,12.5\n", "image/png", "not an image Wharf can read"),
        (image_bytes(size=(300, 150)), "image/png", "Kaggle needs at least 560×280"),
        (image_bytes(fmt="GIF"), "image/gif", "Use a PNG, JPEG or WebP image (this one is GIF)"),
        (bomb(), "image/png", "too many pixels"),
        (image_bytes()[:200], "image/png", "not an image Wharf can read"),  # truncated
        (b"", "image/png", ""),  # nothing sent
    ],
    ids=["text", "too-small", "gif", "bomb", "truncated", "empty"],
)
def test_an_image_wharf_refuses_is_a_400_that_says_why_and_nothing_is_stored(
    team, how, data, content_type, message
):
    dataset = team.dataset()
    client = api_client(team.ada)
    if how == "multipart":
        response = put_multipart(client, dataset, data)
    else:
        response = put_raw(client, dataset, data, content_type)
    assert response.status_code == 400, response.content
    errors = response.json()["image"]
    assert message in errors[0], errors
    dataset.refresh_from_db()
    assert not dataset.cover_image
    assert not Event.objects.filter(dataset=dataset, action="dataset.updated").exists()


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_an_image_over_the_size_limit_is_refused(team, monkeypatch, how):
    monkeypatch.setattr(cover, "MAX_BYTES", 2000)
    dataset = team.dataset()
    client = api_client(team.ada)
    # 30 KB: over the limit, but within what a request's length lets through unread.
    data = image_bytes(size=(100, 100), fmt="BMP")
    if how == "multipart":
        response = put_multipart(client, dataset, data)
    else:
        response = put_raw(client, dataset, data, "image/bmp")
    assert response.status_code == 400
    assert response.json()["image"][0].startswith("The image is larger than")


def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read(team, monkeypatch):
    read = []
    monkeypatch.setattr(cover, "cover_sanitise", lambda uploaded: read.append(uploaded))
    client = api_client(team.ada)
    dataset = team.dataset()
    response = client.generic(
        "PUT",
        cover_url(dataset),
        b"x" * 10,
        content_type="image/png",
        CONTENT_LENGTH=str(cover.MAX_BYTES + 1024 * 1024),
    )
    assert response.status_code == 400
    assert "larger than" in response.json()["image"][0]
    assert read == []


@pytest.mark.parametrize(
    ("body", "kwargs"),
    [
        ({"image": "aGVsbG8="}, {"format": "json"}),
        (b"hello", {"content_type": "text/plain"}),
        ({"file": SimpleUploadedFile("c.png", image_bytes())}, {"format": "multipart"}),
    ],
    ids=["json", "text-plain", "multipart-without-image"],
)
def test_a_put_without_an_image_says_how_to_send_one(team, body, kwargs):
    dataset = team.dataset()
    response = api_client(team.ada).put(cover_url(dataset), body, **kwargs)
    assert response.status_code == 400
    assert "multipart/form-data (field 'image')" in response.json()["image"][0]


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=nothing-like-the-body", ""],
)
def test_a_body_that_cannot_be_read_is_a_400_not_a_500(team, content_type):
    dataset = team.dataset()
    response = api_client(team.ada).generic(
        "PUT", cover_url(dataset), b"--garbage\r\n\r\n" + image_bytes(), content_type=content_type
    )
    assert response.status_code == 400
    dataset.refresh_from_db()
    assert not dataset.cover_image


def test_a_cover_is_removed_with_delete_and_then_answers_404(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    assert client.get(cover_url(dataset)).status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").json()["cover_url"] is None
    assert put_multipart(client, dataset, image_bytes()).status_code == 200

    assert client.delete(cover_url(dataset)).status_code == 204
    missing = client.get(cover_url(dataset), HTTP_ACCEPT="image/png")
    assert missing.status_code == 404  # JSON, not a 406 for the Accept
    assert missing.json()["detail"] == "The dataset has no cover image."
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").json()["cover_url"] is None
    assert client.delete(cover_url(dataset)).status_code == 204  # already gone: still fine


def test_the_cover_follows_the_rules_of_editing_the_dataset(team, rival):
    dataset = team.dataset()
    png = image_bytes()
    # Another lab's dataset does not exist for you; without a token there is no API.
    assert put_multipart(api_client(rival.ada), dataset, png).status_code == 404
    assert api_client(rival.grace).get(cover_url(dataset)).status_code == 404
    assert api_client(rival.grace).delete(cover_url(dataset)).status_code == 404
    assert put_multipart(APIClient(), dataset, png).status_code == 401
    # Any member may set it, as any member may PATCH the dataset...
    assert put_multipart(api_client(team.grace), dataset, png).status_code == 200
    # ...while the dataset is editable: not in review.
    submitted = team.submitted("sea-levels")
    under_review = Dataset.objects.get(pk=submitted.dataset_id)
    assert under_review.status == DatasetStatus.IN_REVIEW
    refused = put_multipart(api_client(team.ada), under_review, png)
    assert refused.status_code == 409
    assert "in review" in refused.json()["detail"]
    assert api_client(team.ada).delete(cover_url(under_review)).status_code == 409
    under_review.refresh_from_db()
    assert not under_review.cover_image


def test_cover_uploads_are_throttled_like_every_api_call(team, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/minute"})
    dataset = team.dataset()
    client = api_client(team.ada)
    answers = [put_multipart(client, dataset, image_bytes()).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


# --- columns -------------------------------------------------------------------------------


def file_url(dataset, item) -> str:
    return f"/api/v1/datasets/{dataset.pk}/files/{item.pk}/"


def test_a_csvs_inferred_columns_are_read_with_the_file(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"t,temp,site\n1,12.5,north\n2,13.0,south\n")
    body = api_client(team.ada).get(file_url(dataset, item)).json()
    assert body["columns"] == [
        {"name": "t", "type": "integer", "inferred_type": "integer", "description": ""},
        {"name": "temp", "type": "number", "inferred_type": "number", "description": ""},
        {"name": "site", "type": "string", "inferred_type": "string", "description": ""},
    ]
    assert body["columns_error"] == "" and body["entry_columns"] == {}


def test_columns_are_described_and_retyped_by_name_the_others_kept(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"t,temp,site\n1,12.5,north\n2,13.0,south\n")
    client = api_client(team.ada)
    url = file_url(dataset, item)
    first = client.patch(
        url,
        {
            "columns": [
                {"name": "site", "description": "Buoy site"},
                {"name": "t", "type": "string", "description": "Sample id"},
            ]
        },
    )
    assert first.status_code == 200, first.json()
    assert [(c["name"], c["type"], c["description"]) for c in first.json()["columns"]] == [
        ("t", "string", "Sample id"),
        ("temp", "number", ""),
        ("site", "string", "Buoy site"),
    ]
    assert first.json()["columns"][0]["inferred_type"] == "integer"  # the correction shows

    # A type alone leaves the description; an empty description removes it.
    second = client.patch(
        url, {"columns": [{"name": "t", "type": "integer"}, {"name": "site", "description": ""}]}
    )
    assert [(c["type"], c["description"]) for c in second.json()["columns"]] == [
        ("integer", "Sample id"),
        ("number", ""),
        ("string", ""),
    ]
    # What Kaggle will get: the described columns with the file.
    metadata = client.get(f"/api/v1/datasets/{dataset.pk}/kaggle-metadata/").json()
    assert metadata["resources"][0]["schema"]["fields"][0] == {
        "name": "t",
        "type": "integer",
        "description": "Sample id",
    }
    assert Event.objects.filter(
        dataset=dataset, action="file.updated", data__fields=["columns"]
    ).exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"name": "temp", "type": "float"}, "'float' is not a Table Schema type."),
        ({"name": "depth", "type": "number"}, "The file has no column 'depth'"),
        ({"name": "temp", "description": "x" * 1001}, "no more than 1000 characters"),
        ({"name": "temp", "description": "bell\x07"}, "control or direction-override characters"),
        ({"type": "number"}, "This field is required."),
    ],
    ids=["type", "unknown-column", "too-long", "control-character", "no-name"],
)
def test_a_column_edit_wharf_refuses_is_a_400(team, edit, message):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"t,temp\n1,12.5\n")
    response = api_client(team.ada).patch(file_url(dataset, item), {"columns": [edit]})
    assert response.status_code == 400, response.json()
    assert message in str(response.json()["columns"])
    item.refresh_from_db()
    assert [c["type"] for c in item.columns] == ["integer", "number"]
    assert all(c["description"] == "" for c in item.columns)


def test_a_column_listed_twice_is_refused(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", b"t,temp\n1,12.5\n")
    response = api_client(team.ada).patch(
        file_url(dataset, item), {"columns": [{"name": "t"}, {"name": "t", "type": "string"}]}
    )
    assert response.status_code == 400
    assert "listed twice" in response.json()["columns"][0]


def test_columns_cannot_change_while_the_dataset_is_in_review(team):
    submission = team.submitted()
    item = submission.dataset.files.get()
    response = api_client(team.ada).patch(
        file_url(submission.dataset, item), {"columns": [{"name": "t", "type": "string"}]}
    )
    assert response.status_code == 409


# --- a folder's entries --------------------------------------------------------------------


@pytest.fixture
def survey(team):
    make_survey(team.storage)
    dataset = team.dataset()
    folder = files.file_add_storage(
        dataset, actor=team.ada, storage_root=team.root, relpath="survey"
    )
    return dataset, folder


def entries_url(dataset, item) -> str:
    return f"/api/v1/datasets/{dataset.pk}/files/{item.pk}/entries/"


def test_a_folders_entries_are_listed_a_page_at_a_time(team, survey):
    dataset, folder = survey
    client = api_client(team.ada)
    first = client.get(entries_url(dataset, folder))
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 60 and body["previous"] is None
    assert body["next"].endswith(entries_url(dataset, folder) + "?page=2")
    assert len(body["results"]) == 50
    assert body["results"][0] == {
        "path": "answers.csv",
        "size": 17,
        "sha256": None,  # hashed when a version is submitted, not on every listing
        "columns": [
            {"name": "id", "type": "integer", "inferred_type": "integer", "description": ""},
            {"name": "score", "type": "integer", "inferred_type": "integer", "description": ""},
        ],
    }
    assert body["results"][1] == {
        "path": "raw/part000.txt",
        "size": 1,
        "sha256": None,
        "columns": [],
    }

    second = client.get(body["next"]).json()
    assert [r["path"] for r in second["results"]] == [f"raw/part{i:03}.txt" for i in range(49, 59)]
    assert second["next"] is None and second["previous"] is not None

    everything = client.get(entries_url(dataset, folder) + "?page_size=500").json()
    assert len(everything["results"]) == 60  # (capped at 200 a page)
    assert client.get(entries_url(dataset, folder) + "?page=3").status_code == 404
    assert client.get(entries_url(dataset, folder) + "?page=zero").status_code == 404
    assert client.get(entries_url(dataset, folder) + "?page=0").status_code == 404


def test_the_folder_shows_its_tabular_entries_columns_in_its_representation(team, survey):
    dataset, folder = survey
    body = api_client(team.ada).get(file_url(dataset, folder)).json()
    assert body["kind"] == "folder" and body["entry_count"] == 60
    assert [c["name"] for c in body["entry_columns"]["answers.csv"]] == ["id", "score"]
    assert body["columns"] == []


def test_a_plain_file_has_no_entries(team):
    dataset = team.dataset()
    item = team.upload(dataset)
    response = api_client(team.ada).get(entries_url(dataset, item))
    assert response.status_code == 404
    assert "is a file, not a folder" in response.json()["detail"]


def test_a_folder_gone_from_storage_is_a_409_that_says_so(team, survey):
    import shutil

    dataset, folder = survey
    shutil.rmtree(team.storage / "survey")
    response = api_client(team.ada).get(entries_url(dataset, folder))
    assert response.status_code == 409
    assert response.json()["detail"].startswith("Wharf cannot list this folder on lab storage")


def test_another_labs_folder_is_not_found(team, rival, survey):
    dataset, folder = survey
    assert api_client(rival.grace).get(entries_url(dataset, folder)).status_code == 404
    assert APIClient().get(entries_url(dataset, folder)).status_code == 401


# --- the docs --------------------------------------------------------------------------------


def test_the_docs_page_lists_the_new_endpoints(client):
    html = client.get("/api/docs/").content.decode()
    assert "/api/v1/datasets/{id}/cover/" in html
    assert "/api/v1/datasets/{id}/files/{file_pk}/entries/" in html
    assert "multipart/form-data" in html and "image/webp" in html
