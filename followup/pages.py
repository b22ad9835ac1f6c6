"""The jinja2 environments of the follow-up pages (autoescaped, strict undefined), per language."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from churnwatch.followup.i18n import translations

__all__ = ["TEMPLATES", "environment", "mask_account", "render_page"]

TEMPLATES = Path(__file__).parent / "templates"


def mask_account(number: str | None) -> str:
    """Only the last four digits of an account number ever reach a page."""
    if not number:
        return "-"
    return "•••• " + number[-4:]


@functools.cache
def environment(language: str) -> Environment:
    """One environment per language, its gettext catalog installed (``_()`` in templates)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["mask"] = mask_account
    env.globals["style"] = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    return env


def render_page(name: str, language: str, **context: Any) -> str:
    return environment(language).get_template(name).render(lang=language, **context)
