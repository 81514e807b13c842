"""Seed 004 (ChefSocial) through HTTP: feature access by plan and override, usage + overage."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from tests.conftest import bearer, make_admin
from tests.helpers_billing import User, at, profile
from voxbase.billing import service
from voxbase.core.db import unit_of_work
from voxbase.core.errors import problem_responses
from voxbase.core.http import install_error_handlers
from voxbase.core.principal import Principal
from voxbase.metering.deps import require_feature


@pytest.fixture(autouse=True)
def chefsocial() -> Iterator[None]:
    with profile("chefsocial"):
        yield


@pytest.fixture
async def product(app) -> Iterator[httpx.AsyncClient]:
    """A product route guarded by the entitlement dependency, on the same database and auth."""
    product_app = FastAPI()
    product_app.state.db, product_app.state.auth = app.state.db, app.state.auth
    install_error_handlers(product_app)

    @product_app.post("/white-label", responses=problem_responses(403))
    async def white_label(
        principal: Annotated[Principal, Depends(require_feature("white_label"))],
    ) -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=product_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://product.test") as http:
        yield http


async def test_feature_access_flow(app, client, product):
    user = await User.create(client)
    sub = (await user.get("/v1/me/subscription")).json()
    assert (sub["plan_key"], sub["status"]) == ("starter", "trialing")
    features = {f["key"]: f for f in (await user.get("/v1/me/entitlements")).json()["features"]}
    assert len(features) == 9
    assert features["voice_content_creation"]["enabled"] is True
    assert features["white_label"] == {
        "key": "white_label",
        "name": "White label",
        "description": "Agency white-labeling",
        "enabled": False,
        "source": "none",
    }
    denied = await product.post("/white-label", headers=user.headers)
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert denied.json()["feature"] == "white_label"
    assert (await user.get("/v1/me/entitlements/white_label")).status_code == 403
    assert (await user.get("/v1/me/entitlements/analytics_insights")).status_code == 403

    # An upgrade brings the plan's features at once.
    await user.post("/v1/me/subscription/change", {"plan": "professional"})
    assert (await user.get("/v1/me/entitlements/analytics_insights")).status_code == 200

    # Per-user override (user_features): granted whatever the plan, and revocable.
    admin = bearer((await make_admin(app, client))["access_token"])
    granted = await client.put(
        f"/v1/admin/users/{user.id}/features/white_label", json={"enabled": True}, headers=admin
    )
    assert granted.status_code == 200
    assert (await product.post("/white-label", headers=user.headers)).json() == {"ok": "yes"}
    denied_plan_feature = await client.put(
        f"/v1/admin/users/{user.id}/features/analytics_insights",
        json={"enabled": False},
        headers=admin,
    )
    assert denied_plan_feature.status_code == 200
    assert (await user.get("/v1/me/entitlements/analytics_insights")).status_code == 403
    cleared = await client.delete(
        f"/v1/admin/users/{user.id}/features/analytics_insights", headers=admin
    )
    assert cleared.status_code == 200
    assert (await user.get("/v1/me/entitlements/analytics_insights")).json()["source"] == "plan"
    assert (
        await client.put(
            f"/v1/admin/users/{user.id}/features/nope", json={"enabled": True}, headers=admin
        )
    ).status_code == 404


async def test_overage_is_recorded_and_invoiced(app, client, manual_clock):
    manual_clock.set(at("2026-03-10T00:00:00"))
    user = await User.create(client)
    upgraded = await user.post("/v1/me/subscription/change", {"plan": "professional"})
    # From a trial, the paid period starts now at the full price.
    assert upgraded.json()["invoice"]["amount_due"] == 7900
    assert upgraded.json()["subscription"]["current_period_end"].startswith("2026-04-10")
    assert (await user.use("voice_minutes", 290)).status_code == 201
    over = await user.use("voice_minutes", 25)
    assert over.status_code == 201, over.text
    assert Decimal(over.json()["event"]["overage"]) == 15
    assert Decimal((await user.meter("voice_minutes"))["overage"]) == 15
    # extra_locations is a gauge (max): its peak counts, not the sum.
    assert (await user.use("extra_locations", 2)).status_code == 201
    assert (await user.use("extra_locations", 1)).status_code == 201
    assert Decimal((await user.meter("extra_locations"))["used"]) == 2
    refused = await user.use("extra_locations", 3)
    assert refused.status_code == 402 and refused.json()["meter"] == "extra_locations"

    manual_clock.set(at("2026-04-10T00:00:00"))
    async with unit_of_work(app.state.db) as session:
        assert await service.run_renewals(session) == 1
    await user.login()
    invoice = (await user.get("/v1/me/invoices")).json()["items"][0]
    lines = [(line["kind"], line["amount"]) for line in invoice["lines"]]
    assert lines == [("subscription", 7900), ("overage", 150)]  # 15 min x 10 cents
    assert invoice["amount_due"] == 8050
    assert Decimal((await user.meter("voice_minutes"))["used"]) == 0
