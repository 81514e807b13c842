"""What the admin tables hold about a person (the privacy registry; see
voxbase/core/privacy.py)."""

from __future__ import annotations

from voxbase.admin.models import SystemConfig
from voxbase.core.privacy import registry

registry.no_personal_data(
    SystemConfig, "service-wide settings; who changed them is recorded in the audit log"
)
