"""The three journeys of the issue, in Chromium: the researcher registers and submits,
the engineer reviews and publishes, anyone follows the history."""

import json
import re

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset, JobState, PublishJob, Submission
from datasets.services import review

from .helpers import label, nav, published, scanned

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
    nav(page).get_by_role("link", name="Datasets", exact=True).click()
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
    form.get_by_role("tab", name="1. Basics").click()
    expect(title).to_be_visible()
    ada.screenshot("dataset-form", readme=True)

    form.get_by_role("tab", name="3. Publishing").click()
    expect(form.get_by_label(label("Private on Kaggle"))).to_be_checked()
    form.get_by_label(label("Where the files come from")).select_option(
        label="Folder on lab storage"
    )
    form.get_by_label(label("Folder packaging")).select_option("tar")
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
    files = page.get_by_role("region", name=re.compile(r"^Files( \d+)?$"))
    expect(files).to_contain_text("readings.csv")
    expect(files).to_contain_text("divers.csv")

    # A folder from lab storage, through the storage browser.
    page.get_by_role("link", name="From lab storage").click()
    ada.arrived("Add from lab storage")
    page.get_by_role("group", name="Storage roots").get_by_role("link", name="Project").click()
    # htmx swaps the folder in (or, before htmx is ready, the link loads the page): let
    # that settle, so "Choose" acts on the page that stays.
    page.wait_for_load_state("networkidle")
    browser_card = page.locator("#storage-browser")
    row = browser_card.get_by_role("row", name=re.compile("transects"))
    row.get_by_role("link", name="Choose").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label(label("Path inside the root"))).to_have_value("transects")
    page.get_by_label(label("Description")).fill("Transect counts, one file per month")
    ada.screenshot("storage-browser")
    page.get_by_role("button", name="Add to the dataset").click()
    ada.arrived("Krill counts of the Oslofjord")
    expect(files).to_contain_text("transects")
    expect(files).to_contain_text("published as .tar")

    # The Kaggle metadata as it would be sent.
    page.get_by_text("Show dataset-metadata.json").click()
    metadata = json.loads(
        page.get_by_role("region", name="Kaggle metadata").locator("pre").inner_text()
    )
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
    ada.screenshot("dataset-in-review")


def version_1_published(team, slug, title):
    """A dataset whose first version is on Kaggle, built through the services."""
    dataset = team.dataset(
        slug=slug,
        title=title,
        subtitle="Weekly krill counts from six stations in the Oslofjord",
        description="Counts of **krill**.",
        keywords=["earth and nature", "biology"],
    )
    team.upload(dataset, "readings.csv", READINGS_CSV[:200_000], "Raw counts")
    published(team.approve(team.submit(dataset, notes="First release")))
    dataset.refresh_from_db()
    return dataset


def test_engineer_returns_then_approves_and_watches_it_publish(team, visit, kaggle_sandbox):
    dataset = version_1_published(team, "krill-counts-reviewed", "Krill counts, reviewed")
    team.upload(dataset, "divers.csv", PARTICIPANTS_CSV, "Who dived")
    scanned(team.submit(dataset, notes="Adds the divers"))

    # Grace: the queue shows it, the review page shows what she must judge.
    grace = visit(team.grace)
    page = grace.log_in(team.password)
    queue_link = nav(page).get_by_role("link", name=re.compile("^Review queue"))
    expect(queue_link).to_have_text(re.compile(r"Review queue\s*1\s*waiting"))
    queue_link.click()
    grace.arrived("Review queue")
    row = page.get_by_role("row", name=re.compile("Krill counts, reviewed"))
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("Ada Lovelace")
    row.get_by_role("link", name="Krill counts, reviewed").click()
    grace.arrived("Review Krill counts, reviewed v2")
    files = page.get_by_role("region", name=re.compile(r"^Files( \d+)?$"))
    expect(files).to_contain_text("readings.csv")
    expect(files).to_contain_text("divers.csv")
    metadata = page.get_by_role("region", name="Metadata")
    expect(metadata.get_by_role("row", name=re.compile("^Title"))).to_contain_text(
        "Krill counts, reviewed"
    )
    expect(metadata.get_by_role("row", name=re.compile("^License"))).to_contain_text("CC-BY-4.0")
    changes = page.get_by_role("region", name="What changed")
    expect(changes).to_contain_text("Against version 1")
    expect(changes).to_contain_text("added divers.csv")
    # The content scan found the addresses, and shows them masked.
    scan = page.get_by_role("region", name=re.compile("Content scan for personal data"))
    finding = scan.get_by_role("row", name=re.compile("E-mail address"))
    expect(finding).to_contain_text("divers.csv")
    expect(finding).to_contain_text("email")
    expect(scan).not_to_contain_text("ada@lab.example")
    grace.screenshot("review", readme=True)
    page.get_by_label(label("Reason")).fill(
        "divers.csv lists the divers' e-mail addresses: drop that column. And please say "
        "in the description who the divers are."
    )
    page.get_by_role("button", name="Return with this reason").click()
    expect(page.get_by_role("alert")).to_contain_text("Returned version 2 to ada")
    grace.arrived("Review Krill counts, reviewed v2")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Returned")

    # Ada: sees the reason, fixes the file and the description, submits again.
    ada = visit(team.ada)
    page = ada.log_in(team.password)
    nav(page).get_by_role("link", name="Datasets", exact=True).click()
    ada.arrived("Datasets")
    page.get_by_role("link", name="Krill counts, reviewed").click()
    ada.arrived("Krill counts, reviewed")
    returned = page.get_by_role("alert").filter(has_text="Returned by the reviewer")
    expect(returned).to_contain_text("drop that column")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row", name=re.compile("divers.csv")).get_by_role(
        "button", name="Remove"
    ).click()
    ada.arrived("Krill counts, reviewed")
    page.get_by_role("link", name="Add files").click()
    ada.arrived("Upload files")
    page.get_by_label(label("Files")).set_input_files(
        [{"name": "divers.csv", "mimeType": "text/csv", "buffer": b"diver,dives\nA,12\nG,9\n"}]
    )
    page.get_by_role("button", name="Upload").click()
    ada.arrived("Krill counts, reviewed")
    page.locator("main").get_by_role("link", name="Edit", exact=True).first.click()
    ada.arrived("Edit Krill counts, reviewed")
    page.get_by_role("tab", name="2. Description").click()
    page.get_by_label(label("Description")).fill(
        "Counts of **krill**. Two divers of the lab took the samples."
    )
    page.get_by_role("button", name="Save").click()
    ada.arrived("Krill counts, reviewed")
    page.get_by_role("link", name="Submit version 2").click()
    ada.arrived("Submit version 2")
    page.get_by_label(label("Version notes")).fill("Adds the divers, without their addresses.")
    page.get_by_role("button", name="Submit version 2 for review").click()
    ada.arrived("Krill counts, reviewed")
    expect(page.get_by_role("alert").first).to_contain_text("Submitted version 2 for review")
    # Approval waits for the content scan, which the worker runs in a moment.
    scanned(Submission.objects.filter(dataset=dataset).latest("id"))

    # Grace: the diff against version 1, then approval.
    page = grace.page
    nav(page).get_by_role("link", name=re.compile("^Review queue")).click()
    grace.arrived("Review queue")
    page.get_by_role("row", name=re.compile("Krill counts, reviewed")).get_by_role(
        "link", name="Krill counts, reviewed"
    ).click()
    grace.arrived("Review Krill counts, reviewed v2")
    changes = page.get_by_role("region", name="What changed")
    expect(changes.get_by_role("row", name=re.compile("^description"))).to_contain_text(
        "Two divers of the lab"
    )
    expect(changes).to_contain_text("added divers.csv (21 bytes)")
    expect(page.get_by_role("region", name=re.compile("Content scan"))).to_contain_text(
        "nothing found"
    )
    grace.screenshot("review-again")
    # A slow link to Kaggle, so the job is still running when its page opens.
    kaggle_sandbox.set_upload_bandwidth(64 * 1024)
    page.get_by_role("button", name="Approve and publish").click()
    grace.arrived("Review Krill counts, reviewed v2")
    expect(page.get_by_role("alert").first).to_contain_text("Approved version 2")
    page.get_by_role("link", name=re.compile(r"^Publish job #\d+")).click()
    grace.arrived("Publish job")
    job = PublishJob.objects.get(dataset=dataset, submission__number=2, state__in=JobState.active())

    # The live part follows the job without a reload (htmx every 2 s).
    live = page.locator("#job-live")
    page.evaluate("""() => {
        window.__sameDocument = true;
        window.__states = [];
        const seen = () => {
            const badge = document.querySelector('#job-live .badge');
            const state = badge && badge.textContent.trim();
            if (state && window.__states.at(-1) !== state) window.__states.push(state);
        };
        seen();
        new MutationObserver(seen).observe(document.body, {childList: true, subtree: true});
    }""")
    expect(live).to_have_attribute("hx-trigger", "every 2s")
    kaggle_sandbox.set_upload_bandwidth(None)
    expect(live).to_contain_text("Published as v2 · Kaggle v2", timeout=45_000)
    assert page.evaluate("window.__sameDocument") is True
    states = page.evaluate("window.__states")
    assert len(states) >= 2 and states[-1] == "Published", states
    job.refresh_from_db()
    assert job.state == JobState.PUBLISHED
    kaggle = live.get_by_role("link", name=job.kaggle_ref, exact=True)
    expect(kaggle).to_have_attribute("href", job.kaggle_url)
    assert job.kaggle_ref == "demo-lab/krill-counts-reviewed"
    grace.screenshot("job", readme=True)


def test_anyone_follows_the_timeline_the_history_and_the_feed(team, visit):
    other = version_1_published(team, "krill-counts-other", "Krill counts, elsewhere")
    dataset = team.dataset(
        slug="krill-counts-followed",
        title="Krill counts, followed",
        subtitle="Weekly krill counts from six stations in the Oslofjord",
        description="Counts of **krill** per cubic metre, sampled weekly at six stations.",
        keywords=["earth and nature", "biology"],
    )
    team.upload(dataset, "readings.csv", READINGS_CSV[:50_000], "Raw counts")
    review.submission_return(team.submit(dataset), actor=team.grace, reason="Add notes.")
    published(team.approve(team.submit(dataset, notes="With notes")))
    alan = team.outsider()

    visitor = visit(alan)
    page = visitor.log_in(team.password)
    nav(page).get_by_role("link", name="Datasets", exact=True).click()
    visitor.arrived("Datasets")
    page.get_by_role("link", name="Krill counts, followed").click()
    visitor.arrived("Krill counts, followed")

    # The timeline: every step, from registration to Kaggle.
    timeline = page.get_by_role("region", name="History")
    codes = timeline.locator(".timeline-item code").all_inner_texts()
    assert sorted(codes) == sorted(
        [
            "dataset.created",
            "file.added",
            "submission.submitted",
            "submission.returned",
            "submission.submitted",
            "submission.approved",
            "job.queued",
            "job.staging.started",
            "job.uploading.started",
            "job.processing.started",
            "job.published",
        ]
    ), codes
    expect(timeline).to_contain_text("Grace Hopper returned a version")
    expect(timeline).to_contain_text("Add notes.")
    expect(timeline).to_contain_text("Published on Kaggle")

    # The feed: no link yet for someone who never had one; one click makes it.
    page.get_by_role("button", name="Get an Atom feed of new versions").click()
    visitor.arrived("Krill counts, followed")
    feed_link = page.get_by_role("link", name="Atom feed of new versions")
    href = feed_link.get_attribute("href")
    assert (
        page.locator("link[rel=alternate][type='application/atom+xml']").get_attribute("href")
        == href
    )
    feed = page.request.get(href)
    assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
    assert "Krill counts, followed: v1 · Kaggle v1 published" in feed.text()
    assert "Krill counts, elsewhere" not in feed.text()
    page.reload()  # without the flash message, for the README
    visitor.arrived("Krill counts, followed")
    visitor.screenshot("dataset", readme=True)

    # Publish history, filtered to this dataset.
    page.get_by_role("link", name="Publish history of this dataset").click()
    visitor.arrived("Publish history")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Krill counts, followed")
    expect(rows.first).to_contain_text("Published")
    expect(page.locator("main")).not_to_contain_text(other.title)
    note = page.get_by_role("status").filter(has_text="Only the publish jobs of")
    expect(note.get_by_role("link", name="Atom feed of this dataset")).to_have_attribute(
        "href", re.compile(re.escape(href.split("/feeds/")[1]) + "$")
    )
    visitor.screenshot("history", readme=True)
    note.get_by_role("link", name="Show every dataset").click()
    visitor.arrived("Publish history")
    expect(rows).to_have_count(2)

    # A leaked link is reset from the profile; the old one stops working.
    page.get_by_role("button", name="Account").click()
    page.get_by_role("link", name="Profile and emails").click()
    visitor.arrived("Profile")
    feeds = page.get_by_role("region", name="Atom feeds")
    expect(feeds).to_contain_text("Marine Ecology Lab")
    page.once("dialog", lambda dialog: dialog.accept())
    feeds.get_by_role("button", name="Reset my feed links").click()
    visitor.arrived("Profile")
    expect(page.get_by_role("alert").first).to_contain_text("The old ones no longer work")
    assert page.request.get(href).status == 404
    lab_feed = feeds.get_by_role("link", name=re.compile(r"\.atom$"))
    assert page.request.get(lab_feed.get_attribute("href")).ok
