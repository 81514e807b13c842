"""Fixtures shared with the conversations tests."""

from tests.conversations.conftest import alice, bob  # noqa: F401  (fixtures)
