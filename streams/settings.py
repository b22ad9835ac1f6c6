"""Where things are by default: the shipped rule pack, the embedded store, the demo folder."""

from __future__ import annotations

from pathlib import Path

import rules

__all__ = ["DEFAULT_DB_URL", "DEMO_DIR", "SHIPPED_RULES"]

SHIPPED_RULES = Path(rules.__file__).parent / "pack"
DEFAULT_DB_URL = "sqlite:///churnwatch.db"
DEMO_DIR = Path("var") / "demo"
