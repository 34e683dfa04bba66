"""Fixtures for the relay tests."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Stop every actor a test left running, even when it failed."""
    yield
    pykka.ActorRegistry.stop_all(timeout=10)
