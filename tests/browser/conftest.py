"""Browser tests: Debian's Chromium driven by Playwright against the portal served by
pytest-django's `live_server`, with the session's real Celery worker and Kaggle sandbox.

A machine without Chromium fails these tests with a message saying how to install it;
they are never skipped silently."""

import os
import shutil
from pathlib import Path

import pytest

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
NO_BROWSER = (
    "The browser tests (tests/browser) need Chromium and found none. Install Debian's: "
    "`apt-get install -y chromium` (.ci/run does this), or point WHARF_CHROMIUM at a "
    "Chromium or Chrome binary."
)


def chromium_executable() -> str:
    wanted = os.environ.get("WHARF_CHROMIUM")
    if wanted:
        found = shutil.which(wanted)
        if not found:
            pytest.fail(f"WHARF_CHROMIUM={wanted} is not an executable. {NO_BROWSER}")
        return found
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(NO_BROWSER, pytrace=False)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt has it
        pytest.fail("playwright is not installed: pip install -r requirements-dev.txt")
    executable = chromium_executable()
    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests
    # make between browser steps are plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable)
        except Error as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc}\n{NO_BROWSER}")
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
    kaggle_sandbox.clear_faults()
    kaggle_sandbox.set_upload_bandwidth(None)
    return BrowserTeam(tmp_path / "storage")


@pytest.fixture
def visit(browser, live_server):
    """`visit(user)`: a logged-out browser context of its own, as `user` will use it.

    Each call is one person at their own browser; contexts are closed after the test."""
    contexts = []

    def open_as(user=None, **options) -> Visitor:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Visitor(context.new_page(), live_server.url, user)

    yield open_as
    for context in contexts:
        context.close()
