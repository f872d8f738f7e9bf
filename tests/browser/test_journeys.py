"""The three journeys of the issue, in Chromium: the researcher registers and submits,
the engineer reviews and publishes, anyone follows the history."""

import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset, DatasetStatus, JobState, PublishJob, Submission
from tests.conftest import wait_until

def label(text: str) -> re.Pattern:
    """A field's label, with or without the asterisk of a required field."""
    return re.compile(rf"^\s*{re.escape(text)}\s*\*?\s*$")


pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

# A CSV with people's e-mail addresses: what the sensitive-data scanner must flag.
PARTICIPANTS_CSV = b"diver,email,dives\nAda,ada@lab.example,12\nGrace,grace@lab.example,9\n"
# Big enough that its upload shows progress under the throttled network below.
READINGS_CSV = b"station,day,count\n" + b"".join(
    f"ST{n % 6},2024-{1 + n % 12:02}-{1 + n % 28:02},{(n * 37) % 1000}\n".encode()
    for n in range(40_000)
)


def make_storage_folder(team) -> None:
    folder = team.storage / "transects"
    (folder / "2024").mkdir(parents=True)
    (folder / "stations.csv").write_text("station,lat,lon\nST0,59.9,10.7\nST1,60.1,10.9\n")
    (folder / "2024" / "march.csv").write_text("station,depth,count\n" + "ST0,5,40\n" * 200)


def test_researcher_registers_describes_and_submits_version_1(team, visit):
    make_storage_folder(team)
    ada = visit(team.ada)
    page = ada.log_in(team.password)

    # Register: every field, with Kaggle's rules shown while typing.
    page.get_by_role("link", name="Datasets", exact=True).click()
    ada.arrived("Datasets")
    page.get_by_role("link", name="Register a dataset").first.click()
    ada.arrived("Register a dataset")
    form = page.locator("#dataset-form")
    expect(form.get_by_label(label("Lab"))).to_have_value(str(team.lab.pk))
    form.get_by_label(label("Kaggle account (owner)")).select_option(label="demo-lab")
    title = form.get_by_label(label("Title"))
    title.fill("Krill")
    title.press("Tab")
    expect(title).to_have_class(re.compile("is-invalid"))
    expect(form.locator("#id_title ~ .live-feedback")).to_have_text(
        "Needs at least 6 characters; it has 5."
    )
    slug = form.get_by_label(label("Slug"))
    slug.fill("krill")
    slug.press("Tab")
    expect(form.locator("#id_slug ~ .live-feedback")).to_have_text(
        "Needs at least 6 characters; it has 5."
    )
    slug.fill("krill--counts")
    slug.press("Tab")
    expect(form.locator("#id_slug ~ .live-feedback")).to_contain_text("single hyphens")
    title.fill("Krill counts of the Oslofjord")
    expect(title).not_to_have_class(re.compile("is-invalid"))
    slug.fill("oslofjord-krill-counts")
    slug.press("Tab")
    expect(slug).not_to_have_class(re.compile("is-invalid"))
    form.get_by_label(label("Subtitle")).fill("Weekly krill and plankton counts from six stations")

    form.get_by_role("tab", name="2. Description").click()
    form.get_by_label(label("Description")).fill(
        "Counts of **krill** per cubic metre, sampled weekly.\n\n"
        "| file | what |\n|---|---|\n| readings.csv | the counts |\n"
    )
    preview = page.locator("#markdown-preview")
    expect(preview.locator("strong")).to_have_text("krill")
    expect(preview.locator("table")).to_be_visible()
    form.get_by_label(label("Keywords")).fill("oceans, biology, animals")
    form.get_by_label(label("License")).select_option("CC0-1.0")

    form.get_by_role("tab", name="3. Publishing").click()
    expect(form.get_by_label(label("Private on Kaggle"))).to_be_checked()
    form.get_by_label(label("Where the files come from")).select_option(label="Folder on lab storage")
    form.get_by_label(label("Folder packaging")).select_option("tar")
    ada.screenshot("dataset-form", readme=True)
    page.get_by_role("button", name="Register").click()
    ada.arrived("Krill counts of the Oslofjord")
    expect(page.get_by_role("alert")).to_contain_text("Registered demo-lab/oslofjord-krill-counts")
    dataset = Dataset.objects.get(slug="oslofjord-krill-counts")
    assert (dataset.license, dataset.keywords, dataset.folder_packaging, dataset.is_private) == (
        "CC0-1.0",
        ["oceans", "biology", "animals"],
        "tar",
        True,
    )

    # Two files through the upload widget, each with its own progress bar.
    page.get_by_role("link", name="Add files").click()
    ada.arrived("Upload files")
    throttle = page.context.new_cdp_session(page)
    throttle.send("Network.enable")
    throttle.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    page.get_by_label(label("Files")).set_input_files(
        [
            {"name": "readings.csv", "mimeType": "text/csv", "buffer": READINGS_CSV},
            {"name": "divers.csv", "mimeType": "text/csv", "buffer": PARTICIPANTS_CSV},
        ]
    )
    page.get_by_label(label("Description")).fill("Raw counts")
    page.get_by_role("button", name="Upload").click()
    bars = page.get_by_role("progressbar")
    expect(bars).to_have_count(2)
    expect(page.get_by_role("progressbar", name="Upload of readings.csv")).to_have_attribute(
        "aria-valuenow", re.compile(r"^[1-9]\d?$")
    )
    expect(page.locator("#upload-list")).to_contain_text("Uploading…")
    ada.screenshot("upload-progress")
    throttle.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    ada.arrived("Krill counts of the Oslofjord")
    files = page.get_by_role("region", name="Files")
    expect(files).to_contain_text("readings.csv")
    expect(files).to_contain_text("divers.csv")

    # A folder from lab storage, through the storage browser.
    page.get_by_role("link", name="From lab storage").click()
    ada.arrived("Add from lab storage")
    page.get_by_role("group", name="Storage roots").get_by_role("link", name="Project").click()
    browser_card = page.locator("#storage-browser")
    row = browser_card.get_by_role("row", name=re.compile("transects"))
    row.get_by_role("link", name="Choose").click()
    expect(page.get_by_label(label("Path inside the root"))).to_have_value("transects")
    page.get_by_label(label("Description")).fill("Transect counts, one file per month")
    ada.screenshot("storage-browser")
    page.get_by_role("button", name="Add to the dataset").click()
    ada.arrived("Krill counts of the Oslofjord")
    expect(files).to_contain_text("transects")
    expect(files).to_contain_text("published as .tar")

    # The Kaggle metadata as it would be sent.
    page.get_by_text("Show dataset-metadata.json").click()
    metadata = json.loads(page.get_by_role("region", name="Kaggle metadata").locator("pre").inner_text())
    assert metadata["id"] == "demo-lab/oslofjord-krill-counts"
    assert metadata["title"] == "Krill counts of the Oslofjord"
    assert metadata["licenses"] == [{"name": "CC0-1.0"}]
    assert metadata["isPrivate"] is True
    assert {r["path"] for r in metadata["resources"]} >= {"readings.csv", "divers.csv"}
    ada.screenshot("dataset-draft")

    # Submit version 1.
    page.get_by_role("link", name="Submit version 1").click()
    ada.arrived("Submit version 1")
    expect(page.locator("main")).to_contain_text("3 files")
    page.get_by_label(label("Version notes")).fill("First release: 2024 counts.")
    page.get_by_role("button", name="Submit version 1 for review").click()
    ada.arrived("Krill counts of the Oslofjord")
    expect(page.get_by_role("alert")).to_contain_text("Submitted version 1 for review")
    expect(page.get_by_role("heading", level=1)).to_contain_text("In review")
    submission = Submission.objects.get(dataset=dataset)
    assert submission.number == 1 and submission.file_count == 3
    assert [f["path"] for f in submission.files] == ["divers.csv", "readings.csv", "transects"]
    ada.screenshot("dataset-in-review", readme=True)
