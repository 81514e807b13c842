"""Seed 004 (ChefSocial Voice) end to end over HTTP, with no account anywhere: register on the
starter trial, set the brand, speak, get three platform posts, schedule one, it publishes,
ingest its performance, a usage warning at 80 %, then overage on the invoice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

from tests.apps import assert_problem
from tests.content.conftest import TRANSCRIPT, set_brand
from tests.helpers_billing import User, at
from tests.mail import Mailbox
from voxbase.billing import service as billing
from voxbase.content import tasks
from voxbase.core.db import unit_of_work

PHOTO = "https://cdn.example.com/fig-pizza.jpg"


async def test_chefsocial_voice_flow(app, client, manual_clock, mailbox: Mailbox):
    manual_clock.set(at("2027-03-01T09:00:00"))
    owner = await User.create(client)
    subscription = (await owner.get("/v1/me/subscription")).json()
    assert (subscription["plan_key"], subscription["status"]) == ("starter", "trialing")
    brand = await set_brand(owner)
    assert brand["business_name"] == "Chez Marcel"

    # Speak: a voice session (paid by the minute as it runs) with its transcript.
    created = await owner.post("/v1/conversations", {"channel": "voice", "title": "Tonight"})
    cid = created.json()["id"]
    assert (await owner.post(f"/v1/conversations/{cid}/start")).status_code == 200
    segments = [
        {"text": line, "start_seconds": 20 * i, "end_seconds": 20 * i + 15}
        for i, line in enumerate(TRANSCRIPT)
    ]
    said = await owner.post(f"/v1/conversations/{cid}/segments", {"segments": segments})
    assert said.status_code in (200, 201), said.text
    manual_clock.advance(timedelta(minutes=6))
    assert (await owner.post(f"/v1/conversations/{cid}/heartbeat")).status_code == 200
    ended = await owner.post(f"/v1/conversations/{cid}/end")
    assert ended.status_code == 200, ended.text
    assert Decimal(str((await owner.meter("voice_minutes"))["used"])) == 6

    # Three platform posts, in the brand's voice, from what was said and the photo.
    generated = await owner.post(
        "/v1/content/generate",
        {
            "conversation_id": cid,
            "platforms": ["instagram", "facebook", "x"],
            "image_url": PHOTO,
            "image_analysis": "A fig and ham pizza fresh from the wood oven.",
        },
    )
    assert generated.status_code == 201, generated.text
    idea = generated.json()
    posts = {v["platform"]: v for v in idea["variants"]}
    assert list(posts) == ["instagram", "facebook", "x"]
    assert all("ChezMarcel" in p["hashtags"] for p in posts.values())
    assert "figs" in posts["instagram"]["caption"]
    assert posts["x"]["length"] <= 280
    # The session already paid its minutes; the photo posts count as images.
    assert Decimal(str((await owner.meter("voice_minutes"))["used"])) == 6
    assert Decimal(str((await owner.meter("images_generated"))["used"])) == 3

    # Schedule the Instagram post; the every-minute job publishes it when due.
    when = manual_clock.now() + timedelta(hours=2)
    scheduled = await owner.post(
        "/v1/content/calendar",
        {"variant_id": posts["instagram"]["id"], "scheduled_for": when.isoformat()},
    )
    assert scheduled.status_code == 201, scheduled.text
    assert await asyncio.to_thread(tasks.publish_due.call_local) == 0
    manual_clock.set(when + timedelta(seconds=5))
    assert await asyncio.to_thread(tasks.publish_due.call_local) == 1
    await owner.login()
    entry = (await owner.get(f"/v1/content/calendar/{scheduled.json()['id']}")).json()
    assert entry["status"] == "published"
    notes = (await owner.get("/v1/me/notifications", params={"type": "content"})).json()["items"]
    # (The voice session's summary is a content notification too.)
    assert "Published on Instagram" in [n["title"] for n in notes]

    # Its performance, ingested through the API: the engagement rate is computed.
    manual_clock.advance(timedelta(days=1))
    await owner.login()
    measured = await owner.post(
        f"/v1/content/{idea['id']}/performance",
        {
            "platform": "instagram",
            "views": 4200,
            "likes": 310,
            "comments": 24,
            "shares": 18,
            "saves": 48,
            "reach": 3200,
        },
    )
    assert measured.status_code == 201, measured.text
    assert Decimal(str(measured.json()["engagement_rate"])) == Decimal("12.5")  # 400 / 3200

    # More posts through the month: at 80 % of the images the owner is warned, in-app and by
    # mail; past 100 % the starter plan refuses (no overage on starter).
    for _ in range(5):
        more = await owner.post(
            "/v1/content/generate", {"conversation_id": cid, "image_url": PHOTO}
        )
        assert more.status_code == 201, more.text
    warnings = (await owner.get("/v1/me/notifications", params={"type": "usage_warning"})).json()[
        "items"
    ]
    assert [n["title"] for n in warnings] == ["You have used 80% of your images generated"]
    await mailbox.wait_for(owner.email, "80% of your images generated")
    refused = await owner.post("/v1/content/generate", {"conversation_id": cid, "image_url": PHOTO})
    assert assert_problem(refused, 402)["meter"] == "images_generated"

    # Professional: $79/month + usage. Past its 100 images, posts are billed as overage.
    upgraded = await owner.post("/v1/me/subscription/change", {"plan": "professional"})
    assert upgraded.status_code == 200, upgraded.text
    period_end = datetime.fromisoformat(upgraded.json()["subscription"]["current_period_end"])
    four = ["instagram", "facebook", "x", "linkedin"]
    for _ in range(40):
        meter = await owner.meter("images_generated")
        if Decimal(str(meter["overage"])) > 0:
            break
        response = await owner.post(
            "/v1/content/generate", {"conversation_id": cid, "image_url": PHOTO, "platforms": four}
        )
        assert response.status_code == 201, response.text
    overage = Decimal(str(meter["overage"]))
    assert 0 < overage <= 4

    manual_clock.set(period_end)
    async with unit_of_work(app.state.db) as session:
        assert await billing.run_renewals(session) == 1
    await owner.login()
    invoice = (await owner.get("/v1/me/invoices")).json()["items"][0]
    lines = [(line["kind"], line["amount"]) for line in invoice["lines"]]
    assert ("subscription", 7900) in lines
    assert ("overage", int(overage * 25)) in lines  # 25 cents an image
    assert invoice["amount_due"] == 7900 + int(overage * 25)
