"""Performance (seed 004 `content_performance`): snapshots per post and platform, the
engagement rate computed from them, and analytics over the latest snapshot of each post.

Engagement rate = (likes + comments + shares + saves) / reach * 100, or / views when the
platform gave no reach; 0 when both are 0; two decimals, rounded half up. Analytics read the
latest snapshot of every post in the range (by when it went out, or was made if never
published): best posts by engagement, per platform, per ISO week, and how the viral score
(the engine's guess) compared with what happened.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.content import owners, repository
from voxbase.content.library import item_for
from voxbase.content.models import ContentItem, ContentVariant, PerformanceSnapshot
from voxbase.content.schemas import (
    AnalyticsOut,
    PerformanceHistory,
    PerformanceIn,
    PerformanceOut,
    PlatformResult,
    PostResult,
    ViralScoreAccuracy,
    ViralScoreResult,
    WeekResult,
)
from voxbase.core import clock
from voxbase.core.errors import Forbidden, InvalidInput, NotFound
from voxbase.core.ids import new_id
from voxbase.core.principal import Principal
from voxbase.metering import service as metering
from voxbase.metering.service import Subject
from voxbase.profiles import active_profile

CENT = Decimal("0.01")
FEATURE = "analytics_insights"
BEST = 10


def rate(interactions: int, reach: int, views: int) -> Decimal:
    base = reach or views
    if not base:
        return Decimal("0.00")
    return (Decimal(interactions) * 100 / Decimal(base)).quantize(CENT, ROUND_HALF_UP)


def _interactions(row: PerformanceSnapshot) -> int:
    return row.likes + row.comments + row.shares + row.saves


def snapshot_out(row: PerformanceSnapshot) -> PerformanceOut:
    return PerformanceOut(
        id=row.id,
        content_id=row.item_id,
        variant_id=row.variant_id,
        platform=row.platform,
        views=row.views,
        likes=row.likes,
        shares=row.shares,
        comments=row.comments,
        saves=row.saves,
        reach=row.reach,
        engagement_rate=Decimal(row.engagement_rate).quantize(CENT),
        captured_at=row.captured_at,
        created_at=row.created_at,
    )


async def ingest(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID, data: PerformanceIn
) -> PerformanceOut:
    item = await item_for(session, principal, item_id, owners.WRITE)
    variants = (await repository.variants_of(session, [item.id]))[item.id]
    variant = next((v for v in variants if v.platform == data.platform), None)
    if variant is None:
        raise NotFound(f"This idea has no {data.platform} post.", field="platform")
    now = clock.now()
    captured = clock.utc(data.captured_at) if data.captured_at else now
    if captured > now + timedelta(minutes=5):
        raise InvalidInput("`captured_at` is in the future.", field="captured_at")
    row = PerformanceSnapshot(
        id=new_id(),
        variant_id=variant.id,
        item_id=item.id,
        platform=variant.platform,
        views=data.views,
        likes=data.likes,
        shares=data.shares,
        comments=data.comments,
        saves=data.saves,
        reach=data.reach,
        captured_at=captured,
    )
    row.engagement_rate = rate(_interactions(row), data.reach, data.views)
    await repository.add(session, row)
    await session.refresh(row)
    return snapshot_out(row)


async def history(
    session: AsyncSession, principal: Principal, item_id: uuid.UUID
) -> PerformanceHistory:
    item = await item_for(session, principal, item_id)
    rows = await repository.snapshots_of(session, item.id)
    latest: dict[str, PerformanceOut] = {}
    for row in rows:  # newest first
        latest.setdefault(row.platform, snapshot_out(row))
    return PerformanceHistory(latest=latest, items=[snapshot_out(r) for r in rows])


def _monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    if len(pairs) < 3:
        return None
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return round(statistics.correlation(xs, ys), 4)


def _post(item: ContentItem, variant: ContentVariant, snap: PerformanceSnapshot) -> PostResult:
    return PostResult(
        content_id=item.id,
        variant_id=variant.id,
        platform=variant.platform,
        title=item.title,
        viral_score=variant.viral_score,
        published_at=variant.published_at,
        views=snap.views,
        reach=snap.reach,
        interactions=_interactions(snap),
        engagement_rate=Decimal(snap.engagement_rate).quantize(CENT),
    )


def _totals(posts: Iterable[PostResult]) -> tuple[int, int, int, int, Decimal]:
    chosen = list(posts)
    views = sum(p.views for p in chosen)
    reach = sum(p.reach for p in chosen)
    interactions = sum(p.interactions for p in chosen)
    base_reach = sum(p.reach for p in chosen if p.reach)
    base_views = sum(p.views for p in chosen if not p.reach)
    engaged = rate(interactions, base_reach + base_views, 0)
    return len(chosen), views, reach, interactions, engaged


async def analytics(
    session: AsyncSession,
    principal: Principal,
    *,
    team_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> AnalyticsOut:
    owner = await owners.owner(session, principal, team_id)
    profile = active_profile()
    user_id = owners.user_id_of(principal)
    if any(f.key == FEATURE for f in profile.features) and not await metering.has_feature(
        session, Subject.user(user_id), FEATURE
    ):
        raise Forbidden("Your plan does not include analytics.", feature=FEATURE)
    rows = await repository.latest_snapshots(session, owner)
    posts: list[tuple[PostResult, datetime]] = []
    for item, variant, snap in rows:
        went_out = variant.published_at or variant.created_at
        if (since and went_out < clock.utc(since)) or (until and went_out >= clock.utc(until)):
            continue
        posts.append((_post(item, variant, snap), went_out))
    results = [p for p, _ in posts]

    best = sorted(results, key=lambda p: (-p.engagement_rate, -p.views, str(p.variant_id)))
    by_platform: dict[str, list[PostResult]] = defaultdict(list)
    by_week: dict[date, list[PostResult]] = defaultdict(list)
    for post, went_out in posts:
        by_platform[post.platform].append(post)
        by_week[_monday(went_out)].append(post)
    platform_rows = []
    for platform, chosen in sorted(by_platform.items()):
        count, views, reach, interactions, engaged = _totals(chosen)
        platform_rows.append(
            PlatformResult(
                platform=platform,
                posts=count,
                views=views,
                reach=reach,
                interactions=interactions,
                engagement_rate=engaged,
            )
        )
    week_rows = []
    for week, chosen in sorted(by_week.items()):
        count, views, reach, interactions, engaged = _totals(chosen)
        week_rows.append(
            WeekResult(
                week=week,
                posts=count,
                views=views,
                reach=reach,
                interactions=interactions,
                engagement_rate=engaged,
            )
        )
    scored = [p for p in results if p.viral_score is not None]
    by_score: dict[int, list[Decimal]] = defaultdict(list)
    for post in scored:
        by_score[post.viral_score or 0].append(post.engagement_rate)
    median = statistics.median([p.engagement_rate for p in results]) if results else None
    high = [p for p in scored if (p.viral_score or 0) >= 7]
    hit_rate = None
    if high and median is not None:
        hits = sum(p.engagement_rate > median for p in high)
        hit_rate = (Decimal(hits) * 100 / len(high)).quantize(CENT, ROUND_HALF_UP)
    accuracy = ViralScoreAccuracy(
        correlation=_pearson(
            [(float(p.viral_score or 0), float(p.engagement_rate)) for p in scored]
        ),
        by_score=[
            ViralScoreResult(
                viral_score=score,
                posts=len(values),
                average_engagement_rate=(sum(values, Decimal(0)) / len(values)).quantize(
                    CENT, ROUND_HALF_UP
                ),
            )
            for score, values in sorted(by_score.items())
        ],
        high_score_hit_rate=hit_rate,
    )
    return AnalyticsOut(
        posts=len(results),
        best_posts=best[:BEST],
        by_platform=platform_rows,
        by_week=week_rows,
        viral_score=accuracy,
    )
