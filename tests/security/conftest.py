"""Shared by the security tests: uploads in the test's own folder, a fresh throttle."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated(request, tmp_path):
    # The matrix keeps its own module-wide settings; a real worker reads the test
    # settings' folders, so tests with one keep them too.
    if {"world", "celery_worker"} & set(request.fixturenames):
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STAGING_ROOT = tmp_path / "staging"
    cache.clear()
    yield
    cache.clear()
