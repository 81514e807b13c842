"""Names of the brand fields (seed 004's brand columns of users, and this module's names).

They live in the brand profile (`GET/PUT /v1/me/brand`), not on the user: `PATCH /v1/me` refuses
them with a 422 that points there (voxbase/accounts/schemas.py uses this). No voxbase imports
here, so any module may read it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

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


def point_to_brand(exc: ValidationError) -> ValidationError:
    """The same errors, but an unknown brand field's message says where it belongs.

    For a `mode="wrap"` model validator of a body that is not the brand's: the error stays an
    `extra_forbidden` at the field's location; its message points to `PUT /v1/me/brand`."""
    errors: list[Any] = []
    for error in exc.errors():
        loc = error.get("loc", ())
        if error["type"] == "extra_forbidden" and loc and loc[-1] in BRAND_FIELDS:
            message = "{field} is a brand field, not part of the user: set it with PUT {route}"
            context = {"field": str(loc[-1]), "route": BRAND_ROUTE}
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("extra_forbidden", message, context),
                    loc=loc,
                    input=error.get("input"),
                )
            )
        else:
            errors.append(error)
    return ValidationError.from_exception_data(exc.title, errors)
