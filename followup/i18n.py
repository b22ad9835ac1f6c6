"""The pages' own words: gettext catalogs, one per language, edited with standard tools.

Templates mark their words with ``_()`` (jinja2's i18n extension); the English text is
the message id, so English needs no catalog. Translations live in
``followup/locale/<locale>/LC_MESSAGES/messages.po``; a translator refreshes and edits
them with Babel's command line, and a new language is a new catalog, not code::

    pybabel extract -F followup/babel.cfg -o followup/locale/messages.pot followup
    pybabel update -i followup/locale/messages.pot -d followup/locale
    pybabel init -i followup/locale/messages.pot -d followup/locale -l ja   # a new language

The ``.po`` files are compiled in memory at first use, so nothing binary is committed.
Rule texts, "what happened" and the words for tiers or products are the rule pack's.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["LANGUAGES", "LOCALE_DIR", "choose_language", "person_language", "translations"]

LOCALE_DIR: Final = Path(__file__).parent / "locale"
SOURCE_LANGUAGE: Final = "en"


def _catalog_languages() -> tuple[str, ...]:
    found = sorted(
        p.parent.parent.name.replace("_", "-") for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")
    )
    return (*found, SOURCE_LANGUAGE)


#: languages the pages can be read in: one per catalog, and English (the message ids)
LANGUAGES: Final = _catalog_languages()


def choose_language(requested: str | None, accept: str | None, fallback: str = "zh-CN") -> str:
    """``?lang=`` wins, then the browser's Accept-Language, then ``fallback``."""
    if requested in LANGUAGES:
        return requested
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        for language in LANGUAGES:
            if tag == language.lower() or tag.split("-")[0] == language.lower().split("-")[0]:
                return language
    return fallback if fallback in LANGUAGES else LANGUAGES[0]


def person_language(
    requested: str | None, own: str | None, accept: str | None, fallback: str = "zh-CN"
) -> str:
    """A staff member's page: ``?lang=`` wins, then the language on their own staff record
    (what their messages are in), then the browser's Accept-Language, then ``fallback``."""
    if requested in LANGUAGES:
        return requested
    if own in LANGUAGES:
        return own
    return choose_language(None, accept, fallback)


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language``; English and unknown languages pass through."""
    path = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
