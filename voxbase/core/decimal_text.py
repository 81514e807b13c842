from __future__ import annotations

import math
from decimal import Decimal


def _digit_range(low: int, high: int) -> str:
    return str(low) if low == high else f"[{low}-{high}]"


def _fixed_width(lo: str, hi: str) -> list[list[str]]:
    """The digit strings of one width from `lo` to `hi`, as sequences of digit classes."""
    if lo == hi:
        return [list(lo)]
    if not lo.strip("0") and not hi.strip("9"):
        return [["[0-9]"] * len(lo)]
    if len(lo) == 1:
        return [[_digit_range(int(lo), int(hi))]]
    if lo[0] == hi[0]:
        return [[lo[0], *rest] for rest in _fixed_width(lo[1:], hi[1:])]
    width = len(lo) - 1
    first, last = int(lo[0]), int(hi[0])  # the leading digits whose rest is free
    out = []
    if lo[1:].strip("0"):
        out += [[lo[0], *rest] for rest in _fixed_width(lo[1:], "9" * width)]
        first += 1
    tail = [] if not hi[1:].strip("9") else [[hi[0], *r] for r in _fixed_width("0" * width, hi[1:])]
    if tail:
        last -= 1
    if first <= last:
        out.append([_digit_range(first, last), *["[0-9]"] * width])
    return out + tail


def _zero_allowed(digit_class: str) -> bool:
    return digit_class in ("0", "[0-9]") or digit_class.startswith("[0-")


def _compact(classes: list[str]) -> str:
    out, previous, count = [], None, 0
    for cls in [*classes, None]:
        if cls == previous:
            count += 1
            continue
        if previous is not None:
            out.append(previous if count == 1 else f"{previous}{{{count}}}")
        previous, count = cls, 1
    return "".join(out)


def _magnitudes(low: int, high: int, places: int) -> list[str]:
    """Regexes of the unsigned decimal texts whose value times 10^places is an integer in
    [low, high] (leading zeros and trailing fraction zeros allowed, as Decimal reads them)."""
    alternatives = []
    for width in range(places + 1, len(str(high)) + 1 if len(str(high)) > places else places + 2):
        lo = max(low, 10 ** (width - 1) if width > places + 1 else 0)
        hi = min(high, 10**width - 1)
        if lo > hi:
            continue
        for seq in _fixed_width(str(lo).zfill(width), str(hi).zfill(width)):
            whole, fraction = seq[: width - places], seq[width - places :]
            options = [
                r"\." + _compact(fraction[:k]) + "0*"
                for k in range(places, 0, -1)
                if all(_zero_allowed(c) for c in fraction[k:])
            ]
            optional = all(_zero_allowed(c) for c in fraction)
            if places == 0:
                options, optional = [r"\.0+"], True
            elif all(c == "[0-9]" for c in fraction):
                options = [rf"\.[0-9]{{1,{places}}}0*"]
            tail = f"({'|'.join(options)})" if options else ""
            if tail and optional:
                tail += "?"
            alternatives.append("0*" + _compact(whole) + tail)
    return alternatives


def decimal_text_pattern(
    low: Decimal | None,
    high: Decimal | None,
    *,
    low_exclusive: bool = False,
    high_exclusive: bool = False,
    places: int | None = None,
) -> str | None:
    """Exactly the decimal texts (`^[+-]?[0-9]+(\\.[0-9]+)?$`) whose value lies within the
    bounds with at most `places` decimal places; None when the bounds cannot be stated so
    (no places and a bound that is not a whole number, or open at both ends)."""
    if low is None and high is None:
        return None
    if places is None:
        if any(b is not None and b != b.to_integral_value() for b in (low, high)):
            return None
        if low_exclusive or high_exclusive:
            return None
        return _whole_bounds(low, high)
    scale = Decimal(10) ** places
    lo = None if low is None else low * scale
    hi = None if high is None else high * scale
    lo_n = None if lo is None else (math.floor(lo) + 1 if low_exclusive else math.ceil(lo))
    hi_n = None if hi is None else (math.ceil(hi) - 1 if high_exclusive else math.floor(hi))
    if lo_n is None or hi_n is None:
        return None  # open-ended: the digit count has no bound (the old pattern says enough)
    parts = []
    if hi_n >= 0:
        parts.append(r"\+?(" + "|".join(_magnitudes(max(lo_n, 0), hi_n, places)) + ")")
    if lo_n < 0:
        parts.append("-(" + "|".join(_magnitudes(max(-hi_n, 0), -lo_n, places)) + ")")
    elif lo_n == 0:
        parts.append(NEGATIVE_ZERO)  # "-0" is 0, inside the bounds
    return "^(" + "|".join(parts) + ")$"


NEGATIVE_ZERO = r"-0+(\.0+)?"


def _whole_bounds(low: Decimal | None, high: Decimal | None) -> str | None:
    """Any number of decimal places, whole-number bounds."""
    if low is None or high is None:
        return None
    lo, hi = int(low), int(high)
    any_fraction, zero_fraction = r"(\.[0-9]+)?", r"(\.0+)?"
    parts = []

    def side(sign: str, a: int, b: int) -> None:
        # magnitudes in [a, b]: whole parts a..b-1 with any fraction, b with none
        # (a non-zero fraction on `a` is fine: it is above a).
        alts = []
        if b - 1 >= a:
            alts += [m.removesuffix(r"(\.0+)?") + any_fraction for m in _magnitudes(a, b - 1, 0)]
        alts += [m.removesuffix(r"(\.0+)?") + zero_fraction for m in _magnitudes(b, b, 0)]
        parts.append(sign + "(" + "|".join(alts) + ")")

    if hi >= 0:
        side(r"\+?", max(lo, 0), hi)
    if lo < 0:
        side("-", max(-hi, 0), -lo)
    elif lo == 0:
        parts.append(NEGATIVE_ZERO)
    return "^(" + "|".join(parts) + ")$"
