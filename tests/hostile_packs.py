"""Hostile rule packs, the ones issue reports reproduced: each must be refused, never obeyed."""

from __future__ import annotations

import shutil
from pathlib import Path

from churnwatch.rules import SHIPPED_RULES

RULE = """rules:
  - id: hostile-rule
    version: 1
    title: Hostile
    description: A rule a careless or hostile hand wrote.
    owner: compliance
    severity: high
    audience: [relationship_manager]
    match: {match}
    threshold: {{at_least: {at_least}}}
"""


def _doubling() -> str:
    return "predicates:\n  p0: outflow\n" + "".join(
        f"  p{n}: p{n - 1} and p{n - 1}\n" for n in range(1, 25)
    )


def _bomb() -> str:
    return 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]\n" for n in range(1, 9)
    )


#: name -> (rule match, threshold, extra file name and text, template text, file the message names)
PACKS: dict[str, tuple[str, str, tuple[str, str] | None, str | None, str]] = {
    "doubling": ("p24", "100", ("doubling.yaml", _doubling()), None, "hostile.yaml"),
    "nesting": ('"' + "not " * 400 + 'outflow"', "100", None, None, "hostile.yaml"),
    "alias-bomb": ("outflow", "100", ("bomb.yaml", _bomb()), None, "bomb.yaml"),
    "nan": ("outflow", ".nan", None, None, "hostile.yaml"),
    "power-template": ("outflow", "100", None, "{{ 10 ** (10 ** 10) }}", ".j2"),
    "syntax-template": ("outflow", "100", None, "{{ facts.amount ", ".j2"),
}


def hostile_pack(root: Path, name: str) -> Path:
    """A copy of the shipped pack plus the hostile files called ``name``."""
    pack = root / name
    shutil.copytree(SHIPPED_RULES, pack)
    add_hostile(pack, name)
    return pack


def add_hostile(pack: Path, name: str) -> list[Path]:
    """Write the hostile rule (and file or template) ``name`` into ``pack``; return them."""
    match, at_least, extra, template, _ = PACKS[name]
    written = [pack / "hostile.yaml"]
    written[0].write_text(RULE.format(match=match, at_least=at_least))
    if extra is not None:
        written.append(pack / extra[0])
        written[-1].write_text(extra[1])
    if template is not None:
        folder = pack / "templates" / "hostile-rule"
        folder.mkdir()
        written.append(folder)
        for language in ("en", "zh-CN"):
            (folder / f"relationship_manager.{language}.j2").write_text(template)
    return written


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
