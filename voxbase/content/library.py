"""The content library: one idea (an item) with its per-platform variants.

Every variant is checked against its platform's length rule (`platforms.check`) whenever its
text changes: a clear 422 names the platform, what it counts and the limit. A published
variant no longer changes (409); an item with a variant being published cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.content import owners, platforms, repository
from voxbase.content.models import ContentItem, ContentVariant
from voxbase.content.schemas import (
    BrandOwner,
    ContentIn,
    ContentOut,
    ContentUpdate,
    VariantIn,
    VariantOut,
)
from voxbase.core.errors import Conflict, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.pagination import Page, page_of
from voxbase.core.principal import Principal

LOCKED = ("publishing", "published")


def variant_out(row: ContentVariant) -> VariantOut:
    rule = platforms.RULES[row.platform]
    return VariantOut(
        id=row.id,
        platform=row.platform,
        caption=row.caption,
        hashtags=list(row.hashtags or []),
        text=platforms.post_text(row.caption, row.hashtags or []),
        length=row.length,
        max_length=rule.max_length,
        media_url=row.media_url,
        viral_score=row.viral_score,
        status=row.status,
        scheduled_for=row.scheduled_for,
        published_at=row.published_at,
        external_url=row.external_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def owner_of(item: ContentItem) -> BrandOwner:
    if item.user_id is not None:
        return BrandOwner(type="user", id=item.user_id)
    assert item.team_id is not None
    return BrandOwner(type="team", id=item.team_id)


def content_out(item: ContentItem, variants: Sequence[ContentVariant]) -> ContentOut:
    return ContentOut(
        id=item.id,
        owner=owner_of(item),
        title=item.title,
        language=item.language,
        source=item.source,
        engine=item.engine,
        conversation_id=item.conversation_id,
        image_analysis=item.image_analysis,
        media_url=item.media_url,
        created_by=item.created_by,
        variants=[variant_out(v) for v in variants],
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def clean_tags(tags: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    cleaned = []
    for tag in tags:
        bare = tag.lstrip("#")
        if bare and bare.lower() not in seen:
            seen.add(bare.lower())
            cleaned.append(bare)
    return cleaned


def new_variant(
    item: ContentItem,
    platform: str,
    caption: str,
    hashtags: Sequence[str],
    media_url: str | None,
    viral_score: int | None,
    field: str = "caption",
) -> ContentVariant:
    tags = clean_tags(hashtags)
    counted = platforms.check(platform, caption, tags, field)
    return ContentVariant(
        id=new_id(),
        item_id=item.id,
        platform=platform,
        caption=caption,
        hashtags=tags,
        length=counted,
        media_url=media_url,
        viral_score=viral_score,
        status="draft",
    )


async def add_item(
    session: AsyncSession,
    principal: Principal,
    owner: BrandOwner,
    *,
    title: str,
    language: str,
    source: str,
    variants: Sequence[dict[str, Any]],
    conversation_id: uuid.UUID | None = None,
    engine: str | None = None,
    image_analysis: str | None = None,
    media_url: str | None = None,
) -> ContentOut:
    """Store an idea and its variants (each checked against its platform's rule)."""
    item = ContentItem(
        id=new_id(),
        **owners.keys(owner),
        created_by=principal.user_id,
        conversation_id=conversation_id,
        title=title[:200],
        language=language,
        source=source,
        engine=engine,
        image_analysis=image_analysis,
        media_url=media_url,
    )
    rows = [
        new_variant(item, field=f"variants.{i}.caption", **variant)
        for i, variant in enumerate(variants)
    ]
    await repository.add(session, item)
    session.add_all(rows)
    await session.flush()
    await audit.record(
        session,
        principal,
        "content.created",
        "content_item",
        item.id,
        after={"title": item.title, "source": source, "platforms": [v.platform for v in rows]},
    )
    await session.refresh(item)
    for variant in rows:
        await session.refresh(variant)
    return content_out(item, rows)


def _variant_fields(data: VariantIn, media_url: str | None) -> dict[str, Any]:
    return {
        "platform": data.platform,
        "caption": data.caption,
        "hashtags": data.hashtags,
        "media_url": data.media_url or media_url,
        "viral_score": data.viral_score,
    }


async def create_content(
    session: AsyncSession, principal: Principal, data: ContentIn
) -> ContentOut:
    owner = await owners.owner(session, principal, data.team_id, owners.WRITE, "add content")
    return await add_item(
        session,
        principal,
        owner,
        title=data.title,
        language=data.language,
        source="manual",
        variants=[_variant_fields(v, data.media_url) for v in data.variants],
        media_url=data.media_url,
    )


async def item_for(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, role: str = owners.READ
) -> ContentItem:
    item = await repository.get_item(session, item_id)
    if item is None:
        raise NotFound("No such content.")
    await owners.owner_of_row(
        session, principal, item.user_id, item.team_id, role, "change the team's content"
    )
    return item


async def get_content(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID
) -> ContentOut:
    item = await item_for(session, principal, item_id)
    variants = (await repository.variants_of(session, [item.id]))[item.id]
    return content_out(item, variants)


async def list_content(
    session: AsyncSession,
    principal: Principal,
    *,
    team_id: uuid.UUID | None,
    platform: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> Page[ContentOut]:
    if since and until and since >= until:
        raise InvalidInput("`since` must be before `until`.", field="since")
    owner = await owners.owner(session, principal, team_id)
    rows = await repository.page_items(
        session,
        owner,
        platform=platform,
        status=status,
        since=since,
        until=until,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    items, next_cursor = page_of(rows, limit)
    variants = await repository.variants_of(session, [i.id for i in items])
    return Page(items=[content_out(i, variants[i.id]) for i in items], next_cursor=next_cursor)


async def update_content(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, data: ContentUpdate
) -> ContentOut:
    item = await item_for(session, principal, item_id, owners.WRITE)
    variants = {v.platform: v for v in (await repository.variants_of(session, [item.id]))[item.id]}
    changed = data.model_dump(exclude_unset=True)
    if data.title is not None:
        item.title = data.title
    if "media_url" in changed:
        item.media_url = data.media_url
    for platform, update in (data.variants or {}).items():
        fields = update.model_dump(exclude_unset=True)
        row = variants.get(platform)
        where = f"variants.{platform}.caption"
        if row is None:
            if not update.caption:
                raise InvalidInput(f"A new {platform} variant needs a caption.", field=where)
            row = new_variant(
                item,
                platform,
                update.caption,
                update.hashtags or [],
                update.media_url or item.media_url,
                update.viral_score,
                where,
            )
            session.add(row)
            variants[platform] = row
            continue
        if row.status in LOCKED:
            raise Conflict(f"The {platform} post is {row.status}; it can no longer change.")
        caption = fields.get("caption") or row.caption
        tags = (
            clean_tags(fields["hashtags"]) if fields.get("hashtags") is not None else row.hashtags
        )
        row.length = platforms.check(platform, caption, tags, where)
        row.caption, row.hashtags = caption, list(tags)
        if "media_url" in fields:
            row.media_url = update.media_url
        if "viral_score" in fields:
            row.viral_score = update.viral_score
    await session.flush()
    await audit.record(
        session, principal, "content.updated", "content_item", item.id, after=changed
    )
    await session.refresh(item)
    for variant in variants.values():
        await session.refresh(variant)
    order: list[str] = list(platforms.PLATFORMS)
    return content_out(item, sorted(variants.values(), key=lambda v: order.index(v.platform)))


async def delete_content(session: AsyncSession, principal: Principal, item_id: uuid.UUID) -> None:
    item = await item_for(session, principal, item_id, owners.WRITE)
    variants = (await repository.variants_of(session, [item.id]))[item.id]
    if any(v.status == "publishing" for v in variants):
        raise Conflict("A post of this idea is being published; try again in a moment.")
    await audit.record(
        session, principal, "content.deleted", "content_item", item.id, before={"title": item.title}
    )
    await repository.delete(session, item)
