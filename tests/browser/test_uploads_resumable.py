"""Resumable uploads in Chromium (tus): a dropped connection and a reloaded page both go
on from the bytes the server already holds, with the progress bar, and the file arrives
whole."""

import os
import re

import pytest
from playwright.sync_api import expect

from datasets.models import DatasetFile

from .helpers import label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHUNK = 64 * 1024
BODY = os.urandom(CHUNK * 12 + 123)


@pytest.fixture
def uploading(quiet_team, visit, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WHARF_TUS_DIR = tmp_path / "partial"
    settings.WHARF_TUS_CHUNK_BYTES = CHUNK
    dataset = quiet_team.dataset()
    ada = visit(quiet_team.ada)
    ada.log_in(quiet_team.password)
    ada.open("datasets:file_upload", dataset.pk, title="Upload files")
    return dataset, ada, tmp_path


def patches(page) -> list[int]:
    """Upload-Offset of every PATCH the page sends (recorded as they leave)."""
    offsets = []
    page.on(
        "request",
        lambda r: offsets.append(int(r.headers["upload-offset"])) if r.method == "PATCH" else None,
    )
    return offsets


def choose_and_send(page, folder):
    # A file on disk, as a person picks it: the browser knows the same file again after a
    # reload by its name, size and modification time.
    path = folder / "sonar.bin"
    if not path.exists():
        path.write_bytes(BODY)
    page.get_by_label(label("Files")).set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def stored(dataset) -> bytes:
    item = DatasetFile.objects.get(dataset=dataset, path="sonar.bin")
    with item.upload.open("rb") as f:
        return f.read()


def test_a_dropped_connection_resumes_from_the_server_offset(uploading):
    dataset, ada, folder = uploading
    page = ada.page
    offsets = patches(page)
    dropped = []

    def drop_the_fourth_piece(route):
        request = route.request
        if request.method == "PATCH" and not dropped and len(offsets) >= 4:
            dropped.append(int(request.headers["upload-offset"]))
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r".*/files/tus/.+"), drop_the_fourth_piece)
    choose_and_send(page, folder)
    ada.arrived("Ocean temperatures")
    assert stored(dataset) == BODY
    assert dropped == [3 * CHUNK]
    # The piece that was cut is sent again from where the server stood; nothing before it.
    after = offsets[offsets.index(3 * CHUNK) + 1 :]
    assert after[0] == 3 * CHUNK
    assert sorted(set(offsets)) == [n * CHUNK for n in range(13)]


def test_a_reloaded_page_resumes_the_same_file_where_it_stopped(uploading):
    dataset, ada, folder = uploading
    page = ada.page
    offsets = patches(page)

    def cut_after_five_pieces(route):
        if route.request.method == "PATCH" and len(offsets) > 5:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route(re.compile(r".*/files/tus/.+"), cut_after_five_pieces)
    choose_and_send(page, folder)
    bar = page.get_by_role("progressbar", name="Upload of sonar.bin")
    expect(page.locator("#upload-list")).to_contain_text("retrying")
    assert int(bar.get_attribute("aria-valuenow")) > 0
    assert not DatasetFile.objects.filter(dataset=dataset).exists()

    # The connection comes back; the person reloads the page and picks the file again.
    page.unroute(re.compile(r".*/files/tus/.+"))
    page.reload()
    ada.arrived("Upload files")
    offsets.clear()
    choose_and_send(page, folder)
    ada.arrived("Ocean temperatures")
    assert stored(dataset) == BODY
    assert offsets[0] == 5 * CHUNK  # not from 0: the five pieces sent before stayed
