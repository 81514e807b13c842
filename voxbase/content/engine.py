"""Content engines: from a conversation (transcript, image analysis) and the brand to one post
per platform, in the brand's voice and language.

`OfflineEngine` (the default, no account anywhere) builds the post from the brand profile and
the most telling sentences of the transcript: a hook in the brand's tone, the story, what the
photo shows, the brand's key message as the call to action, hashtags from the specialties,
the name and the transcript's keywords, each platform in its own shape and inside its length
rule. `LlmEngine` asks an OpenAI-compatible chat model (`VOXBASE_CONTENT_ENGINE=llm`) for the
same JSON, with the photo as an image part when one is attached (vision models).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from voxbase.content import platforms
from voxbase.content.schemas import BrandOut
from voxbase.providers.llm import ChatClient, LlmError


@dataclass(frozen=True)
class GenerationInput:
    brand: BrandOut
    transcript: str
    platforms: Sequence[str]
    language: str = "en"
    image_analysis: str | None = None
    image_url: str | None = None


@dataclass
class Draft:
    platform: str
    caption: str
    hashtags: list[str]
    viral_score: int
    media_url: str | None = None
    title: str | None = None


@dataclass
class Generation:
    title: str
    drafts: list[Draft]
    engine: str
    extra: dict[str, Any] = field(default_factory=dict)


class ContentEngine(Protocol):
    name: str

    async def generate(self, data: GenerationInput) -> Generation: ...


# Offline -------------------------------------------------------------------------------------

_ENGLISH = """a about after all also am an and any are as at be because been but by can could
did do does doing done for from get got had has have having he her here him his how i i'm if
in into is it it's its just know like me more most my no not now of off on one only or our
out over really so some than that that's the their them then there these they this those to
too up us very was we we're well were what when where which while who why will with would
yeah yes you your today tonight actually okay ok um uh going want make made think thing
things lot much many every each week day"""
_FRENCH = """a au aux avec ce ces cette c'est dans de des du elle en et est il ils je j'ai la
le les leur lui ma mais me mes mon ne nos notre nous on ou par pas pour qu que qui sa se ses
son sur ta te tes ton tu un une vos votre vous y été être avoir fait faire très plus tout
tous toute aussi bien comme donc alors ici aujourd'hui soir semaine oui non euh ben voilà
là"""
STOPWORDS = {"en": frozenset(_ENGLISH.split()), "fr": frozenset(_FRENCH.split())}
WORD = re.compile(r"[^\W\d_][\w'\u2019-]{2,}", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# Words that make food posts travel: sensory, fresh, made here, limited.
_APPEAL = """fresh crispy crunchy golden homemade handmade house-made seasonal local organic
smoky creamy juicy tender spicy wood-fired secret new special limited tonight weekend only
frais croustillant fondant maison fait-maison saison nouveau nouvelle fumé épicé croquant doré
limité"""
APPEAL = frozenset(_APPEAL.split())


@dataclass(frozen=True)
class Wording:
    hooks: dict[str, str]
    cta: str
    photo: str
    at: str
    fallback_title: str
    tags: tuple[str, ...]


TEXT = {
    "en": Wording(
        hooks={
            "playful": "Guess what just came out of our kitchen?",
            "refined": "An evening worth remembering begins here.",
            "warm": "Straight from our kitchen to your table:",
            "bold": "Stop scrolling. This is worth it.",
        },
        cta="Book your table today!",
        photo="In the picture",
        at="At {name},",
        fallback_title="New from the kitchen",
        tags=("foodie", "restaurant", "eatlocal"),
    ),
    "fr": Wording(
        hooks={
            "playful": "Devinez ce qui vient de sortir de notre cuisine ?",
            "refined": "Une soirée mémorable commence ici.",
            "warm": "Tout droit de notre cuisine à votre table :",
            "bold": "Arrêtez de défiler. Ça vaut le détour.",
        },
        cta="Réservez votre table dès aujourd'hui !",
        photo="En photo",
        at="Chez {name},",
        fallback_title="Du nouveau en cuisine",
        tags=("gastronomie", "restaurant", "faitmaison"),
    ),
}
HASHTAG_COUNT = {"instagram": 12, "tiktok": 5, "facebook": 3, "x": 2, "linkedin": 3}
EMOJI = {"instagram": " 🍽️", "tiktok": " 🔥", "facebook": "", "x": "", "linkedin": ""}


def _tag(text: str) -> str:
    """'wood-fired pizza' → 'WoodFiredPizza' (letters and digits only)."""
    parts = re.split(r"[^\w]+|_", text)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)[:50]


def _sentences(transcript: str) -> list[str]:
    flat = " ".join(transcript.split())
    return [s.strip() for s in SENTENCE_END.split(flat) if len(s.strip()) > 3]


def _keywords(text: str, language: str, brand: BrandOut) -> list[str]:
    stop = STOPWORDS.get(language, STOPWORDS["en"])
    words = [w.lower().strip("'\u2019-") for w in WORD.findall(text)]
    counts = Counter(w for w in words if w not in stop and len(w) > 3)
    for specialty in brand.specialties:  # the brand's own words weigh more
        for w in specialty.lower().split():
            if w in counts:
                counts[w] += 2
    return [w for w, _ in counts.most_common(8)]


def _best_sentences(sentences: list[str], keywords: list[str], how_many: int) -> list[str]:
    """The most telling sentences (keyword and appeal weight), kept in spoken order."""
    weight = {k: len(keywords) - i for i, k in enumerate(keywords)}

    def score(sentence: str) -> float:
        words = [w.lower() for w in WORD.findall(sentence)]
        if not words:
            return 0.0
        value = sum(weight.get(w, 0) for w in words) + 3 * sum(w in APPEAL for w in words)
        return value / (len(words) ** 0.5)

    ranked = sorted(range(len(sentences)), key=lambda i: -score(sentences[i]))[:how_many]
    return [sentences[i] for i in sorted(ranked)]


def _fit(platform: str, parts: list[str], hashtags: list[str]) -> tuple[str, list[str]]:
    """Drop optional parts (from the end), then hashtags, then cut the text, until it fits."""
    rule = platforms.RULES[platform]
    tags = list(hashtags)
    body = [p for p in parts if p]
    caption = "\n\n".join(body)
    while len(body) > 1 and platforms.length(platform, caption, tags) > rule.target_length:
        body.pop(-2 if len(body) > 2 else -1)  # keep the call to action last while we can
        caption = "\n\n".join(body)
    while tags and not platforms.fits(platform, caption, tags):
        tags.pop()
    while not platforms.fits(platform, caption, tags) and len(caption) > 1:
        caption = caption[: max(1, int(len(caption) * 0.9)) - 1].rstrip() + "…"
    return caption, tags


class OfflineEngine:
    name = "offline"

    async def generate(self, data: GenerationInput) -> Generation:
        language = data.language if data.language in TEXT else "en"
        text = TEXT[language]
        brand = data.brand
        sentences = _sentences(data.transcript)
        keywords = _keywords(data.transcript, language, brand)
        story = _best_sentences(sentences, keywords, 3)
        tone = (brand.content_tone or "warm").lower()
        hook = next((h for key, h in text.hooks.items() if key in tone), text.hooks["warm"])
        cta = brand.key_messages[0] if brand.key_messages else text.cta
        photo = None
        if data.image_analysis:
            first = _sentences(data.image_analysis)
            photo = f"{text.photo}: {first[0] if first else data.image_analysis.strip()}"
        base_tags: list[str] = []
        if brand.business_name:
            base_tags.append(_tag(brand.business_name))
        base_tags += [_tag(s) for s in brand.specialties]
        base_tags += list(text.tags)
        base_tags += [_tag(k) for k in keywords]
        unique_tags: list[str] = []
        for tag in base_tags:  # "Pizza" adds nothing after "WoodFiredPizza"
            if tag and not any(tag.lower() in t.lower() for t in unique_tags):
                unique_tags.append(tag)
        title_source = story[0] if story else text.fallback_title
        title = title_source if len(title_source) <= 80 else title_source[:79].rstrip() + "…"

        drafts = []
        for platform in data.platforms:
            tags = unique_tags[: HASHTAG_COUNT.get(platform, 3)]
            opening = hook + EMOJI.get(platform, "")
            if platform == "x":
                parts = [" ".join([hook, *story[:1]]), cta]
            elif platform == "tiktok":
                parts = [opening, " ".join(story[:1]), cta]
            elif platform == "linkedin":
                at = text.at.format(name=brand.business_name) if brand.business_name else ""
                usp = " ".join(brand.unique_selling_points[:2])
                lead = f"{at} {story[0][:1].lower() + story[0][1:]}" if at and story else ""
                parts = [lead or " ".join(story[:1]), " ".join(story[1:]), usp, photo or "", cta]
            else:  # instagram, facebook: the whole story
                parts = [opening, " ".join(story), photo or "", cta]
            caption, fitted = _fit(platform, parts, tags)
            drafts.append(
                Draft(
                    platform=platform,
                    caption=caption,
                    hashtags=fitted,
                    viral_score=viral_score(platform, caption, fitted, data, keywords),
                    media_url=data.image_url,
                    title=title,
                )
            )
        return Generation(title=title, drafts=drafts, engine=self.name)


def viral_score(
    platform: str, caption: str, hashtags: list[str], data: GenerationInput, keywords: list[str]
) -> int:
    """1 to 10: what tends to travel on food social media (a picture, a hook, sensory words,
    the brand's specialty, a sensible number of hashtags, a visual platform)."""
    score = 1
    words = {w.lower() for w in WORD.findall(caption)}
    score += 2 if data.image_url or data.image_analysis else 0
    score += 1 if "?" in caption or "!" in caption else 0
    score += min(2, len(words & APPEAL))
    specialties = {w.lower() for s in data.brand.specialties for w in s.split()}
    score += 1 if words & specialties else 0
    score += 1 if platform in ("instagram", "tiktok") else 0
    ideal = {"instagram": (5, 15), "tiktok": (3, 6), "x": (1, 2)}.get(platform, (1, 4))
    score += 1 if ideal[0] <= len(hashtags) <= ideal[1] else 0
    score -= 1 if len(keywords) < 2 else 0
    return max(1, min(10, score))


# LLM -----------------------------------------------------------------------------------------

SYSTEM_PROMPT = """You write social-media posts for a restaurant, in its own voice.
Answer with one JSON object: {"title": "<short idea title>", "posts": [{"platform": "...",
"caption": "...", "hashtags": ["tag", ...], "viral_score": <1-10>}]}, one post per requested
platform. Hashtags without '#'. Write in the language given. Respect each platform's limit
(caption plus hashtags): instagram 2200 characters and 30 hashtags, tiktok 2200 and 30,
facebook 63206, linkedin 3000, x 280 weighted characters (URLs count 23, emoji and CJK 2).
viral_score is your honest estimate of how well the post will do."""


class LlmEngine:
    name = "llm"

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    async def generate(self, data: GenerationInput) -> Generation:
        brand = data.brand.model_dump(
            mode="json", exclude={"owner", "updated_by", "created_at", "updated_at"}
        )
        prompt = {
            "language": data.language,
            "platforms": list(data.platforms),
            "brand": brand,
            "transcript": data.transcript,
            "image_analysis": data.image_analysis,
        }
        content: Any = json.dumps(prompt, ensure_ascii=False)
        if data.image_url:  # vision: the photo itself as an image part
            content = [
                {"type": "text", "text": content},
                {"type": "image_url", "image_url": {"url": data.image_url}},
            ]
        parsed, result = await self.client.complete_json(
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
        )
        posts = {
            str(p.get("platform", "")).lower(): p
            for p in parsed.get("posts") or []
            if isinstance(p, dict)
        }
        missing = [p for p in data.platforms if p not in posts]
        if missing:
            raise LlmError(f"the model wrote no post for {', '.join(missing)}")
        drafts = []
        for platform in data.platforms:
            post = posts[platform]
            tags = [
                str(t).lstrip("#").replace(" ", "")
                for t in post.get("hashtags") or []
                if str(t).strip("# ")
            ]
            caption, tags = _fit(platform, [str(post.get("caption") or "").strip()], tags)
            try:
                score = max(1, min(10, int(post.get("viral_score") or 5)))
            except (TypeError, ValueError):
                score = 5
            drafts.append(Draft(platform, caption, tags, score, data.image_url))
        title = str(parsed.get("title") or "").strip()[:200] or (drafts[0].caption[:80])
        return Generation(title=title, drafts=drafts, engine=f"llm:{result.model}"[:100])
