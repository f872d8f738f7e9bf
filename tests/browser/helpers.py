"""One person at a browser (`Visitor`), and the checks every page visited must pass."""

import re
from pathlib import Path

from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from datasets.models import JobState, PublishJob, ScanState, Submission
from datasets.services.scans import scan_for
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
# The README shows these; each is written only once the page it shows passed its checks.
SCREENSHOTS = ROOT / "docs" / "screenshots"
# Every other page a test looked at, for people debugging a failure (not committed).
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

# Form controls no person can name: no <label> with text, no aria-label(ledby), no title.
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((el) => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter((el) => {
    const named = (text) => (text || '').trim().length > 0;
    if (named(el.getAttribute('aria-label')) || named(el.title)) return false;
    const by = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    if (by.some((id) => named((document.getElementById(id) || {}).textContent))) return false;
    return !Array.from(el.labels || []).some((label) => named(label.textContent));
  })
  .map((el) => el.outerHTML.slice(0, 160))"""

AXE_SERIOUS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help}\\n    ` + v.nodes.slice(0, 6)
      .map((n) => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' '))
      .join('\\n    '));
}"""


class Visitor:
    """A page in a browser context of its own, and the person using it."""

    def __init__(self, page: Page, base_url: str, user=None):
        self.page = page
        self.base_url = base_url
        self.user = user
        self.visited: list[str] = []

    def url(self, name: str, *args, query: str = "") -> str:
        return self.base_url + reverse(name, args=args) + (f"?{query}" if query else "")

    def open(self, name: str, *args, title: str, query: str = "") -> Page:
        self.page.goto(self.url(name, *args, query=query))
        return self.arrived(title)

    def arrived(self, title: str) -> Page:
        """After a navigation: the expected page, with a title and named controls."""
        expect(self.page).to_have_title(re.compile("^" + re.escape(title) + r".* · Wharf$"))
        self.page.wait_for_load_state("load")
        assert_named_controls(self.page)
        self.visited.append(self.page.url)
        return self.page

    def log_in(self, password: str) -> Page:
        self.page.goto(self.url("login"))
        self.arrived("Log in")
        self.page.get_by_label("Username").fill(self.user.username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.arrived("Home")
        expect(self.page.get_by_role("navigation", name="Main")).to_contain_text(self.user.username)
        return self.page

    def screenshot(self, name: str, *, readme: bool = False) -> None:
        """Call it after the page's assertions: a README picture is never of a broken
        page."""
        folder = SCREENSHOTS if readme else ARTIFACTS
        folder.mkdir(parents=True, exist_ok=True)
        options = {"full_page": True, "animations": "disabled"}
        if readme:  # the top of a long page: what a newcomer needs to see
            height = self.page.evaluate("document.documentElement.scrollHeight")
            width = self.page.viewport_size["width"]
            options["clip"] = {"x": 0, "y": 0, "width": width, "height": min(height, 1400)}
        self.page.screenshot(path=folder / f"{name}.png", **options)

    def axe_violations(self) -> list[str]:
        """Serious and critical axe-core findings (needs a context with bypass_csp)."""
        self.page.add_script_tag(path=AXE)
        return self.page.evaluate(AXE_SERIOUS)


def assert_named_controls(page: Page) -> None:
    title = page.title()
    assert title.strip() and not title.startswith(" ·"), f"{page.url} has no title"
    unlabelled = page.evaluate(UNLABELLED_CONTROLS)
    assert not unlabelled, f"{page.url} has controls without a label:\n" + "\n".join(unlabelled)


def label(text: str) -> re.Pattern:
    """A field's label, with or without the asterisk of a required field."""
    return re.compile(rf"^\s*{re.escape(text)}\s*\*?\s*$")


def nav(page: Page) -> Locator:
    """The main navigation (breadcrumbs repeat some of its links)."""
    return page.get_by_role("navigation", name="Main")


def published(job: PublishJob, timeout: float = 60) -> PublishJob:
    """Waits for the worker to finish the job, which must end published."""

    def done():
        job.refresh_from_db()
        return job.state in JobState.final()

    wait_until(done, timeout=timeout, interval=0.2, message=f"job {job.pk} did not finish")
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    return job


def scanned(submission: Submission) -> Submission:
    """Waits for the worker's content scan of the submission (approval waits for it)."""

    def done():
        scan = scan_for(submission)
        return scan is not None and scan.state not in ScanState.unfinished()

    wait_until(done, timeout=30, interval=0.2, message=f"submission {submission.pk} not scanned")
    return submission
