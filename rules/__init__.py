"""The rule language: YAML rule files compiled into an engine that is a pure function.

``SHIPPED_RULES`` is the pack that ships with churnwatch, the default wherever a command
takes ``--rules``; ``DEFAULT_TIMEZONE`` is the bank's timezone unless one is given. Both
live here, apart from the loader, so that a command's options can name them without
loading the rule compiler.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_TIMEZONE", "SHIPPED_RULES"]

SHIPPED_RULES = Path(__file__).parent / "pack"
DEFAULT_TIMEZONE = "Asia/Shanghai"
