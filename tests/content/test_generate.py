"""Voice to content: a conversation becomes one post per platform in the brand's voice, through
the engine interface (offline by default, an OpenAI-compatible server when configured),
metered on ChefSocial's meters and refused with 402 past the plan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pydantic import SecretStr

from tests.apps import assert_problem
from tests.content.conftest import generate, set_brand, spoken
from tests.helpers_billing import User
from tests.helpers_teams import join, upgrade
from tests.realtime.conftest import serve
from voxbase.content import platforms
from voxbase.content.generate import build_engine

PHOTO = "https://cdn.example.com/figs.jpg"
ANALYSIS = "A pizza with figs and ham on a wooden board. Warm candle light."


async def used(user: User, meter: str) -> Decimal:
    return Decimal((await user.meter(meter))["used"])


async def library(user: User, **params: Any) -> list[dict[str, Any]]:
    response = await user.get("/v1/content", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_a_conversation_becomes_three_platform_posts_in_the_brand_voice(client):
    user = await User.create(client)
    await set_brand(user)
    cid = await spoken(user, image_analysis=ANALYSIS)
    response = await generate(user, cid, image_url=PHOTO)
    assert response.status_code == 201, response.text
    idea = response.json()
    assert idea["source"] == "generated" and idea["engine"] == "offline"
    assert idea["conversation_id"] == cid and idea["language"] == "en"
    assert idea["image_analysis"] == ANALYSIS and idea["media_url"] == PHOTO
    posts = {v["platform"]: v for v in idea["variants"]}
    assert list(posts) == ["instagram", "facebook", "x"]
    for platform, post in posts.items():
        assert post["status"] == "draft" and post["media_url"] == PHOTO
        assert 1 <= post["viral_score"] <= 10
        assert post["length"] == platforms.length(platform, post["caption"], post["hashtags"])
        assert post["length"] <= post["max_length"] == platforms.RULES[platform].max_length
        assert post["text"] == platforms.post_text(post["caption"], post["hashtags"])
        assert "ChezMarcel" in post["hashtags"]
        assert "Book your table for Friday!" in post["caption"] or platform == "x"
    insta = posts["instagram"]
    assert "WoodFiredPizza" in insta["hashtags"] and len(insta["hashtags"]) <= 12
    assert "figs" in insta["caption"] and "In the picture: A pizza with figs" in insta["caption"]
    assert insta["caption"].startswith("Guess what just came out of our kitchen?")  # playful
    assert posts["x"]["length"] <= 280 and len(posts["x"]["hashtags"]) <= 2

    # Metered: the chat's spoken minutes once (no timed session paid them), a photo per post.
    assert await used(user, "voice_minutes") == 1
    assert await used(user, "images_generated") == 3
    again = await generate(user, cid, platforms=["linkedin"])
    assert again.status_code == 201, again.text
    assert await used(user, "voice_minutes") == 1  # the same conversation counts once
    assert await used(user, "images_generated") == 4  # the conversation's photo analysis
    assert [i["id"] for i in await library(user)] == [again.json()["id"], idea["id"]]


async def test_the_brand_language_and_tone_shape_the_post(client):
    user = await User.create(client)
    await set_brand(user, language="fr", content_tone="refined", key_messages=[])
    cid = await spoken(
        user,
        [
            "Ce soir nous servons une pizza au feu de bois avec des figues fraîches.",
            "La pâte repose trois jours, elle est légère et croustillante.",
        ],
    )
    idea = (await generate(user, cid, platforms=["instagram"])).json()
    (post,) = idea["variants"]
    assert idea["language"] == "fr"
    assert post["caption"].startswith("Une soirée mémorable commence ici.")
    assert "Réservez votre table dès aujourd'hui !" in post["caption"]
    assert "gastronomie" in post["hashtags"]
    assert post["media_url"] is None
    english = (await generate(user, cid, platforms=["facebook"], language="en")).json()
    assert "Book your table today!" in english["variants"][0]["caption"]


async def test_past_the_plan_is_402_and_nothing_is_stored_or_counted(client):
    user = await User.create(client)  # starter: 20 images, no videos
    await set_brand(user)
    cid = await spoken(user)
    assert (await user.use("images_generated", 18)).status_code == 201
    refused = await generate(user, cid, image_url=PHOTO)  # 3 more: 21 > 20
    problem = assert_problem(refused, 402)
    assert problem["meter"] == "images_generated"
    video = assert_problem(await generate(user, cid, platforms=["tiktok"]), 402)
    assert video["meter"] == "videos_created"
    assert await library(user) == []
    assert await used(user, "images_generated") == 18
    assert await used(user, "voice_minutes") == 0  # the refused requests counted nothing
    ok = await generate(user, cid, image_url=PHOTO, platforms=["instagram", "x"])
    assert ok.status_code == 201, ok.text
    assert await used(user, "images_generated") == 20

    # Professional allows overage: past its limit it is counted, not refused.
    await upgrade(user, "professional")
    to_the_limit = 100 - await used(user, "images_generated")
    assert (await user.use("images_generated", to_the_limit)).status_code == 201
    over = await generate(user, cid, image_url=PHOTO, platforms=["instagram", "tiktok"])
    assert over.status_code == 201, over.text
    meter = await user.meter("images_generated")
    assert Decimal(meter["used"]) == 102 and Decimal(meter["overage"]) == 2
    assert await used(user, "videos_created") == 1  # the TikTok post is a video made


async def test_someone_elses_conversation_or_an_empty_one(client):
    user, other = await User.create(client), await User.create(client)
    cid = await spoken(user)
    assert_problem(await generate(other, cid), 404)
    empty = (await other.post("/v1/conversations", {"channel": "chat"})).json()["id"]
    assert assert_problem(await generate(other, empty), 422)["field"] == "conversation_id"
    bad = await generate(user, cid, platforms=["instagram", "instagram"])
    assert_problem(bad, 422)
    assert_problem(await generate(user, cid, platforms=["myspace"]), 422)


async def test_a_retried_generation_counts_once(client):
    user = await User.create(client)
    cid = await spoken(user)
    headers = {"Idempotency-Key": "gen-1"}
    first = await generate(user, cid, image_url=PHOTO, headers=headers)
    retry = await generate(user, cid, image_url=PHOTO, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers.get("idempotent-replayed") == "true"
    assert len(await library(user)) == 1
    assert await used(user, "images_generated") == 3


# The LLM engine against a local OpenAI-compatible server --------------------------------------


def fake_openai() -> tuple[FastAPI, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    api = FastAPI()

    @api.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        calls.append(body)
        user_content = body["messages"][-1]["content"]
        text = user_content[0]["text"] if isinstance(user_content, list) else user_content
        asked = json.loads(text)["platforms"]
        posts = [
            {
                "platform": p,
                "caption": f"Figs + fire = love ({p})" if p != "x" else "日" * 150,
                "hashtags": ["#PizzaNight", "figs"],
                "viral_score": 12,
            }
            for p in asked
        ]
        answer = {"title": "Fig pizza night", "posts": posts}
        return {
            "model": body["model"],
            "choices": [{"message": {"role": "assistant", "content": json.dumps(answer)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10},
        }

    return api, calls


@pytest.fixture
async def llm(app, settings) -> AsyncIterator[list[dict[str, Any]]]:
    server_app, calls = fake_openai()
    async with serve(server_app) as base:
        llm_settings = settings.model_copy(
            update={
                "content_engine": "llm",
                "llm_base_url": base.replace("ws://", "http://") + "/v1",
                "llm_api_key": SecretStr("sk-local"),
                "llm_model": "vision-model",
            }
        )
        previous = getattr(app.state, "content_engine", None)
        app.state.content_engine = build_engine(llm_settings)
        try:
            yield calls
        finally:
            app.state.content_engine = previous


async def test_the_llm_engine_sees_the_photo_and_its_posts_are_kept_in_the_rules(client, llm):
    user = await User.create(client)
    await set_brand(user)
    cid = await spoken(user, image_analysis=ANALYSIS)
    response = await generate(user, cid, image_url=PHOTO, platforms=["instagram", "x"])
    assert response.status_code == 201, response.text
    idea = response.json()
    assert idea["engine"] == "llm:vision-model" and idea["title"] == "Fig pizza night"
    posts = {v["platform"]: v for v in idea["variants"]}
    assert posts["instagram"]["caption"] == "Figs + fire = love (instagram)"
    assert posts["instagram"]["hashtags"] == ["PizzaNight", "figs"]
    assert posts["instagram"]["viral_score"] == 10  # clamped to 1..10
    assert posts["x"]["length"] <= 280  # 150 CJK characters weigh 300: cut to fit
    (call,) = llm
    system, user_part = call["messages"][0]["content"], call["messages"][-1]["content"]
    assert "social-media posts" in system
    assert user_part[1] == {"type": "image_url", "image_url": {"url": PHOTO}}
    sent = json.loads(user_part[0]["text"])
    assert sent["brand"]["business_name"] == "Chez Marcel"
    assert sent["image_analysis"] == ANALYSIS and "wood-fired pizza" in sent["transcript"]


async def test_team_posts_use_the_team_brand_and_pool(client, mailbox):
    owner, member, viewer = [await User.create(client) for _ in range(3)]
    await upgrade(owner, "professional")
    team = (await owner.post("/v1/teams", {"name": "Chez Marcel crew"})).json()
    await join(owner, member, team["id"], mailbox, "member")
    await join(owner, viewer, team["id"], mailbox, "viewer")
    team_brand = {"business_name": "La Cantine", "language": "fr", "key_messages": ["À ce soir !"]}
    saved = await owner.client.put(
        f"/v1/teams/{team['id']}/brand", json=team_brand, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    cid = await spoken(member)
    made = await generate(member, cid, team_id=team["id"], image_url=PHOTO, platforms=["instagram"])
    assert made.status_code == 201, made.text
    idea = made.json()
    assert idea["owner"] == {"type": "team", "id": team["id"]} and idea["language"] == "fr"
    (post,) = idea["variants"]
    assert "LaCantine" in post["hashtags"] and "À ce soir !" in post["caption"]
    # The team's pool paid the image, not the member's own allowance.
    pool = await member.get("/v1/me/usage", params={"team_id": team["id"]})
    assert pool.status_code == 200, pool.text
    images = next(m for m in pool.json()["meters"] if m["meter"] == "images_generated")
    assert Decimal(str(images["used"])) == 1
    assert await used(member, "images_generated") == 0
    assert_problem(await generate(viewer, cid, team_id=team["id"]), 403)

    # The same Idempotency-Key from two members is two requests: the pool pays both.
    owners_cid = await spoken(owner)
    for person, conversation in ((member, cid), (owner, owners_cid)):
        again = await generate(
            person,
            conversation,
            team_id=team["id"],
            image_url=PHOTO,
            platforms=["instagram"],
            headers={"Idempotency-Key": "weekly-post"},
        )
        assert again.status_code == 201, again.text
    pool = await member.get("/v1/me/usage", params={"team_id": team["id"]})
    images = next(m for m in pool.json()["meters"] if m["meter"] == "images_generated")
    assert Decimal(str(images["used"])) == 3


async def test_a_generation_by_api_key_counts_an_api_call(client):
    user = await User.create(client)
    cid = await spoken(user)
    made = await user.post(
        "/v1/api-keys", {"name": "kitchen tablet", "scopes": ["content:write", "content:read"]}
    )
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"conversation_id": cid, "platforms": ["x"]}
    # Starter sells no API calls: integrations need a plan with them.
    refused = await client.post("/v1/content/generate", json=body, headers=key)
    assert assert_problem(refused, 402)["meter"] == "api_calls"
    await upgrade(user, "professional")
    ok = await client.post("/v1/content/generate", json=body, headers=key)
    assert ok.status_code == 201, ok.text
    assert await used(user, "api_calls") == 1
    assert await used(user, "voice_minutes") == 1
    # The app's own requests are no API calls.
    assert (await generate(user, cid, platforms=["x"])).status_code == 201
    assert await used(user, "api_calls") == 1
    assert (await client.get("/v1/content", headers=key)).status_code == 200
    other = await user.post("/v1/api-keys", {"name": "reader", "scopes": ["account:read"]})
    unscoped = {"Authorization": f"Bearer {other.json()['key']}"}
    denied = await client.post("/v1/content/generate", json=body, headers=unscoped)
    assert assert_problem(denied, 403)["required_scope"] == "content:write"
