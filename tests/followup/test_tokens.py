"""Link tokens, the server secret and control-group membership."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from churnwatch.followup.control import is_control
from churnwatch.followup.exceptions import LinkRefused, SecretMissing
from churnwatch.followup.tokens import (
    PREVIOUS_ENV,
    PREVIOUS_UNTIL_ENV,
    SECRET_ENV,
    SECRET_FILE_ENV,
    LinkSigner,
    PreviousSecret,
    load_previous_secret,
    load_secret,
    load_signer,
    manager_link,
)

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
SECRET = b"s" * 32


class TestTokens:
    def test_round_trip_and_short(self) -> None:
        """A token names its alert and staff member and fits easily in an SMS."""
        signer = LinkSigner(SECRET)
        token = signer.sign("al-" + "ab" * 12, "S0042", NOW + dt.timedelta(days=7))
        claims = signer.verify(token, NOW)
        assert (claims.alert_id, claims.staff_id) == ("al-" + "ab" * 12, "S0042")
        assert len(token) <= 48

    def test_any_changed_character_is_forged(self) -> None:
        """Changing any character of a token makes it fail the signature check."""
        signer = LinkSigner(SECRET)
        token = signer.sign("al-" + "cd" * 12, "S1", NOW + dt.timedelta(hours=1))
        for i in range(len(token) - 1):
            changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
            with pytest.raises(LinkRefused) as info:
                signer.verify(changed, NOW)
            assert info.value.reason in ("forged", "malformed")

    def test_expired(self) -> None:
        """A token is refused from its expiry on."""
        signer = LinkSigner(SECRET)
        token = signer.sign("other-id", "S1", NOW)
        with pytest.raises(LinkRefused, match="expired"):
            signer.verify(token, NOW)

    def test_link_uses_the_base_url(self) -> None:
        """The manager link is the public base URL, /a/, and the token."""
        link = manager_link("https://cw.bank.example/", "al-" + "0" * 24, "S1", secret=SECRET)
        assert link.startswith("https://cw.bank.example/a/")


class TestSecret:
    def test_from_env_or_file(self, tmp_path: pytest.TempPathFactory) -> None:
        """The secret comes from the environment, or from the file it names."""
        path = tmp_path / "secret"  # type: ignore[operator]
        path.write_text("from-a-file-0123456789\n")
        assert load_secret({SECRET_ENV: "x" * 20}) == b"x" * 20
        assert load_secret({SECRET_FILE_ENV: str(path)}) == b"from-a-file-0123456789"

    def test_missing_or_short_secret_is_named_not_shown(self) -> None:
        """Errors say where the secret is looked for and never include a value."""
        with pytest.raises(SecretMissing, match=SECRET_ENV):
            load_secret({})
        with pytest.raises(SecretMissing) as info:
            load_secret({SECRET_ENV: "short-secret"})
        assert "short-secret" not in str(info.value)
        assert "short" not in repr(LinkSigner(b"short-secret-but-long-enough"))


class TestControlGroup:
    def test_deterministic_and_close_to_the_share(self) -> None:
        """The same customer always gets the same answer; about 10% of customers are held back."""
        picks = [is_control("payroll-moved-out", f"C{i:05d}", Decimal("0.1")) for i in range(5000)]
        assert picks == [is_control("payroll-moved-out", f"C{i:05d}", 0.1) for i in range(5000)]
        assert 400 < sum(picks) < 600

    def test_zero_share_holds_back_nobody(self) -> None:
        """Without a control share nobody is held back."""
        assert not any(is_control("r", f"C{i}", 0) for i in range(1000))

    def test_groups_differ_between_rules(self) -> None:
        """A customer held back for one rule is not thereby held back for every rule."""
        one = {i for i in range(2000) if is_control("rule-a", f"C{i}", 0.2)}
        two = {i for i in range(2000) if is_control("rule-b", f"C{i}", 0.2)}
        assert one != two


class TestRotation:
    """A new link secret without breaking the links already sent."""

    OLD = b"o" * 32
    NEW = b"n" * 32

    def test_links_of_the_previous_secret_open_during_the_overlap(self) -> None:
        """Web signs with the new secret and opens links of the old one until the overlap
        ends; after it, and without the previous secret, they are forged."""
        old_link = LinkSigner(self.OLD).sign("al-" + "ab" * 12, "S1", NOW + dt.timedelta(days=7))
        until = NOW + dt.timedelta(days=3)
        rotating = LinkSigner(self.NEW, previous=PreviousSecret(self.OLD, until))
        assert rotating.verify(old_link, NOW).staff_id == "S1"
        new_link = rotating.sign("al-" + "ab" * 12, "S1", NOW + dt.timedelta(days=7))
        with pytest.raises(LinkRefused):
            LinkSigner(self.OLD).verify(new_link, NOW)  # signed with the new one only
        with pytest.raises(LinkRefused, match="forged"):
            rotating.verify(old_link, until)
        with pytest.raises(LinkRefused, match="forged"):
            LinkSigner(self.NEW).verify(old_link, NOW)

    def test_a_form_opened_before_the_restart_still_posts(self) -> None:
        """A CSRF token the old secret made passes while the previous one is accepted."""
        old = LinkSigner(self.OLD)
        token = old.csrf_token("tok", "session")
        LinkSigner(self.NEW, previous=PreviousSecret(self.OLD, None)).check_csrf(
            "tok", "session", token
        )
        with pytest.raises(LinkRefused):
            LinkSigner(self.NEW).check_csrf("tok", "session", token)

    def test_the_environment_names_the_previous_secret_and_its_overlap(self) -> None:
        """CHURNWATCH_WEB_SECRET_PREVIOUS(_UNTIL) configure it; bad values are refused."""
        env = {
            SECRET_ENV: self.NEW.decode(),
            PREVIOUS_ENV: self.OLD.decode(),
            PREVIOUS_UNTIL_ENV: "2026-11-26T10:00:00+08:00",
        }
        previous = load_previous_secret(env)
        assert previous is not None and previous.secret == self.OLD
        assert previous.until == dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
        old_link = LinkSigner(self.OLD).sign("a1", "S1", NOW + dt.timedelta(days=7))
        assert load_signer(env).verify(old_link, NOW).alert_id == "a1"
        assert load_previous_secret({SECRET_ENV: self.NEW.decode()}) is None
        for bad in ("next tuesday", "2026-11-26T10:00:00"):
            with pytest.raises(SecretMissing):
                load_previous_secret({**env, PREVIOUS_UNTIL_ENV: bad})
        with pytest.raises(SecretMissing):
            load_previous_secret({PREVIOUS_ENV: "short"})
