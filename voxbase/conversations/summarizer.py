"""Summary engines: from a finished conversation to title, tl;dr, decisions, actions, notes.

`ExtractiveSummarizer` (offline default) picks the most representative sentences by keyword
weight, finds decisions, action items (owner and due date) and open questions with patterns,
and lays the notes out under the template's `## Headings` when it has a summary template.
`LlmSummarizer` asks an OpenAI-compatible chat model for the same JSON shape.

An action item is `{"text", "owner", "due", "due_phrase"}`: `due_phrase` is what was said
("by Friday", "next week"), `due` the ISO date it names, resolved against the conversation's
day in the user's time zone by `due_dates.resolve` (its rules and limits are written there);
null when the sentence names no date or the phrase is not one the rules cover.

Limits of the offline engine: English only; an action item is one sentence (a promise spread
over two turns is missed); owners are the speaker ("I"), the team ("we", "let's"), the other
party ("you", "please…") or a capitalised first name before the verb ("Maria will…"), never a
pronoun ("she will…" has no owner); conditional sentences ("if we need to…") and states ("I'll
be honest") are not actions; at most ten items.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from voxbase.conversations import due_dates
from voxbase.providers.llm import ChatClient


@dataclass(frozen=True)
class Line:
    speaker: str
    text: str
    start_seconds: Decimal | None = None


@dataclass(frozen=True)
class SummaryInput:
    lines: list[Line]
    conversation_type: str | None = None
    title_hint: str | None = None
    summary_template: str | None = None
    context_instructions: str | None = None
    # The conversation's day in the user's time zone: what "by Friday" is resolved against.
    today: date | None = None


@dataclass
class SummaryResult:
    title: str
    tldr: str
    key_decisions: list[str]
    action_items: list[dict[str, Any]]
    follow_up_questions: list[str]
    full_transcript: str
    structured_notes: str
    model_used: str
    extra: dict[str, Any] = field(default_factory=dict)


class Summarizer(Protocol):
    async def summarize(self, data: SummaryInput) -> SummaryResult: ...


_STOPWORD_TEXT = """
a about above after again against all am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each few for from further had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
myself no nor not of off on once only or other ought our ours ourselves out over own same
shan't she she'd she'll she's should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this
those through to too under until up very was wasn't we we'd we'll we're we've were weren't
what what's when when's where where's which while who who's whom why why's with won't
would wouldn't you you'd you'll you're you've your yours yourself yourselves yes yeah okay
ok um uh like just really so well also got get going know think want need thing things
right sure maybe one two also actually will can good great thanks thank hi hello"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
DECISION = re.compile(
    r"\b(we (have |'ve )?(agreed|decided)|decided|agreed (to|on|that)|let'?s go with|"
    r"we('ll| will) go with|settled on|the decision is|approved?|final answer|"
    r"we('re| are) going with)\b",
    re.IGNORECASE,
)
_NAME = r"[A-Z][a-z]+(?: and [A-Z][a-z]+)?"
# "I will send…", "we need to…", "Maria'll share…", "let me check…", "Priya to confirm…".
ACTION = re.compile(
    rf"\b(?P<who>[Ii]|[Ww]e|[Yy]ou|[Hh]e|[Ss]he|[Tt]hey|{_NAME})\s*"
    r"(?P<verb>'ll|will|need to|needs to|"
    r"should|must|has to|have to|is going to|are going to|am going to|'m going to)\s+"
    r"(?P<what>[^.?!]+)",
)
LET = re.compile(r"\b(?P<who>[Ll]et'?s|[Ll]et me|[Ll]et us)\s+(?P<what>[^.?!]+)")
# "Action: send the proposal by Friday", "Action item (Sam): …", "Next step for Priya - …".
LABEL = re.compile(
    r"^(?:action(?: items?)?|next steps?|to-?do|follow[- ]up|ai)\s*"
    rf"(?:\((?P<who>{_NAME})\)|for (?P<for>{_NAME}))?\s*[:\-\u2013]\s*(?P<what>.+)$",
    re.IGNORECASE,
)
NAMED = re.compile(rf"^(?P<who>{_NAME})\s+(?:to|will|'ll|needs to|should)\s+(?P<what>.+)$")
# "Please send…", "Could you please share…?": a request to the other party.
PLEASE = re.compile(r"^(?:(?:could|can|would) you )?please\s+(?P<what>[^.?!]+)", re.IGNORECASE)
ACTION_HINT = re.compile(r"\b(action item|to-?do|follow up|todo)\b[:\s-]*(?P<what>[^.?!]+)", re.I)
FILLER = re.compile(r"^(?:(?:so|okay|ok|alright|right|great|sure|and|then|also)[,\s]+)+", re.I)
CONDITIONAL = re.compile(r"\b(if|unless|when|whether|in case)\b", re.IGNORECASE)
# Words that start a sentence like a name but own nothing ("It will take two weeks").
NOT_OWNERS = frozenset(
    [
        "it",
        "this",
        "that",
        "there",
        "these",
        "those",
        "what",
        "which",
        "who",
        "nothing",
        "everything",
        "something",
        "anything",
        "today",
        "tomorrow",
        "everyone",
        "nobody",
    ]
)
_DAY = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_WHEN = (
    rf"(?:next|this|coming) (?:week|month|quarter|{_DAY})|"
    rf"(?:{_DAY})(?: (?:morning|afternoon|evening|eod))?|"
    r"tomorrow(?: (?:morning|afternoon|evening))?|tonight|today|"
    r"(?:the )?end of (?:the |next |this )?(?:day|week|month|quarter|year)|eod|eow|"
    rf"{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}|"
    r"the \d{1,2}(?:st|nd|rd|th)|\d{4}-\d{2}-\d{2}"
)
_IN = r"in (?:a|an|one|two|three|four|five|six|\d+) (?:days?|weeks?|months?)"
DUE = re.compile(
    rf"\b(?:(?:by|before|on|until|due|no later than)\s+(?P<due>{_WHEN})|"
    rf"(?P<due2>{_WHEN}|{_IN}))\b",
    re.IGNORECASE,
)
UNCERTAIN = re.compile(r"\b(not sure|need to check|find out|don't know|unclear|tbd)\b", re.I)
SECTION_HINTS = {
    "decision": "decisions",
    "action": "actions",
    "next step": "actions",
    "owner": "actions",
    "todo": "actions",
    "to-do": "actions",
    "question": "questions",
    "follow": "questions",
}
SYNONYMS = {
    "pain": ["problem", "issue", "struggl", "frustrat", "difficult", "slow", "broken", "pain"],
    "budget": ["budget", "price", "pricing", "cost", "spend", "expensive", "cheap", "$"],
    "timeline": ["deadline", "timeline", "date", "quarter", "week", "month", "launch", "by "],
    "concern": ["concern", "worr", "risk", "issue", "problem", "unsure", "not sure"],
    "strength": ["strong", "great", "good", "experience", "led", "built", "excellent"],
    "recommend": ["recommend", "hire", "should", "suggest", "next"],
    "risk": ["risk", "concern", "block", "depend", "delay"],
}


def _words(text: str) -> list[str]:
    return [w.lower().strip("'-") for w in WORD.findall(text)]


def _content_words(text: str) -> list[str]:
    return [w for w in _words(text) if w not in STOPWORDS and len(w) > 2]


def _stamp(seconds: Decimal | None) -> str:
    if seconds is None:
        return ""
    total = int(seconds)
    return f"[{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}] "


@dataclass(frozen=True)
class _Sentence:
    index: int
    speaker: str
    text: str


def _sentences(lines: list[Line]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for line in lines:
        for part in SENTENCE_END.split(line.text.strip()):
            part = part.strip()
            if part:
                out.append(_Sentence(len(out), line.speaker, part))
    return out


def _unique(items: list[str], limit: int) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.lower()
        if key not in seen:
            seen.add(key)
            out.append(item)
        if len(out) >= limit:
            break
    return out


def _clean(text: str) -> str:
    text = text.strip().rstrip(",;:")
    return text[:1].upper() + text[1:] if text else text


def _owner(who: str | None, speaker: str) -> str | None:
    """ "I" is the speaker, "we"/"let's" the team, "you" the other party, a name itself."""
    if not who:
        return None
    lowered = who.lower().replace("'", "")
    if lowered in ("i", "let me"):
        return speaker
    if lowered in ("we", "lets", "let us"):
        return "team"
    if lowered == "you":
        return _other(speaker)
    if lowered in ("he", "she", "they"):
        return None
    return who


def _other(speaker: str) -> str:
    return "other" if speaker == "user" else "user"


def _due(text: str) -> str | None:
    match = DUE.search(text)
    if match is None:
        return None
    return (match.group("due") or match.group("due2") or "").strip() or None


def action_item(
    text: str, owner: str | None, phrase: str | None, today: date | None
) -> dict[str, Any]:
    """The stored shape of an action item: the due phrase as said and the date it names."""
    phrase = phrase.strip() if isinstance(phrase, str) and phrase.strip() else None
    due = due_dates.resolve(phrase, today) if phrase and today else None
    return {
        "text": text,
        "owner": owner,
        "due": due.isoformat() if due else None,
        "due_phrase": phrase,
    }


def _action_in(sentence: _Sentence) -> tuple[str, str | None] | None:
    """(what is to be done, its owner) when the sentence asks for or promises an action."""
    text = FILLER.sub("", sentence.text).strip()
    label = LABEL.match(text)
    if label:
        what, who = label.group("what").strip(), label.group("who") or label.group("for")
        named = NAMED.match(what)
        if named and named.group("who").lower() not in NOT_OWNERS:
            return named.group("what"), named.group("who")
        return what.rstrip(".!"), who
    please = PLEASE.match(text)
    if please:
        return please.group("what"), _other(sentence.speaker)
    if text.endswith("?"):
        return None
    for pattern in (ACTION, LET):
        match = pattern.search(text)
        if match is None:
            continue
        who = match.group("who")
        if who.lower() in NOT_OWNERS or CONDITIONAL.search(text[: match.start()]):
            return None
        what = match.group("what").strip()
        if pattern is LET and what.lower().startswith("go with"):
            return None  # "let's go with…" is a decision
        if re.match(r"be\s+(?!\w+ing\b)", what, re.IGNORECASE):
            return None  # "I'll be honest", "we should be fine": a state, not a task
        return what, _owner(who, sentence.speaker)
    named = NAMED.match(text)
    if named and named.group("who").lower() not in NOT_OWNERS:
        return named.group("what").rstrip(".!"), named.group("who")
    hint = ACTION_HINT.search(text)
    return (hint.group("what"), None) if hint else None


class ExtractiveSummarizer:
    model_name = "extractive"

    def __init__(self, tldr_sentences: int = 3) -> None:
        self.tldr_sentences = tldr_sentences

    def _weights(self, sentences: list[_Sentence]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(set(_content_words(sentence.text)))
        return counts

    def _score(self, sentence: _Sentence, weights: Counter[str], top: int) -> float:
        words = _content_words(sentence.text)
        if len(words) < 3 or sentence.text.endswith("?"):
            return 0.0
        return sum(weights[w] / top for w in set(words)) / math.sqrt(len(words))

    def _actions(self, sentences: list[_Sentence], today: date | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for sentence in sentences:
            found = _action_in(sentence)
            if found is None:
                continue
            what, owner = found
            text = _clean(what.strip().rstrip(".!"))
            if not _content_words(text) or text.lower() in seen:
                continue
            seen.add(text.lower())
            items.append(action_item(text, owner, _due(what), today))
        return items[:10]

    def _questions(self, sentences: list[_Sentence]) -> list[str]:
        questions = [s.text for s in sentences if s.text.endswith("?") and len(_words(s.text)) >= 4]
        questions += [
            "Follow up: " + _clean(s.text.rstrip("."))
            for s in sentences
            if UNCERTAIN.search(s.text) and not s.text.endswith("?")
        ]
        return _unique(questions, 6)

    def _section(
        self,
        heading: str,
        sentences: list[_Sentence],
        decisions: list[str],
        actions: list[dict[str, Any]],
        questions: list[str],
    ) -> list[str]:
        lowered = heading.lower()
        for hint, kind in SECTION_HINTS.items():
            if hint in lowered:
                if kind == "decisions":
                    return [f"- {d}" for d in decisions]
                if kind == "actions":
                    return [_action_line(a) for a in actions]
                return [f"- {q}" for q in questions]
        needles: list[str] = []
        for word in _content_words(heading):
            needles += SYNONYMS.get(word.rstrip("s"), [word.rstrip("s")])
        picked = [
            s.text
            for s in sentences
            if any(n in s.text.lower() for n in needles) and not s.text.endswith("?")
        ]
        return [f"- {p}" for p in _unique(picked, 5)]

    async def summarize(self, data: SummaryInput) -> SummaryResult:
        sentences = _sentences(data.lines)
        transcript = "\n".join(
            f"{_stamp(line.start_seconds)}{line.speaker}: {line.text}" for line in data.lines
        )
        weights = self._weights(sentences)
        top = max(weights.values(), default=1)
        ranked = sorted(sentences, key=lambda s: self._score(s, weights, top), reverse=True)
        best = sorted(
            [s for s in ranked[: self.tldr_sentences] if self._score(s, weights, top) > 0],
            key=lambda s: s.index,
        )
        tldr = " ".join(s.text for s in best) or (sentences[0].text if sentences else "")
        keywords = [w for w, _ in weights.most_common(12) if len(w) > 3][:3]
        kind = (data.conversation_type or "conversation").replace("_", " ")
        title = data.title_hint or (
            f"{kind.capitalize()}: {', '.join(keywords)}" if keywords else kind.capitalize()
        )
        decisions = _unique([s.text for s in sentences if DECISION.search(s.text)], 10)
        actions = self._actions(sentences, data.today)
        questions = self._questions(sentences)

        notes: list[str] = [f"# {title}", ""]
        headings = [
            h.strip()
            for h in re.findall(r"^#{2,3}\s*(.+)$", data.summary_template or "", re.MULTILINE)
        ]
        if headings:
            for heading in headings:
                body = self._section(heading, sentences, decisions, actions, questions)
                notes += [f"## {heading}", *(body or ["- Not discussed."]), ""]
        else:
            key_points = [s.text for s in ranked[:5] if self._score(s, weights, top) > 0]
            sections = [
                ("Overview", [tldr] if tldr else []),
                ("Key points", [f"- {p}" for p in key_points]),
                ("Decisions", [f"- {d}" for d in decisions]),
                ("Action items", [_action_line(a) for a in actions]),
                ("Open questions", [f"- {q}" for q in questions]),
            ]
            for heading, body in sections:
                notes += [f"## {heading}", *(body or ["- None."]), ""]
        talk: Counter[str] = Counter()
        for line in data.lines:
            talk[line.speaker] += len(_words(line.text))
        notes += ["## Participants", *[f"- {who}: {n} words" for who, n in talk.most_common()]]
        return SummaryResult(
            title=title[:255],
            tldr=tldr,
            key_decisions=decisions,
            action_items=actions,
            follow_up_questions=questions,
            full_transcript=transcript,
            structured_notes="\n".join(notes).strip() + "\n",
            model_used=self.model_name,
        )


def action_line(
    text: str, owner: str | None, due: date | str | None, phrase: str | None = None
) -> str:
    """`- [ ] Send the proposal by Friday (owner: user, due: 2026-03-13, "Friday")`."""
    when = str(due) if due else None
    if phrase and when and phrase != when:
        when = f'{when}, "{phrase}"'
    elif phrase and not when:
        when = f'"{phrase}"'
    extra = ", ".join(p for p in (owner and f"owner: {owner}", when and f"due: {when}") if p)
    return f"- [ ] {text}" + (f" ({extra})" if extra else "")


def _action_line(action: dict[str, Any]) -> str:
    return action_line(
        action["text"], action.get("owner"), action.get("due"), action.get("due_phrase")
    )


SUMMARY_PROMPT = """Summarise the conversation transcript. Answer with JSON only:
{"title": str, "tldr": str, "key_decisions": [str], "action_items": [{"text": str,
"owner": str|null, "due": str|null}], "follow_up_questions": [str], "structured_notes": str}
structured_notes is Markdown. An action item's due is the words the speakers used for when
it is due ("by Friday", "next week", "March 14"), or null."""


class LlmSummarizer:
    def __init__(self, client: ChatClient) -> None:
        self.client = client

    async def summarize(self, data: SummaryInput) -> SummaryResult:
        transcript = "\n".join(
            f"{_stamp(line.start_seconds)}{line.speaker}: {line.text}" for line in data.lines
        )
        system = SUMMARY_PROMPT
        if data.summary_template:
            system += "\nLay structured_notes out with these sections:\n" + data.summary_template
        if data.context_instructions:
            system += "\nContext: " + data.context_instructions
        parsed, result = await self.client.complete_json(
            [{"role": "system", "content": system}, {"role": "user", "content": transcript}]
        )
        actions = []
        for item in parsed.get("action_items") or []:
            if isinstance(item, dict) and item.get("text"):
                owner, due = item.get("owner"), item.get("due")
                actions.append(
                    action_item(
                        str(item["text"]),
                        str(owner) if owner else None,
                        str(due) if due else None,
                        data.today,
                    )
                )
            elif isinstance(item, str):
                actions.append(action_item(item, None, None, data.today))
        return SummaryResult(
            title=str(parsed.get("title") or data.title_hint or "Conversation")[:255],
            tldr=str(parsed.get("tldr") or ""),
            key_decisions=[str(x) for x in parsed.get("key_decisions") or []],
            action_items=actions,
            follow_up_questions=[str(x) for x in parsed.get("follow_up_questions") or []],
            full_transcript=transcript,
            structured_notes=str(parsed.get("structured_notes") or ""),
            model_used=result.model[:100],
        )
