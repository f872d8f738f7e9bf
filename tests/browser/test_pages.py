"""What every page owes its users, checked in Chromium: descriptions cannot run code,
the dataset form works from the keyboard alone, and axe-core finds no serious
accessibility problem on the main pages."""

import re

import pytest
from playwright.sync_api import expect

from datasets.models import JobState, PublishJob
from datasets.services import review

from .helpers import label, published

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

HOSTILE_DESCRIPTION = (
    "Harmless words about krill.\n\n"
    "<script>window.__xss = 'script'; alert(1)</script>\n\n"
    "<img src=x onerror=\"window.__xss = 'img'; alert(2)\">\n\n"
    "[a link](javascript:alert(3))\n"
)


def watch_for_code(page) -> dict:
    """Dialogs opened and requests for the image `x`, as they happen."""
    seen = {"dialogs": [], "x_requests": []}

    def on_dialog(dialog):
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on(
        "request",
        lambda request: (
            re.search(r"/x(\?|$)", request.url) and seen["x_requests"].append(request.url)
        ),
    )
    return seen


def assert_inert(page, seen) -> None:
    body = page.locator(".markdown-body").filter(has_text="Harmless words about krill")
    expect(body.first).to_be_visible()
    assert seen["dialogs"] == []
    assert page.evaluate("window.__xss") is None
    for selector in ("script", "[onerror]", "[onload]", "a[href^='javascript']", "iframe"):
        assert body.locator(selector).count() == 0, f"{selector} survived on {page.url}"


def test_a_description_with_script_and_handlers_renders_inert(quiet_team, visit):
    team = quiet_team
    dataset = team.dataset(slug="hostile-krill", description=HOSTILE_DESCRIPTION)
    team.upload(dataset, "readings.csv", b"station,count\nST0,4\n")
    submission = team.submit(dataset)
    ada = visit(team.ada)  # no bypass_csp here: the page's own defences are under test
    seen = watch_for_code(ada.page)
    page = ada.log_in(team.password)

    ada.open("datasets:dataset_detail", dataset.pk, title=dataset.title)
    assert_inert(page, seen)
    ada.open("datasets:review", submission.pk, title=f"Review {dataset.title}")
    assert_inert(page, seen)
    # The form's live preview (htmx) renders the same text through the same sanitiser.
    review.submission_withdraw(submission, actor=team.ada)
    ada.open("datasets:dataset_edit", dataset.pk, title=f"Edit {dataset.title}")
    page.get_by_role("tab", name="2. Description").click()
    expect(page.get_by_label(label("Description"))).to_have_value(HOSTILE_DESCRIPTION)
    assert_inert(page, seen)
    page.get_by_label(label("Description")).press_sequentially(" <b onmouseover=alert(4)>x</b>")
    expect(page.locator("#markdown-preview b")).to_have_text("x")
    page.locator("#markdown-preview b").hover()
    assert_inert(page, seen)


def test_a_description_image_with_a_relative_address_requests_nothing(quiet_team, visit):
    dataset = quiet_team.dataset(slug="hostile-image", description=HOSTILE_DESCRIPTION)
    ada = visit(quiet_team.ada)
    seen = watch_for_code(ada.page)
    ada.log_in(quiet_team.password)
    ada.open("datasets:dataset_detail", dataset.pk, title=dataset.title)
    ada.page.wait_for_load_state("networkidle")
    assert seen["x_requests"] == []


FOCUSED = """() => {
  const el = document.activeElement;
  return {
    key: el.id || el.textContent.trim(),
    role: el.getAttribute('role'),
    inForm: !!el.closest('#dataset-form'),
    visible: el.checkVisibility(),
  };
}"""


def test_the_keyboard_alone_reaches_every_control_of_the_dataset_form(quiet_team, visit):
    ada = visit(quiet_team.ada)
    page = ada.log_in(quiet_team.password)
    ada.open("datasets:dataset_create", title="Register a dataset")
    controls = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              '#dataset-form :is(input, select, textarea, button, a[href]):not([type=hidden])'))
            .filter((el) => el.getAttribute('role') !== 'tab')
            .map((el) => el.id || el.textContent.trim())"""
    )
    tabs = page.get_by_role("tab").all_inner_texts()
    assert len(controls) >= 13 and tabs == ["1. Basics", "2. Description", "3. Publishing"]

    reached = []

    def press(key):
        page.keyboard.press(key)
        where = page.evaluate(FOCUSED)
        assert where["visible"], f"{key} moved the focus to something hidden: {where}"
        reached.append(where["key"])
        return where

    def until(key, done, limit=40):
        for _ in range(limit):
            where = press(key)
            if done(where):
                return where
        pytest.fail(f"pressing {key} {limit} times never got there; reached {reached}")

    # From the top of the page to the open tab, then each tab's panel in turn: arrows
    # switch tabs (the ARIA tabs pattern), Tab walks the panel down to the buttons.
    until("Tab", lambda where: where["role"] == "tab")
    for n, name in enumerate(tabs):
        if n:
            assert press("ArrowRight")["key"] == name
        until("Tab", lambda where: where["key"] == "Register")
        if n < len(tabs) - 1:
            until("Shift+Tab", lambda where: where["role"] == "tab")
    until("Tab", lambda where: where["key"] == "Cancel")
    missed = [c for c in controls if c not in reached]
    assert not missed, f"never reached from the keyboard: {missed}"
    # And it submits from the keyboard too: Enter on Register sends the form.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    ada.arrived("Register a dataset")
    expect(page.get_by_role("alert").first).to_contain_text("Please correct the fields")


def test_the_main_pages_have_no_serious_accessibility_violations(team, visit):
    """axe-core, injected into each page (so this context bypasses the CSP)."""
    dataset = team.dataset(slug="krill-counts-axe", title="Krill counts, audited")
    team.upload(dataset, "readings.csv", b"station,count\nST0,4\n" * 500, "Raw counts")
    job = published(team.approve(team.submit(dataset, notes="First release")))
    team.upload(dataset, "divers.csv", b"diver,dives\nA,12\n", "Who dived")
    pending = team.submit(dataset, notes="Adds the divers")
    draft = team.dataset(slug="krill-draft-axe", title="Krill counts, draft")
    team.upload(draft, "readings.csv", b"station,count\nST0,4\n")
    assert PublishJob.objects.get(pk=job.pk).state == JobState.PUBLISHED

    pages = [
        ("login", (), "Log in"),
        ("home", (), "Home"),
        ("datasets:dataset_list", (), "Datasets"),
        ("datasets:dataset_create", (), "Register a dataset"),
        ("datasets:dataset_detail", (dataset.pk,), dataset.title),
        ("datasets:dataset_detail", (draft.pk,), draft.title),
        ("datasets:file_upload", (draft.pk,), "Upload files"),
        ("datasets:file_add_storage", (draft.pk,), "Add from lab storage"),
        ("datasets:submission_create", (draft.pk,), "Submit version 1"),
        ("datasets:review_queue", (), "Review queue"),
        ("datasets:review", (pending.pk,), "Review"),
        ("datasets:job_detail", (job.pk,), "Publish job"),
        ("datasets:history", (), "Publish history"),
        ("datasets:dashboard", (), "Dashboard"),
        ("datasets:lab_list", (), "Labs"),
        ("datasets:lab_settings", (team.lab.slug,), f"{team.lab.name} settings"),
        ("datasets:profile", (), "Profile"),
    ]
    grace = visit(team.grace, bypass_csp=True)
    problems = []
    for name, args, title in pages:
        if name == "home":
            grace.log_in(team.password)
        else:
            grace.open(name, *args, title=title)
        problems += [f"{grace.page.url}\n  {v}" for v in grace.axe_violations()]
    assert not problems, "axe-core found serious problems:\n" + "\n".join(problems)
