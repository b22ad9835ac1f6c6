"""Reading YAML the way compliance wrote it: with line numbers, and numbers as exact text.

ruamel.yaml's round-trip loader remembers where every key and value stood, so a rule
error can say ``pack/transfers.yaml:14:16``. Floats are kept as their source text so
``50000.00`` becomes ``Decimal("50000.00")`` and never passes through a binary float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "Located",
    "ProblemReporting",
    "YamlDocument",
    "YamlSyntaxError",
    "load_yaml",
    "plain",
]

#: a rule, test or routing file is hand-written; the shipped ones are a few kilobytes
MAX_FILE_BYTES = 1_000_000
#: nesting of mappings and lists; a rule file needs five or six levels
MAX_DEPTH = 40


class _NoAliasComposer(Composer):
    """Refuses aliases (``*name``) before anything is built from them.

    Rule files need no anchors, and an alias is what makes a few hundred bytes of YAML
    expand into gigabytes ("billion laughs"); refusing it costs compliance nothing.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.get_event()
            raise ComposerError(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed here; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


class _ExactConstructor(RoundTripConstructor):
    """Round-trip constructor whose floats are Decimals built from the source text."""

    def construct_yaml_float(self, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        try:
            return Decimal(text)
        except ArithmeticError:
            return super().construct_yaml_float(node)

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        """A date such as 2026-02-30 that does not exist is a located error, not a crash."""
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError as exc:
            raise ConstructorError(
                None, None, f"{node.value!r} is not a date ({exc})", node.start_mark
            ) from exc


_ExactConstructor.add_constructor("tag:yaml.org,2002:float", _ExactConstructor.construct_yaml_float)
_ExactConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp", _ExactConstructor.construct_yaml_timestamp
)


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Located:
    """A 1-based line and column in a file."""

    line: int
    column: int


class YamlDocument:
    """A loaded YAML file that can say where any path inside it was written."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        self.data = data

    def locate(self, keys: Iterable[str | int]) -> Located:
        """Position of the deepest node along ``keys`` that exists."""
        node: Any = self.data
        best = Located(1, 1)
        for key in keys:
            if isinstance(node, CommentedMap) and key in node:
                line, column = node.lc.value(key) if node[key] is not None else node.lc.key(key)
                best = Located(line + 1, column + 1)
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line, column = node.lc.item(key)
                best = Located(line + 1, column + 1)
                node = node[key]
            elif isinstance(node, CommentedMap | CommentedSeq):
                if hasattr(node, "lc"):
                    best = Located(node.lc.line + 1, node.lc.col + 1)
                break
            else:
                break
        return best

    def locate_key(self, keys: list[str | int], key: str) -> Located:
        """Position of ``key`` itself (not its value) inside the mapping at ``keys``."""
        node: Any = self.data
        for part in keys:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return self.locate(keys)
        if isinstance(node, CommentedMap) and key in node:
            line, column = node.lc.key(key)
            return Located(line + 1, column + 1)
        return self.locate(keys)


def load_yaml(path: Path) -> YamlDocument:
    """Load ``path``; raise YamlSyntaxError with the position of a syntax error.

    A file larger than :data:`MAX_FILE_BYTES`, nested deeper than :data:`MAX_DEPTH` or
    using aliases is refused before it is built, so a careless or hostile file costs
    milliseconds, not the machine.
    """
    yaml = YAML(typ="rt")
    yaml.Constructor = _ExactConstructor
    yaml.Composer = _NoAliasComposer
    yaml.max_depth = MAX_DEPTH
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise YamlSyntaxError(f"cannot read the file: {exc.strerror}", 1, 1) from exc
    if size > MAX_FILE_BYTES:
        raise YamlSyntaxError(
            f"the file is {size:,} bytes; at most {MAX_FILE_BYTES:,} are allowed", 1, 1
        )
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle)
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        raise YamlSyntaxError(
            f"nested more than {MAX_DEPTH} levels deep", mark.line + 1, mark.column + 1
        ) from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        problem = str(exc.problem or exc)
        if not problem.startswith("aliases"):  # ours: a refusal, not a syntax error
            problem = f"YAML syntax error: {problem}"
            slip = _full_width_slip(path, line)
            if slip is not None:
                line, column, hint = slip
                problem = f"{problem}; {hint}"
        raise YamlSyntaxError(problem, line, column) from exc
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(f"file is not UTF-8 text: {exc}", 1, 1) from exc
    except OSError as exc:
        raise YamlSyntaxError(f"cannot read the file: {exc.strerror}", 1, 1) from exc
    return YamlDocument(path, data)


#: a line that starts a key, as a Chinese input method may type it: full-width spaces in
#: its indent, a full-width dash before it, a full-width colon after it
_KEY_LINE = re.compile(
    r"(?P<indent>[ \u3000]*)(?:(?P<dash>[-－])[ \u3000]+)?[A-Za-z0-9_-]+[ \u3000]*(?P<colon>[:：])"
)
_HALF_WIDTH = {
    "\u3000": ("a full-width space", "a space"),
    "－": ("a full-width dash '－'", "'-'"),
    "：": ("a full-width colon '：'", "':'"),
}


def _full_width_slip(path: Path, line: int) -> tuple[int, int, str] | None:
    """Where a key's line holds a full-width space, dash or colon, on the line YAML stopped
    at or the last one before it with content, with what to type instead; None when there
    is none.

    Why. YAML reports ``owner：x`` as "could not find expected ':'" on the next line, and
    the character itself looks like a colon to whoever typed it. Only the key's own
    punctuation is looked at: Chinese text in a value is fine."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    before = min(line - 1, len(lines))  # YAML passes blank lines and comments to stop
    while before >= 1 and lines[before - 1].strip().partition("#")[0] == "":
        before -= 1
    for number in (before, line):
        found = _KEY_LINE.match(lines[number - 1]) if 1 <= number <= len(lines) else None
        if found is None:
            continue
        for part in ("indent", "dash", "colon"):
            text, offset = found[part] or "", found.start(part)
            for index, char in enumerate(text):
                if char in _HALF_WIDTH:
                    name, twin = _HALF_WIDTH[char]
                    hint = f"line {number} has {name} (U+{ord(char):04X}) where YAML needs {twin}"
                    return number, offset + index + 1, hint
    return None


def plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (for msgspec.convert)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if (
        hasattr(value, "isoformat")
        or isinstance(value, Decimal | int | bool | str)
        or value is None
    ):
        return value
    return str(value)


class ProblemReporting:
    """What the rule loader's parts call to report a problem at a place in a document.

    The loader's parts (block, signal, outcome, score and spec building) are mixins of one
    loader, which implements :meth:`problem`; this base lets each part be type-checked on
    its own without repeating the signature.
    """

    if TYPE_CHECKING:

        def problem(
            self,
            doc: YamlDocument,
            keys: list[str | int],
            message: str,
            rule_id: str | None = None,
            field_name: str | None = None,
            key: str | None = None,
            column_offset: int = 0,
        ) -> None: ...
