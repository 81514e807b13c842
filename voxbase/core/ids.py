"""Time-ordered identifiers (UUIDv7): index-friendly primary keys on every database."""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
