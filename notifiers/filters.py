"""The filters texts may use, each in the reader's language.

Numbers, dates and durations are formatted by Babel from CLDR for the language the text
is rendered in (``2026年9月14日``, ``3天``, ``70%``); the words a rule talks about
(severities, tiers, products, transaction kinds, schedule steps) come from the pack's
``words.yaml``. Money arrives as decimal strings in alert facts and never goes through
float. ``mask`` keeps the last four digits, the only part of an account or phone number
a text leaving the bank may show.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from jinja2 import pass_context
from jinja2.runtime import Context

from churnwatch.notifiers.masking import mask_digits
from churnwatch.rules.durations import parse_duration
from churnwatch.rules.texts import FALLBACK_LANGUAGE, Words

__all__ = [
    "date_long",
    "date_short",
    "duration",
    "filters_for",
    "local_time",
    "locale_of",
    "money",
    "share",
]


@functools.cache
def locale_of(language: str) -> Locale:
    """``zh-CN`` → Babel's ``zh_CN``; an unknown tag falls back to zh-CN."""
    try:
        return Locale.parse(language, sep="-")
    except (ValueError, TypeError):
        return Locale.parse(FALLBACK_LANGUAGE, sep="-")


def money(value: Any, language: str = FALLBACK_LANGUAGE, places: int = 2) -> str:
    """``"1234567.5"`` → ``"1,234,567.50"``; anything that is not a number is shown as is."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    pattern = "#,##0." + "0" * places if places else "#,##0"
    return format_decimal(amount, pattern, locale=locale_of(language), decimal_quantization=True)


def share(value: Any, language: str = FALLBACK_LANGUAGE) -> str:
    """``"0.7000"`` → ``"70%"``; one decimal when it matters (``"0.125"`` → ``"12.5%"``)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return format_percent(number, "#,##0.#%", locale=locale_of(language))


def _moment(value: Any) -> dt.datetime | dt.date | None:
    if isinstance(value, dt.datetime | dt.date):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def local_time(value: Any, language: str = FALLBACK_LANGUAGE) -> str:
    """A datetime (already in the bank's zone): ``2026年9月14日 10:05`` / ``Sep 14, 2026 10:05``."""
    moment = _moment(value)
    if moment is None:
        return str(value)
    locale = locale_of(language)
    day = format_skeleton("yMMMd", moment, locale=locale)
    if not isinstance(moment, dt.datetime):
        return day
    return f"{day} {format_skeleton('Hm', moment, locale=locale)}"


def date_long(value: Any, language: str = FALLBACK_LANGUAGE) -> str:
    """``2026年9月14日`` / ``September 14, 2026``."""
    moment = _moment(value)
    return str(value) if moment is None else format_date(moment, "long", locale=locale_of(language))


def date_short(value: Any, language: str = FALLBACK_LANGUAGE) -> str:
    """The day without the year, for short texts: ``9月14日`` / ``Sep 14``."""
    moment = _moment(value)
    if moment is None:
        return str(value)
    return format_skeleton("MMMd", moment, locale=locale_of(language))


_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60))


def duration(value: Any, language: str = FALLBACK_LANGUAGE) -> str:
    """A rule's duration in words, in the unit it was written in: ``72h`` → 72小时, ``3d`` → 3天."""
    try:
        seconds = parse_duration(value if isinstance(value, int) else str(value))
    except ValueError:
        return str(value)
    written = str(value).strip()
    for unit, size in _UNITS:
        if seconds and seconds % size == 0 and not (unit == "duration-day" and written[-1:] == "h"):
            return format_unit(seconds // size, unit, length="long", locale=locale_of(language))
    return format_unit(seconds, "duration-second", length="long", locale=locale_of(language))


def filters_for(words: Words) -> dict[str, Callable[..., str]]:
    """The filters of one pack's texts; each reads the ``language`` the text renders in."""

    def language_of(context: Context) -> str:
        return str(context.get("language") or FALLBACK_LANGUAGE)

    def localized(format_one: Callable[[Any, str], str]) -> Callable[..., str]:
        @pass_context
        def apply(context: Context, value: Any, language: str | None = None) -> str:
            return format_one(value, language or language_of(context))

        return apply

    def word(section: str) -> Callable[..., str]:
        return localized(lambda value, language: words.word(section, value, language))

    return {
        "money": localized(money),
        "share": localized(share),
        "local_time": localized(local_time),
        "date": localized(date_long),
        "short_date": localized(date_short),
        "duration": localized(duration),
        "product": word("products"),
        "severity": word("severities"),
        "tier": word("tiers"),
        "transaction": word("transactions"),
        "step": word("steps"),
        # the morning list's name for a step; the step's own word when the pack has none
        "morning_step": localized(
            lambda value, language: words.word(
                "morning_steps"
                if words.sections.get("morning_steps", {}).get(str(value))
                else "steps",
                value,
                language,
            )
        ),
        "role": word("roles"),
        "mask": mask_digits,
    }
