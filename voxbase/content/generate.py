"""Voice to content: a conversation → one post per platform, in the brand's voice and language.

Quota first, then the engine (DESIGN: metering in the request, before the provider is called):
the charges are counted in the request's transaction, so a refused one (402) or a failed
engine leaves nothing counted. What a generation counts (docs/adr/0911-voice-to-content.md):

- `voice_minutes`: the conversation's spoken minutes, once per conversation, when its time
  was not already paid through a timed session (a voice session pays as it runs);
- `images_generated`: one per post made with a photo;
- `videos_created`: one per TikTok post (a video platform);
- `api_calls`: one per generation requested with an API key (integrations).

A meter the active profile does not sell is not counted.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from decimal import Decimal

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content import brand as brands
from voxbase.content import library, owners
from voxbase.content.engine import ContentEngine, GenerationInput, LlmEngine, OfflineEngine
from voxbase.content.schemas import ContentOut, GenerateIn
from voxbase.conversations import service as conversations
from voxbase.core.config import Settings
from voxbase.core.errors import Forbidden, InvalidInput, ServiceUnavailable
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.profiles import active_profile
from voxbase.providers.llm import ChatClient, LlmError

FEATURE = "voice_content_creation"
WORDS_PER_MINUTE = 150  # speech, when the transcript has no timings


def build_engine(settings: Settings) -> ContentEngine:
    if settings.content_engine == "llm":
        return LlmEngine(ChatClient.from_settings(settings))
    return OfflineEngine()


def engine_of(request: Request) -> ContentEngine:
    state = request.app.state
    if getattr(state, "content_engine", None) is None:
        state.content_engine = build_engine(state.settings)
    engine: ContentEngine = state.content_engine
    return engine


def spoken_minutes(transcript: conversations.Transcript) -> int:
    if transcript.spoken_seconds:
        return max(1, math.ceil(transcript.spoken_seconds / 60))
    words = len(transcript.text.split())
    return max(1, math.ceil(words / WORDS_PER_MINUTE))


async def _charge(
    session: AsyncSession,
    principal: Principal,
    subject: Subject,
    meter: str,
    quantity: int,
    key: str,
    conversation_id: uuid.UUID,
) -> None:
    if quantity <= 0 or active_profile().meter(meter) is None:
        return
    await metering.consume(
        session,
        principal,
        subject,
        meter,
        Decimal(quantity),
        idempotency_key=key,
        conversation_id=conversation_id,
    )


async def generate(
    session: AsyncSession,
    principal: Principal,
    data: GenerateIn,
    engine: ContentEngine,
    *,
    request_key: str,
) -> ContentOut:
    """`request_key` makes the charges of a retried request (same Idempotency-Key) count once.
    It is the caller's own: two team members sending the same key both pay the team's pool."""
    user_id = owners.user_id_of(principal)
    request_key = f"{user_id}:{request_key}"
    owner = await owners.owner(session, principal, data.team_id, owners.WRITE, "add content")
    subject = (
        await teams_subject(session, principal, data.team_id)
        if data.team_id
        else Subject.user(user_id)
    )
    profile = active_profile()
    if any(f.key == FEATURE for f in profile.features) and not await metering.has_feature(
        session, Subject.user(user_id), FEATURE
    ):
        raise Forbidden("Your plan does not include voice to content.", feature=FEATURE)
    # The transcript goes to the content engine (an AI): not without consent (403, ADR 1250).
    await consents.require_consent(
        session, user_id, Purpose.AI_PROCESSING, feature="content generation"
    )
    transcript = await conversations.transcript_of(session, principal, data.conversation_id)
    if not transcript.text.strip():
        raise InvalidInput("The conversation has nothing said in it yet.", field="conversation_id")
    brand = brands.out(await brands.brand_row(session, owner), owner)
    image_analysis = data.image_analysis or transcript.image_analysis
    with_photo = bool(data.image_url or image_analysis)

    cid = data.conversation_id
    if not transcript.timed:
        await _charge(
            session,
            principal,
            subject,
            "voice_minutes",
            spoken_minutes(transcript),
            f"content-voice:{cid}",
            cid,
        )
    counts = Counter(data.platforms)
    await _charge(
        session,
        principal,
        subject,
        "images_generated",
        len(data.platforms) if with_photo else 0,
        f"content-images:{request_key}",
        cid,
    )
    await _charge(
        session,
        principal,
        subject,
        "videos_created",
        counts["tiktok"],
        f"content-videos:{request_key}",
        cid,
    )
    if principal.kind == "api_key":
        await _charge(
            session, principal, subject, "api_calls", 1, f"content-api:{request_key}", cid
        )

    language = data.language or brand.language
    try:
        result = await engine.generate(
            GenerationInput(
                brand=brand,
                transcript=transcript.text,
                platforms=list(data.platforms),
                language=language,
                image_analysis=image_analysis,
                image_url=data.image_url,
            )
        )
    except LlmError as exc:
        raise ServiceUnavailable(f"The content engine failed: {exc}") from exc
    return await library.add_item(
        session,
        principal,
        owner,
        title=result.title or transcript.conversation.title or "Untitled",
        language=language,
        source="generated",
        variants=[
            {
                "platform": d.platform,
                "caption": d.caption,
                "hashtags": d.hashtags,
                "media_url": d.media_url,
                "viral_score": d.viral_score,
            }
            for d in result.drafts
        ],
        conversation_id=cid,
        engine=result.engine,
        image_analysis=image_analysis,
        media_url=data.image_url,
    )


async def teams_subject(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None
) -> Subject:
    from voxbase.teams import service as teams

    assert team_id is not None
    return await teams.usage_subject(session, principal, team_id, write=True)
