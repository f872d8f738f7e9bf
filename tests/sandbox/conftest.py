"""The `sandbox` fixture: a fresh Kaggle sandbox (own port, own data dir) per test,
and `client`, which runs the official client against it."""

from __future__ import annotations

import pytest

from kaggle_sandbox.testing import SandboxServer, run_sandbox

from .helpers import ACCOUNTS, Client


@pytest.fixture
def sandbox(request, tmp_path) -> SandboxServer:
    """Options can be overridden with
    `@pytest.mark.parametrize("sandbox", [{"processing_delay": 3}], indirect=True)`."""
    options = {"processing_delay": 0.3, "accounts": ACCOUNTS, **getattr(request, "param", {})}
    with run_sandbox(tmp_path / "sandbox", **options) as server:
        yield server


@pytest.fixture
def client(sandbox, tmp_path) -> Client:
    return Client(sandbox, tmp_path)
