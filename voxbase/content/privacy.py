"""What the content tables hold about a person (the privacy registry; voxbase/core/privacy.py).

A personal brand profile is the person's own data: exported, erased with them. A team's brand
stays with the team; the member who last edited it becomes the erased-subject token.
"""

from __future__ import annotations

from voxbase.content.models import BrandProfile
from voxbase.core.privacy import DELETE, registry

registry.table(
    BrandProfile,
    subject="user_id",
    refs="updated_by",
    export="brand_profile",
    erase=DELETE,
)
