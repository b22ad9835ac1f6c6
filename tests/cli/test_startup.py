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
#: what the channels send with: ``rules check`` validates their names and settings, sends nothing
CHANNEL_LIBRARIES = ("httpx", "twilio", "requests")


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


def test_rules_check_loads_no_channel_library(tmp_path: Path) -> None:
    """``churnwatch rules check`` validates the routing's channels without their HTTP or SMS
    libraries: a channel imports them when it is built to send, not when it is listed."""
    code = (
        "import sys\n"
        "from churnwatch.cli.app import main\n"
        f"sys.argv = ['churnwatch', 'rules', 'check', {str(SHIPPED_RULES)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "from churnwatch.notifiers.registry import channels\n"
        "assert {'twilio_sms', 'webhook', 'wecom_app', 'dingtalk_work'} <= set(channels())\n"
    )
    loaded = modules_after(code, tmp_path)
    assert loaded.isdisjoint(CHANNEL_LIBRARIES), sorted(loaded & set(CHANNEL_LIBRARIES))


def test_building_a_channel_loads_what_it_sends_with(tmp_path: Path) -> None:
    """The libraries are deferred, not gone: building the webhook and Twilio notifiers
    imports httpx and the twilio SDK."""
    code = (
        "from churnwatch.notifiers.registry import build_notifiers\n"
        "env = {'CHURNWATCH_WEBHOOK_URL': 'https://hooks.example/x',\n"
        "       'CHURNWATCH_WEBHOOK_SECRET': 'a-secret', 'TWILIO_ACCOUNT_SID': 'AC1',\n"
        "       'TWILIO_AUTH_TOKEN': 'a-token', 'TWILIO_FROM': '+15005550006'}\n"
        "built = build_notifiers({'webhook', 'twilio_sms'}, {}, env)\n"
        "assert sorted(built) == ['twilio_sms', 'webhook'], built\n"
    )
    loaded = modules_after(code, tmp_path)
    assert {"httpx", "twilio", "requests"} <= loaded


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
