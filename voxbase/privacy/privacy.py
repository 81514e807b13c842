"""What the privacy module's own tables hold about a person (the privacy registry)."""

from __future__ import annotations

from voxbase.core.privacy import DELETE, registry
from voxbase.privacy.models import ConsentRecord

# Erased with the person: once nobody is processed, there is no consent left to prove.
registry.table(ConsentRecord, subject="user_id", export="consents", erase=DELETE)
