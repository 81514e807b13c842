"""Due dates of action items: the phrase people said ("by Friday", "tomorrow", "next week",
"by 12 March", "in two weeks") resolved to a calendar date against the day the conversation
took place, in the user's time zone (ADR 1341).

A small rule set rather than a general date parser: the summarizer's own pattern (`DUE` in
`summarizer.py`) finds the phrase, so only those shapes need a meaning, and each has exactly
one, written here and tested:

- `today`, `tonight`, `eod`, `end of (the) day` → the conversation's day; `tomorrow` → the day
  after. A time of day after it (`tomorrow morning`, `Friday afternoon`) is dropped: due dates
  are dates.
- A weekday (`Friday`, `by Friday`, `coming Friday`) → the next such day after the
  conversation's day (said on a Friday, `by Friday` is a week later; people say `today`);
  `this Friday` → this week's Friday, or today when it is Friday; `next Friday` → the Friday
  of next week (Monday-to-Sunday weeks).
- A period → its last working day or last day: `this week`, `end of the week`, `eow` → this
  week's Friday (today at the weekend); `next week`, `end of next week` → next week's Friday;
  `this month`, `end of the month` → its last day; `next month` → the last day of next month;
  the same for `quarter` and `year`.
- `in N days / weeks / months` (N a digit or one to six in words) → that far from the day.
- A day of a month (`March 14`, `14th of March`, `12 March`, `mar 3rd`) → that date this year,
  or next year when it has passed; `the 3rd` → the 3rd of this month, or of next month when it
  has passed; an ISO date (`2026-03-14`) is itself. A day a month does not have is no date.

Not understood, so the date is null and only the phrase is kept: times without a day ("at 3
pm"), vague periods ("soon", "mid-March", "early next week", "after the launch"), ranges
("between Monday and Wednesday"), other languages, and years said in words.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = {name[:3].lower(): n for n, name in enumerate(calendar.month_name) if name}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
TIME_OF_DAY = re.compile(r"\s+(?:morning|afternoon|evening|night|eod)$")
ORDINAL = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
MONTH = r"(?P<month>[a-z]{3})[a-z]*\.?"
MONTH_DAY = (re.compile(rf"^{MONTH} {ORDINAL}$"), re.compile(rf"^{ORDINAL} (?:of )?{MONTH}$"))
THE_DAY = re.compile(rf"^(?:the )?{ORDINAL}$")
IN = re.compile(r"^in (?P<n>\d+|a|an|one|two|three|four|five|six) (?P<unit>day|week|month)s?$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIOD = re.compile(
    r"^(?:the )?(?:end of (?:the )?)?(?P<which>this|next|coming)? ?"
    r"(?P<unit>day|week|month|quarter|year)$"
)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _last_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weekday(which: str | None, weekday: int, today: date) -> date:
    if which == "next":
        return _monday(today) + timedelta(days=7 + weekday)
    ahead = (weekday - today.weekday()) % 7
    if which == "this":
        return today + timedelta(days=ahead)
    return today + timedelta(days=ahead or 7)


def _period(which: str | None, unit: str, today: date) -> date:
    step = 1 if which == "next" else 0
    if unit == "day":
        return today + timedelta(days=step)
    if unit == "week":
        friday = _monday(today) + timedelta(days=7 * step + 4)
        return max(friday, today)
    if unit == "month":
        return _last_of_month(_add_months(today.replace(day=1), step))
    if unit == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return _last_of_month(_add_months(first, 3 * step + 2))
    return date(today.year + step, 12, 31)


def _day_of_month(day: int, month: int, today: date) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def resolve(phrase: str | None, today: date) -> date | None:
    """The date `phrase` names, said on `today`; None when the rules above do not cover it."""
    if not phrase:
        return None
    text = " ".join(phrase.lower().replace(",", " ").split())
    text = re.sub(r"^(?:by|before|on|until|due|no later than)\s+", "", text)
    text = TIME_OF_DAY.sub("", text)
    if ISO.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if text in ("today", "tonight", "eod"):
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "eow":
        return _period(None, "week", today)
    words = text.split()
    if words and words[-1] in WEEKDAYS and len(words) <= 2:
        which = words[0] if len(words) == 2 else None
        if which not in (None, "this", "next", "coming"):
            return None
        return _weekday(which, WEEKDAYS.index(words[-1]), today)
    if match := PERIOD.match(text):
        which = match.group("which")  # "the coming week" is next week
        return _period("next" if which == "coming" else which, match.group("unit"), today)
    if match := IN.match(text):
        n = match.group("n")
        count = int(n) if n.isdigit() else NUMBERS[n]
        unit = match.group("unit")
        if unit == "month":
            return _add_months(today, count)
        return today + timedelta(days=count * (7 if unit == "week" else 1))
    for pattern in MONTH_DAY:
        match = pattern.match(text)
        if match and (month := MONTHS.get(match.group("month"))):
            return _day_of_month(int(match.group("day")), month, today)
    if match := THE_DAY.match(text):
        day = int(match.group("day"))
        this_month = _day_of_month_in(today.year, today.month, day)
        if this_month is not None and this_month >= today:
            return this_month
        following = _add_months(today.replace(day=1), 1)
        return _day_of_month_in(following.year, following.month, day)
    return None


def _day_of_month_in(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
