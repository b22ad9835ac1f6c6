"""Helpers for the deploy/ checks: where things are, YAML loading, metric names in text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
METRIC = re.compile(r"\bchurnwatch_\w+")


def load_yaml(path: Path) -> Any:
    """One YAML document, loaded safely."""
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list[Any]:
    """Every non-empty document of a multi-document YAML file."""
    docs = YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8"))
    return [d for d in docs if d is not None]
