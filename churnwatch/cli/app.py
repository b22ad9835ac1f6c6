"""The ``churnwatch`` command. Each group lives in its own module; this file wires them."""

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
