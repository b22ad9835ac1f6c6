"""Where things are by default: the embedded store and the demo folder.

The shipped rule pack's folder is ``churnwatch.rules.SHIPPED_RULES``: it belongs to the
rules package, whose data it is.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_DB_URL", "DEMO_DIR"]

DEFAULT_DB_URL = "sqlite:///churnwatch.db"
DEMO_DIR = Path("var") / "demo"
