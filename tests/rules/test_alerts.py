"""Alerts made from firings (``rules/alerts.py``): ids that depend on what fired, only."""

from __future__ import annotations

from churnwatch.rules.alerts import alert_id_for


def test_id_is_derived_from_rule_version_customer_and_triggers() -> None:
    """Changing any of rule, version, customer or trigger changes the id."""
    base = alert_id_for("r", 1, "C1", ("e1",))
    assert base == alert_id_for("r", 1, "C1", ("e1",))
    assert base.startswith("al-")
    others = {
        alert_id_for("s", 1, "C1", ("e1",)),
        alert_id_for("r", 2, "C1", ("e1",)),
        alert_id_for("r", 1, "C2", ("e1",)),
        alert_id_for("r", 1, "C1", ("e2",)),
        alert_id_for("r", 1, "C1", ("e1", "e2")),
    }
    assert base not in others
    assert len(others) == 5
