"""Browser tests: Debian's Chromium driven by Playwright against the portal served by
pytest-django's `live_server`, with the session's real Celery worker and Kaggle sandbox.

A machine without Chromium fails these tests with a message saying how to install it;
they are never skipped silently."""

from pathlib import Path

import pytest

from datasets.models import Role
from tests.builders import Team
from tests.factories import PASSWORD, member

from .helpers import Visitor


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
