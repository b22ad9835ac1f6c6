"""The product cross-holding section of the report (产品交叉覆盖率) as text and CSV rows.

Per branch and per relationship manager: the customers the bank has a record of, and
the share of them holding at least 2, 3 and 5 products now (``HoldingCounts``, from the
product events the drivers keep). The words are the pages' gettext catalog's, in the
reader's language; the HTML section is ``templates/holdings.html.j2``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from babel.numbers import format_percent

from churnwatch.followup.i18n import translations
from churnwatch.notifiers.filters import locale_of
from churnwatch.schemas.profile_views import HOLDING_THRESHOLDS, HoldingCounts

__all__ = ["holding_csv_rows", "holding_sections", "holding_text_lines"]

Namer = Callable[[str, str], str]


def holding_sections(
    holdings: Mapping[str, list[HoldingCounts]], name_of: Namer
) -> list[tuple[str, list[tuple[str, HoldingCounts]]]]:
    """``[(section, [(name, counts), …]), …]`` for branches, then managers."""
    return [
        (section, [(name_of(section, h.key), h) for h in holdings.get(section, [])])
        for section in ("branch", "manager")
        if section in holdings
    ]


def _share(value: float | None, language: str) -> str:
    return "-" if value is None else format_percent(value, "#,##0.#%", locale=locale_of(language))


def holding_text_lines(
    holdings: Mapping[str, list[HoldingCounts]], name_of: Namer, language: str
) -> list[str]:
    """The section as aligned text lines, headed in ``language``."""
    _ = translations(language).gettext
    titles = {"branch": _("By branch"), "manager": _("By relationship manager")}
    lines = [
        "",
        _("Product cross-holding"),
        _(
            "Share of customers holding at least 2, 3 and 5 products, "
            "as the product events stand now."
        ),
    ]
    for section, groups in holding_sections(holdings, name_of):
        header = [
            titles[section],
            _("Customers"),
            *(_("At least %(n)s products") % {"n": n} for n in HOLDING_THRESHOLDS),
        ]
        rows = [header] + [
            [
                name,
                str(h.customers),
                *(f"{_share(h.share(n), language)} ({h.at_least[n]})" for n in HOLDING_THRESHOLDS),
            ]
            for name, h in groups
        ]
        widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
        lines.append("")
        lines.extend(
            "  ".join(
                cell + " " * (width - _width(cell)) for cell, width in zip(r, widths, strict=True)
            ).rstrip()
            for r in rows
        )
    return lines


def _width(text: str) -> int:
    """Columns on a terminal: a CJK character takes two."""
    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


def holding_csv_rows(
    holdings: Mapping[str, list[HoldingCounts]], name_of: Namer, language: str
) -> Iterable[list[Any]]:
    """A header row in ``language``, then one row per branch and manager."""
    _ = translations(language).gettext
    titles = {"branch": _("Branch"), "manager": _("Relationship manager")}
    yield [
        _("Product cross-holding"),
        _("Group"),
        _("Name"),
        _("Customers"),
        *(_("At least %(n)s products") % {"n": n} for n in HOLDING_THRESHOLDS),
        *(_("Share with at least %(n)s products") % {"n": n} for n in HOLDING_THRESHOLDS),
    ]
    title = _("Product cross-holding")
    for section, groups in holding_sections(holdings, name_of):
        for name, h in groups:
            yield [
                title,
                titles[section],
                name,
                h.customers,
                *(h.at_least[n] for n in HOLDING_THRESHOLDS),
                *("" if h.share(n) is None else f"{h.share(n):.4f}" for n in HOLDING_THRESHOLDS),
            ]
