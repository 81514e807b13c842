"""Content studio fixtures: the ChefSocial profile, a brand, and a spoken conversation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers_billing import User, profile

BRAND: dict[str, Any] = {
    "business_name": "Chez Marcel",
    "colors": {"primary": "#c0392b"},
    "specialties": ["wood-fired pizza", "natural wine"],
    "ambiance": "Candle-lit bistro with an open kitchen",
    "target_audience": "Couples and food lovers in the neighbourhood",
    "unique_selling_points": ["Dough fermented 72 hours"],
    "brand_personality": "Warm, a little cheeky",
    "content_tone": "playful",
    "key_messages": ["Book your table for Friday!"],
    "language": "en",
}

TRANSCRIPT = [
    "Tonight we have a new special, a wood-fired pizza with fresh figs and smoky ham.",
    "The dough ferments for three days so it comes out light and crispy.",
    "We also opened a natural wine from a small farm near Lyon.",
    "Come early, we only make forty of them.",
]


@pytest.fixture(autouse=True)
def chefsocial() -> Iterator[None]:
    with profile("chefsocial"):
        yield


async def set_brand(user: User, **changes: Any) -> dict[str, Any]:
    response = await user.client.put(
        "/v1/me/brand", json={**BRAND, **changes}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def spoken(
    user: User, lines: list[str] | None = None, image_analysis: str | None = None
) -> str:
    """A conversation where the owner told what is new (chat turns: no timed session)."""
    created = await user.post("/v1/conversations", {"channel": "chat", "title": "Tonight"})
    assert created.status_code == 201, created.text
    cid: str = created.json()["id"]
    for i, line in enumerate(lines or TRANSCRIPT):
        body: dict[str, Any] = {"role": "user", "content": line}
        if image_analysis and i == 0:
            body["image_analysis"] = image_analysis
        answer = await user.post(f"/v1/conversations/{cid}/messages", body)
        assert answer.status_code == 201, answer.text
    return cid


async def generate(user: User, conversation_id: str, **fields: Any) -> Any:
    headers = fields.pop("headers", {})
    return await user.post(
        "/v1/content/generate", {"conversation_id": conversation_id, **fields}, headers=headers
    )
