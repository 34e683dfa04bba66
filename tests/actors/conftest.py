"""Fixtures for the actor tests."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest


@pytest.fixture(autouse=True)
def _stop_all() -> Iterator[None]:
    """Stop every actor a test left running, even when the test failed."""
    yield
    pykka.ActorRegistry.stop_all(timeout=10)
