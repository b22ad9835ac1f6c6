"""Route stage: audiences to people by tier, severity and the directory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from helpers import alert, customer, staff

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import RoutingError
from churnwatch.notifiers.routing import Router
from churnwatch.notifiers.routing_file import load_routing
from churnwatch.notifiers.setup import routing_for
from churnwatch.rules import SHIPPED_RULES


def who(directory: InMemoryDirectory, **kwargs: object) -> list[tuple[str, str | None]]:
    routed = Router(routing_for(SHIPPED_RULES))(alert(**kwargs), directory)  # type: ignore[arg-type]
    return [(r.audience, r.staff_id) for r in routed.recipients]


class TestDefaults:
    def test_tier_c_goes_to_the_relationship_manager_only(
        self, directory: InMemoryDirectory
    ) -> None:
        """A tier C customer's manager alert reaches only their relationship manager."""
        assert who(directory) == [("relationship_manager", "RM1")]

    def test_tier_a_adds_the_branch_head(self, directory: InMemoryDirectory) -> None:
        """Tier A (from AUM) adds the branch head."""
        directory.put_customer(customer(aum=Decimal("600000"), tier="A"))
        assert who(directory) == [("relationship_manager", "RM1"), ("branch_head", "BH1")]

    def test_private_and_high_adds_an_executive(self, directory: InMemoryDirectory) -> None:
        """A private-tier customer and a high-severity alert add the executive."""
        directory.put_customer(customer(aum=Decimal("2000000"), tier="private"))
        assert who(directory) == [
            ("relationship_manager", "RM1"),
            ("branch_head", "BH1"),
            ("executive", "EX1"),
        ]
        assert ("executive", "EX1") not in who(directory, severity="medium")

    def test_tier_override_wins_over_aum(self, directory: InMemoryDirectory) -> None:
        """A tier set on the customer record is used even when AUM says otherwise."""
        directory.put_customer(customer(aum=Decimal("10"), tier="private", tier_overridden=True))
        assert ("branch_head", "BH1") in who(directory)

    def test_customer_audience_has_no_staff(self, directory: InMemoryDirectory) -> None:
        """A customer audience is the customer, on the SMS channel."""
        routed = Router(routing_for(SHIPPED_RULES))(alert(audience=("customer",)), directory)
        assert [(r.audience, r.staff_id, r.channel) for r in routed.recipients] == [
            ("customer", None, "twilio_sms")
        ]


class TestFallback:
    def test_inactive_manager_falls_back_to_branch_head(self, directory: InMemoryDirectory) -> None:
        """An inactive relationship manager is replaced by the branch head."""
        directory.put_staff(staff("RM1", "relationship_manager", active=False))
        assert who(directory) == [("branch_head", "BH1")]

    def test_unknown_manager_falls_back_and_is_not_doubled(
        self, directory: InMemoryDirectory
    ) -> None:
        """An unknown manager for a tier A customer gives the branch head one message, not two."""
        directory.put_customer(customer(aum=Decimal("600000"), manager_id="GONE"))
        assert who(directory) == [("branch_head", "BH1")]

    def test_nobody_found_stays_visible(self) -> None:
        """With no branch head either, the recipient is kept without a staff id."""
        empty = InMemoryDirectory()
        empty.put_customer(customer(manager_id="GONE"))
        assert who(empty) == [("branch_head", None)]


class TestRoutingFile:
    def test_errors_name_the_line(self, tmp_path: Path) -> None:
        """A bad channel name is reported with the file's line and the installed channels."""
        text = (
            (SHIPPED_RULES / "routing.yaml").read_text().replace("channel: email", "channel: fax")
        )
        path = tmp_path / "routing.yaml"
        path.write_text(text)
        line = next(i for i, row in enumerate(text.splitlines(), 1) if "channel: fax" in row)
        with pytest.raises(RoutingError, match=rf"routing.yaml:{line}:.*'fax'.*installed"):
            load_routing(
                path, frozenset({"email", "webhook", "wecom_app", "twilio_sms", "console"})
            )

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            (
                "{audience: branch_head,",
                "{audience: branch-head,",
                ":16: 'branch-head' is not one of: branch_head, customer, executive, "
                "relationship_manager (did you mean 'branch_head'?)",
            ),
            (
                "staff_language: zh-CN",
                "staff_language：zh-CN",
                ":15: YAML syntax error: could not find expected ':'; line 9 has a full-width "
                "colon '：' (U+FF1A) where YAML needs ':'",
            ),
        ],
    )
    def test_a_slip_is_said_in_the_editors_words(
        self, tmp_path: Path, old: str, new: str, message: str
    ) -> None:
        """A wrong choice lists the choices; a full-width colon is named on its own line."""
        text = (SHIPPED_RULES / "routing.yaml").read_text()
        assert old in text
        path = tmp_path / "routing.yaml"
        path.write_text(text.replace(old, new, 1))
        line = next(i for i, row in enumerate(text.splitlines(), 1) if old in row)
        with pytest.raises(RoutingError) as caught:
            load_routing(path)
        assert str(caught.value) == f"{path}:{line}{message}"

    def test_bad_quiet_hours_are_refused(self, tmp_path: Path) -> None:
        """Quiet hours must read like 21:00-08:00."""
        text = (SHIPPED_RULES / "routing.yaml").read_text().replace('"21:00-08:00"', '"9pm-8am"')
        path = tmp_path / "routing.yaml"
        path.write_text(text)
        with pytest.raises(RoutingError, match="21:00-08:00"):
            load_routing(path)
