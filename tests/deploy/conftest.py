"""Fixtures for the deploy/ checks: promtool, or a skip that says how to get it."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary, or a skip that says how to get it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed: run scripts/ensure-promtool.sh as root "
            "(installs Debian's 'prometheus' package), as `make test` does"
        )
    return found
