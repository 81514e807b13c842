"""LLM guidance and summary engines against a local server speaking the OpenAI chat API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from tests.conversations.conftest import seg
from tests.helpers_billing import at
from tests.realtime.conftest import serve
from voxbase.conversations import tasks
from voxbase.conversations.engines import Engines, build_engines
from voxbase.core.config import ConfigError, load_settings


def fake_openai() -> tuple[FastAPI, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    api = FastAPI()

    @api.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        calls.append({"body": body, "auth": request.headers.get("authorization")})
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "explode" in user:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if "copilot" in system:
            last = user.splitlines()[-1]
            chips = (
                [{"type": "suggest", "content": "Offer the annual plan discount.", "priority": 1}]
                if "price" in last
                else []
            )
            answer: dict[str, Any] = {"guidance": [*chips, {"type": "bogus", "content": "x"}]}
        else:
            answer = {
                "title": "Pricing call",
                "tldr": "The customer asked about price; we offered a discount.",
                "key_decisions": ["Offer the annual plan"],
                "action_items": [{"text": "Send the quote", "owner": "user", "due": "Friday"}],
                "follow_up_questions": ["Who approves the budget?"],
                "structured_notes": "## Next steps\n- Send the quote",
            }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"] + "-2026",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(answer)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }

    return api, calls


@pytest.fixture
async def llm(app, settings, monkeypatch) -> AsyncIterator[list[dict[str, Any]]]:
    server_app, calls = fake_openai()
    async with serve(server_app) as base:
        llm_settings = settings.model_copy(
            update={
                "guidance_engine": "llm",
                "summary_engine": "llm",
                "llm_base_url": base.replace("ws://", "http://") + "/v1",
                "llm_api_key": SecretStr("sk-local"),
                "llm_model": "tiny-model",
            }
        )
        engines = build_engines(llm_settings)
        previous = getattr(app.state, "conversation_engines", None)
        app.state.conversation_engines = engines
        monkeypatch.setattr(tasks, "build_engines", lambda _settings: engines)
        try:
            yield calls
        finally:
            app.state.conversation_engines = previous


async def test_llm_guidance_and_summary(alice, llm):
    template = (
        await alice.post(
            "/v1/templates",
            json={"name": "Pricing", "context_instructions": "Push the annual plan."},
        )
    ).json()
    conversation = await alice.conversation(channel="live", template_id=template["id"])
    cid = conversation["id"]
    response = await alice.post(
        f"/v1/conversations/{cid}/segments",
        json={
            "segments": [
                seg("Hello, thanks for calling.", 0, 2),
                seg("What is the price of the team plan?", 2, 4, speaker="other"),
            ]
        },
    )
    guidance = response.json()["guidance"]
    assert [(g["guidance_type"], g["content"]) for g in guidance] == [
        ("suggest", "Offer the annual plan discount.")
    ]
    assert guidance[0]["model_used"] == "tiny-model-2026"
    assert guidance[0]["processing_time_ms"] is not None
    request = llm[-1]
    assert request["auth"] == "Bearer sk-local"
    assert request["body"]["model"] == "tiny-model"
    assert request["body"]["response_format"] == {"type": "json_object"}
    assert "Push the annual plan." in request["body"]["messages"][0]["content"]
    assert request["body"]["messages"][1]["content"].splitlines() == [
        "user: Hello, thanks for calling.",
        "other: What is the price of the team plan?",
    ]

    # The provider failing does not break ingest: no guidance, segments stored.
    failed = await alice.post(
        f"/v1/conversations/{cid}/segments", json={"segments": [seg("explode now", 5, 6)]}
    )
    assert failed.status_code == 200 and failed.json()["guidance"] == []
    assert len(failed.json()["stored"]) == 1

    await alice.post(f"/v1/conversations/{cid}/end")
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "failed" and "503" in summary["error"]


async def test_llm_summary_fills_every_field(alice, llm, manual_clock):
    manual_clock.set(at("2026-03-09T09:00:00"))  # a Monday
    conversation = await alice.conversation(channel="live")
    cid = conversation["id"]
    await alice.post(
        f"/v1/conversations/{cid}/segments",
        json={"segments": [seg("What is the price?", 0, 2, speaker="other")]},
    )
    await alice.post(f"/v1/conversations/{cid}/end")
    summary = (await alice.get(f"/v1/conversations/{cid}/summary")).json()
    assert summary["status"] == "completed", summary
    assert summary["title"] == "Pricing call"
    assert summary["action_items"] == [
        {"text": "Send the quote", "owner": "user", "due": "2026-03-13", "due_phrase": "Friday"}
    ]
    assert summary["key_decisions"] == ["Offer the annual plan"]
    assert summary["follow_up_questions"] == ["Who approves the budget?"]
    assert summary["full_transcript"] == "[00:00:00] other: What is the price?"
    assert summary["structured_notes"].startswith("## Next steps")
    assert summary["model_used"] == "tiny-model-2026"


def test_llm_engine_needs_a_base_url():
    with pytest.raises(ConfigError) as error:
        load_settings(guidance_engine="llm", environment="test")
    assert "VOXBASE_LLM_BASE_URL" in str(error.value)
    assert isinstance(build_engines(load_settings(environment="test")), Engines)
