"""The rule language: YAML rule files compiled into an engine that is a pure function.

``SHIPPED_RULES`` is the pack that ships with churnwatch, the default wherever a command
takes ``--rules``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED_RULES"]

SHIPPED_RULES = Path(__file__).parent / "pack"
