"""The ``churnwatch`` command. Each group lives in its own module; this file wires them.

Every ``churnwatch`` run imports all of those modules, for the commands' names, options
and help; so each of them imports at the top only what its signatures and help text
need (typer, rich, the default paths, the config's options), and the store, the rule
compiler, the web app and the worker inside the command that uses them. ``churnwatch
--help`` or ``rules check`` then loads no SQLAlchemy, Alembic or Starlette
(``tests/cli/test_startup.py``), which every operator call and every process the test
suite starts would otherwise pay for.
"""

from __future__ import annotations

import typer

from churnwatch.cli import demo, followup, kafka, morning, notify, ops, replay, rules

__all__ = ["app", "main"]

app = typer.Typer(
    help="churnwatch: real-time churn early warning for retail banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rules.app, name="rules")
app.add_typer(notify.app)
app.add_typer(morning.app, name="morning")
app.command("generate")(demo.generate)
app.command("demo")(demo.demo)
kafka.register(app)
ops.register(app)
followup.register(app)
replay.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
