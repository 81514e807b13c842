"""Whatever is said (any script, emoji, very long or very short), the offline engine's posts
fit their platform's rule, carry distinct hashtags and a viral score from 1 to 10."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxbase.content import platforms
from voxbase.content.engine import GenerationInput, OfflineEngine
from voxbase.content.schemas import BrandOut, BrandOwner

OWNER = BrandOwner(type="user", id=uuid.UUID(int=1))
words = st.text(st.characters(categories=("L", "N", "P", "Zs", "So")), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    transcript=st.lists(words, min_size=1, max_size=12).map(". ".join),
    name=st.one_of(st.none(), st.text(min_size=1, max_size=80)),
    specialties=st.lists(st.text(min_size=1, max_size=60), max_size=5),
    key_message=st.one_of(st.none(), st.text(min_size=1, max_size=200)),
    analysis=st.one_of(st.none(), words),
    language=st.sampled_from(["en", "fr"]),
)
def test_offline_posts_always_fit(transcript, name, specialties, key_message, analysis, language):
    brand = BrandOut(
        owner=OWNER,
        business_name=name,
        specialties=specialties,
        key_messages=[key_message] if key_message else [],
        language=language,
    )
    data = GenerationInput(
        brand=brand,
        transcript=transcript,
        platforms=platforms.PLATFORMS,
        language=language,
        image_analysis=analysis,
    )
    result = asyncio.run(OfflineEngine().generate(data))
    assert [d.platform for d in result.drafts] == list(platforms.PLATFORMS)
    for draft in result.drafts:
        assert platforms.fits(draft.platform, draft.caption, draft.hashtags), draft
        assert draft.caption.strip()
        assert len({t.lower() for t in draft.hashtags}) == len(draft.hashtags)
        assert all(t and not any(c.isspace() or c in "#,." for c in t) for t in draft.hashtags)
        assert 1 <= draft.viral_score <= 10
