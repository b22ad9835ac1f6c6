"""Starting ``churnwatch`` loads only what the command run needs.

Every operator call and every process the test suite starts imports the command's app
(all its groups, for their names and help); the store, its migrations, the web app and
the Kafka clients are imported by the commands that use them. Checked in a fresh
interpreter, by the modules it ends up holding, not by a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES

#: what no command needs before it runs, and most never
HEAVY = (
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "jinja2",
    "aiokafka",
    "faust",
    "rocksdict",
    "prometheus_client",
    "httpx",
)
#: what ``rules check`` does not need: it reads the pack, it opens no store and serves nothing
NOT_FOR_RULES_CHECK = ("sqlalchemy", "alembic", "starlette", "uvicorn", "aiokafka", "faust")


def modules_after(code: str, tmp_path: Path) -> set[str]:
    """The top-level modules a fresh interpreter holds after running ``code``."""
    listing = tmp_path / "modules.json"
    script = (
        f"{code}\nimport json, sys\n"
        f"open({str(listing)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=60)
    return {name.partition(".")[0] for name in json.loads(listing.read_text())}


def test_importing_the_command_loads_no_store_web_or_kafka_library(tmp_path: Path) -> None:
    """``import churnwatch.cli.app`` (what ``churnwatch --help`` runs) loads none of them."""
    loaded = modules_after("import churnwatch.cli.app", tmp_path)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_rules_check_opens_no_store(tmp_path: Path) -> None:
    """``churnwatch rules check`` on the shipped pack checks it without SQLAlchemy or Alembic."""
    code = (
        "import sys\n"
        "from churnwatch.cli.app import main\n"
        f"sys.argv = ['churnwatch', 'rules', 'check', {str(SHIPPED_RULES)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
    )
    loaded = modules_after(code, tmp_path)
    assert loaded.isdisjoint(NOT_FOR_RULES_CHECK), sorted(loaded & set(NOT_FOR_RULES_CHECK))


def test_help_lists_every_command_with_its_help() -> None:
    """The top level's and each group's ``--help`` name every command and its first line."""
    runner = CliRunner()
    groups = [((), get_command(app))]
    seen = 0
    while groups:
        path, group = groups.pop()
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for name, command in group.commands.items():  # type: ignore[attr-defined]
            first_line = (command.help or "").strip().splitlines()[0]
            assert name in result.output and first_line[:60] in result.output, (path, name)
            seen += 1
            if hasattr(command, "commands"):
                groups.append(((*path, name), command))
    assert seen > 30
