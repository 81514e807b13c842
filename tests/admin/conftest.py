"""The callers of the assistants tests (two users, an administrator); the settings cache is
dropped after each test, since the tables are wiped behind its back."""

from collections.abc import Iterator

import pytest

from tests.assistants.conftest import admin, alice, bob
from voxbase.admin import config

__all__ = ["admin", "alice", "bob"]


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    yield
    config.cache.clear()
