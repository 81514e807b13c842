"""The social platforms and their length rules: count what each platform counts.

The text a platform receives is the caption, then a blank line and the hashtags (`#tag`
separated by spaces), exactly as `post_text` builds it. X counts its weighted length
(twitter-text v3: most Latin text 1 per character, CJK and emoji 2, every URL 23) against
280; the others count Unicode code points against their caption limit, and Instagram and
TikTok also cap the number of hashtags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from twitter_text import parse_tweet

from voxbase.core.errors import InvalidInput

Platform = Literal["instagram", "tiktok", "facebook", "x", "linkedin"]
PLATFORMS: tuple[Platform, ...] = ("instagram", "tiktok", "facebook", "x", "linkedin")


@dataclass(frozen=True)
class Rule:
    platform: Platform
    name: str
    max_length: int
    counted: str  # how `length` is counted, for the error message
    max_hashtags: int | None = None
    # What the offline generator aims for (a post that reads well, far below the hard limit).
    target_length: int = 600


RULES: dict[str, Rule] = {
    "instagram": Rule("instagram", "Instagram", 2200, "characters", 30, 1000),
    "tiktok": Rule("tiktok", "TikTok", 2200, "characters", 30, 300),
    "facebook": Rule("facebook", "Facebook", 63206, "characters", None, 1200),
    "x": Rule("x", "X", 280, "weighted characters (twitter-text)", None, 280),
    "linkedin": Rule("linkedin", "LinkedIn", 3000, "characters", None, 1300),
}


def post_text(caption: str, hashtags: Sequence[str]) -> str:
    tags = " ".join(f"#{t}" for t in hashtags)
    return f"{caption}\n\n{tags}" if tags else caption


def length(platform: str, caption: str, hashtags: Sequence[str]) -> int:
    """What the platform counts for this post."""
    text = post_text(caption, hashtags)
    if platform == "x":
        return int(parse_tweet(text).weightedLength)
    return len(text)


def fits(platform: str, caption: str, hashtags: Sequence[str]) -> bool:
    rule = RULES[platform]
    if rule.max_hashtags is not None and len(hashtags) > rule.max_hashtags:
        return False
    return length(platform, caption, hashtags) <= rule.max_length


def check(platform: str, caption: str, hashtags: Sequence[str], field: str = "caption") -> int:
    """The post's length, or a 422 saying what the platform counted and its limit."""
    rule = RULES[platform]
    if rule.max_hashtags is not None and len(hashtags) > rule.max_hashtags:
        raise InvalidInput(
            f"{rule.name} allows at most {rule.max_hashtags} hashtags; this post has "
            f"{len(hashtags)}.",
            field=field.rsplit(".", 1)[0] + ".hashtags" if "." in field else "hashtags",
            platform=platform,
            hashtags=len(hashtags),
            max_hashtags=rule.max_hashtags,
        )
    counted = length(platform, caption, hashtags)
    if counted > rule.max_length:
        raise InvalidInput(
            f"Too long for {rule.name}: {counted} {rule.counted} (caption plus hashtags), "
            f"at most {rule.max_length}.",
            field=field,
            platform=platform,
            length=counted,
            max_length=rule.max_length,
            counted=rule.counted,
        )
    return counted
