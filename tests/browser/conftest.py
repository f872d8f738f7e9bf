"""Browser tests: Debian's Chromium driven by Playwright against the portal served by
pytest-django's `live_server`, with the session's real Celery worker and Kaggle sandbox.

A machine without Chromium fails these tests with a message saying how to install it;
they are never skipped silently."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Error, sync_playwright

from datasets.models import Role
from tests.builders import Team
from tests.factories import PASSWORD, member

from .helpers import Visitor

# Debian's /usr/bin/chromium is a shell wrapper around this binary; Playwright starts the
# binary itself, with its own flags.
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
)
HOW_TO_INSTALL = (
    "The browser tests (tests/browser) need Chromium. Install Debian's: "
    "`apt-get install -y chromium` (.ci/run does this), or point WHARF_CHROMIUM at a "
    "Chromium or Chrome binary."
)


def chromium_executable() -> str:
    wanted = os.environ.get("WHARF_CHROMIUM")
    if wanted:
        found = shutil.which(wanted)
        if not found:
            pytest.fail(f"WHARF_CHROMIUM={wanted} is not an executable. {HOW_TO_INSTALL}", False)
        return found
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(f"No Chromium found. {HOW_TO_INSTALL}", pytrace=False)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests
    # make between browser steps are plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable)
        except Error as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc}\n{HOW_TO_INSTALL}", False)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class BrowserTeam(Team):
    """The builders' team with readable names: they show in the screenshots."""

    def __init__(self, storage: Path):
        super().__init__(storage)
        self.lab.name = "Marine Ecology Lab"
        self.lab.save(update_fields=["name"])
        for user, (username, first, last) in (
            (self.ada, ("ada", "Ada", "Lovelace")),
            (self.grace, ("grace", "Grace", "Hopper")),
        ):
            user.username, user.first_name, user.last_name = username, first, last
            user.email = f"{username}@lab.example"
            user.save()
        self.password = PASSWORD

    def outsider(self):
        """Someone of the lab who neither submits nor reviews: 'anyone in the lab'."""
        return member(self.lab, Role.RESEARCHER, username="alan", first_name="Alan")


@pytest.fixture
def team(tmp_path, live_server, kaggle_sandbox, celery_worker):
    """The lab, with the worker publishing to the sandbox."""
    kaggle_sandbox.clear_faults()
    kaggle_sandbox.set_upload_bandwidth(None)
    return BrowserTeam(tmp_path / "storage")


@pytest.fixture
def quiet_team(tmp_path, live_server):
    """The lab, for pages that publish nothing (no worker needed)."""
    return BrowserTeam(tmp_path / "storage")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture
def visit(request, browser, live_server):
    """`visit(user)`: a logged-out browser context of its own, as `user` will use it.

    Each call is one person at their own browser; contexts are closed after the test,
    and when it failed, what each page showed last is kept in tests/artifacts/browser."""
    visitors = []

    def open_as(user=None, **options) -> Visitor:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(15_000)
        visitor = Visitor(context.new_page(), live_server.url, user)
        visitors.append(visitor)
        return visitor

    yield open_as
    for n, visitor in enumerate(visitors):
        if getattr(request.node, "browser_call_failed", False):
            visitor.screenshot(f"FAILED-{request.node.name}-{n}")
        visitor.page.context.close()
