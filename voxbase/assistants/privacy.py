"""What the assistants tables hold about a person (the privacy registry; see
voxbase/core/privacy.py). System templates (no user) are nobody's."""

from __future__ import annotations

from voxbase.assistants.models import Template
from voxbase.core.privacy import DELETE, Retention, registry

registry.table(
    Template,
    subject="user_id",
    export="templates",
    erase=DELETE,
    retention=Retention("deleted_items", after="deleted_at"),
)
