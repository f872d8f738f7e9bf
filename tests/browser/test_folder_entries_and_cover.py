"""In Chromium: a folder's entries load into the dataset and review pages a page at a
time, and the cover image's two Kaggle crops show before the form is saved."""

import io
import re

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def png(width: int, height: int) -> bytes:
    """Red left third, green middle, blue right third: the crops show which part they keep."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "red")
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 3, 0, 2 * width // 3, height), fill="green")
    draw.rectangle((2 * width // 3, 0, width, height), fill="blue")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def colours(element, *xs) -> list[str]:
    """The dominant colour at each x (middle row) of a screenshot of `element`."""
    from PIL import Image

    shot = Image.open(io.BytesIO(element.screenshot())).convert("RGB")
    names = []
    for x in xs:
        pixel = shot.getpixel((x, shot.height // 2))
        names.append(("red", "green", "blue")[max(range(3), key=lambda i: pixel[i])])
    return names


def csp_violations(page) -> list[str]:
    seen = []
    page.on(
        "console",
        lambda msg: "Content Security Policy" in msg.text and seen.append(msg.text),
    )
    return seen


def reveal(page, selector: str):
    """Scrolls to the list by script: htmx may swap the loader out (it loads when
    revealed) while a locator scroll still holds the old element."""
    page.evaluate("s => document.querySelector(s)?.scrollIntoView()", selector)
    return page.locator(selector)


def test_a_folders_entries_load_a_page_at_a_time(quiet_team, visit):
    team = quiet_team
    raw = team.storage / "survey" / "raw"
    raw.mkdir(parents=True)
    for i in range(70):
        (raw / f"part{i:03}.csv").write_text(f"id,score\n{i},1\n")
    dataset = team.dataset(slug="survey-entries")
    team.add_storage(dataset, "survey", "Survey answers, one file per part.")
    ada = visit(team.ada)
    ada.log_in(team.password)
    page = ada.open("datasets:dataset_detail", dataset.pk, title=dataset.title)
    entries = page.locator(".folder-entries")
    expect(entries.get_by_role("cell", name="raw/part000.csv", exact=True)).to_be_visible()
    expect(entries).to_contain_text("70 files, 1–50 shown")
    entries.get_by_role("link", name="Next").click()
    expect(entries.get_by_role("cell", name="raw/part069.csv", exact=True)).to_be_visible()
    expect(entries.get_by_role("cell", name="raw/part000.csv", exact=True)).to_have_count(0)
    assert page.url.endswith(f"/datasets/{dataset.pk}/")  # swapped in place
    ada.screenshot("folder-entries-dataset")

    page = ada.open("datasets:submission_create", dataset.pk, title="Submit version 1")
    entries = reveal(page, ".folder-entries")
    expect(entries).to_contain_text("as on lab storage now")
    expect(page.get_by_text('under "Folders"')).to_be_visible()
    ada.screenshot("folder-entries-submit")

    submission = team.submit(dataset)
    page = ada.open("datasets:review", submission.pk, title=f"Review {dataset.title}")
    entries = reveal(page, ".folder-entries")  # it loads when it comes into view
    expect(entries).to_contain_text("as frozen when this version was submitted")
    expect(page.get_by_text('under "Folders"')).to_be_visible()
    ada.screenshot("folder-entries-review")


def test_the_cover_crops_show_before_saving(quiet_team, visit, tmp_path):
    team = quiet_team
    dataset = team.dataset(slug="cover-preview")
    ada = visit(team.ada)
    ada.log_in(team.password)
    page = ada.open("datasets:dataset_edit", dataset.pk, title=f"Edit {dataset.title}")
    blocked = csp_violations(page)
    preview = page.locator("#cover-preview")
    expect(preview).to_be_hidden()
    page.get_by_role("tab", name="2. Description").click()

    small = tmp_path / "small.png"
    small.write_bytes(png(400, 200))
    page.get_by_label("Cover image", exact=True).set_input_files(small)
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("is 400×200; Kaggle needs at least 560×280")

    wide = tmp_path / "wide.png"
    wide.write_bytes(png(1200, 400))  # 3:1, so the header keeps the middle 2:1
    page.get_by_label("Cover image", exact=True).set_input_files(wide)
    expect(preview).to_contain_text("Not saved yet: wide.png (1200×400)")
    header = preview.locator("img[data-cover-crop=header]")
    thumbnail = preview.locator("img[data-cover-crop=thumbnail]")
    for img in (header, thumbnail):
        expect(img).to_have_attribute("src", re.compile("^blob:"))
        assert img.evaluate("i => i.complete && i.naturalWidth") == 1200
    assert blocked == []
    # As cover.py crops it: the header is the middle 2:1 (a quarter red, half green, a
    # quarter blue), the thumbnail the middle of the header (green only).
    assert colours(preview.locator(".cover-crop-header"), 20, 140, 260) == ["red", "green", "blue"]
    assert colours(preview.locator(".cover-crop-thumbnail"), 10, 70, 130) == ["green"] * 3
    ada.screenshot("cover-preview")

    page.get_by_role("button", name="Save").click()
    ada.arrived(dataset.title)
    dataset.refresh_from_db()
    assert dataset.cover_image.name.endswith(".png")
