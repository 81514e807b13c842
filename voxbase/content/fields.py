"""Names of the brand fields (seed 004's brand columns of users, and this module's names).

They live in the brand profile (`GET/PUT /v1/me/brand`), not on the user: `PATCH /v1/me` refuses
them with a 422 that points there (voxbase/accounts/schemas.py imports this list). No imports
here, so any module may read it.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

BRAND_ROUTE = "/v1/me/brand"

BRAND_FIELDS = frozenset(
    {
        # seed 004's users columns
        "restaurant_name",
        "brand_colors",
        "brand_fonts",
        "specialties",
        "ambiance",
        "target_audience",
        "unique_selling_points",
        "brand_personality",
        "content_tone",
        "key_messages",
        # the brand profile's own names
        "brand",
        "business_name",
        "colors",
        "fonts",
    }
)


def misplaced(data: object) -> list[str]:
    """The brand fields in a request body meant for another route, sorted."""
    if not isinstance(data, dict):
        return []
    return sorted(str(k) for k in data if k in BRAND_FIELDS)


def refuse_brand_fields(data: Any) -> Any:
    """A `mode="before"` model validator: a brand field is a 422 naming it and the brand route
    (`ctx.route`), never a silent drop."""
    found = misplaced(data)
    if found:
        raise PydanticCustomError(
            "brand_field",
            "{fields}: brand fields are not part of the user; set them with PUT {route}",
            {"fields": ", ".join(found), "route": BRAND_ROUTE},
        )
    return data
