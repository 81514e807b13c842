"""Shared request-body base: every body a route accepts refuses fields it does not know.

A client that misspells a field, or sends one that belongs to another route (brand fields to
`PATCH /v1/me`), gets a 422 whose `errors` name the field instead of a silent drop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Input(BaseModel):
    """Base of every request body: unknown fields are a 422 (`extra_forbidden`) naming them."""

    model_config = ConfigDict(extra="forbid")
