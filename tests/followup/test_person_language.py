"""Staff pages open in the person's own language, over HTTP."""

from __future__ import annotations

import datetime as dt

import httpx
import msgspec

from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.i18n import person_language
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.followup.tokens import LinkSigner, manager_link
from churnwatch.followup.web import WebSettings, create_app

from .conftest import MONDAY_10, STAFF, add, customer, make_alert, staff_event
from .server import serve

SECRET = b"person-language-secret-0123456789"


def test_the_persons_language_beats_the_browsers() -> None:
    """?lang= first, then the staff record's language, then Accept-Language, then the default."""
    assert person_language("en", "zh-CN", "zh-CN", "zh-CN") == "en"
    assert person_language(None, "en", "zh-CN,zh;q=0.9", "zh-CN") == "en"
    assert person_language(None, None, "en-US", "zh-CN") == "en"
    assert person_language(None, None, None, "zh-CN") == "zh-CN"
    assert person_language("fr", "xx", None, "zh-CN") == "zh-CN"


def test_an_english_speaking_manager_reads_the_alert_page_in_english(
    store: FollowUpStore,
) -> None:
    """A manager whose staff record says ``en`` gets the English page from a Chinese phone."""
    row = next(r for r in STAFF if r[0] == "S-RM2")
    store.put_staff(msgspec.structs.replace(staff_event(*row), language="en"), MONDAY_10)
    now = dt.datetime.now(dt.UTC)
    alert = make_alert(31, at=now)
    add(store, alert)
    Escalator(store, EscalationPolicy(), RecordingNotify(), FixedClock(now)).open(
        alert, customer(manager="S-RM2"), [("S-RM2", "relationship_manager")]
    )
    link = manager_link("http://x", alert.alert_id, "S-RM2", secret=SECRET).rsplit("/", 1)[1]
    app = create_app(WebSettings(store=store, signer=LinkSigner(SECRET)))
    with serve(app) as base:  # type: ignore[arg-type]
        page = httpx.get(f"{base}/a/{link}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert page.status_code == 200
        assert '<html lang="en"' in page.text
        chinese = httpx.get(f"{base}/a/{link}", params={"lang": "zh-CN"})
        assert '<html lang="zh-CN"' in chinese.text
