"""Staff are told privately: the shipped routing reaches each by their messenger user id.

A WeCom group robot shows every customer's name and amounts to the whole group, so the
shipped pack sends staff messages through the WeCom application to the person's own
``im_user_id``; a staff member without one is a failed delivery that says so. SMS reply
codes belong to SMS only: a WeCom message carries the link, never the codes.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from helpers import Rig, alert, staff
from im_peers import WecomAppPeer

from churnwatch.notifiers.channels.wecom_app import CHANNEL
from churnwatch.notifiers.directory import InMemoryDirectory

SECRET = "wecom-private-secret-11"


def links(alert_id: str, staff_id: str) -> dict[str, str]:
    return {"link": f"https://cw.bank.example/a/{alert_id}-{staff_id}", "ref": "K7Q2ZD"}


@pytest.fixture
def wecom() -> Iterator[WecomAppPeer]:
    peer = WecomAppPeer("ww-bank", SECRET, {"rm1", "bh1"})
    yield peer
    peer.close()


def test_shipped_routing_tells_staff_privately() -> None:
    """Relationship managers and branch heads go to the WeCom app, not a group robot."""
    rig_routing = Rig("sqlite://").routing
    assert rig_routing.route_for("relationship_manager").channel == "wecom_app"
    assert rig_routing.route_for("branch_head").channel == "wecom_app"


def test_the_manager_gets_the_alert_at_their_own_user_id(
    sqlite_url: str, directory: InMemoryDirectory, wecom: WecomAppPeer
) -> None:
    """Through the pipeline and a WeCom API server, the text reaches the manager's user id,
    with the link to the alert and without the SMS reply codes."""
    notifier = CHANNEL.build(
        CHANNEL.configure(
            {"corp_id": "ww-bank", "agent_id": 1000002, "base_url": wecom.url},
            {"CHURNWATCH_WECOM_SECRET": SECRET},
        )
    )
    rig = Rig(sqlite_url, {"wecom_app": notifier})
    rig.pipeline.links = links
    rig.deliver([alert()], directory)
    rig.clock.advance(minutes=2)
    rig.dispatcher.run_until_idle()
    [sent] = wecom.sent
    assert sent["touser"] == "rm1"
    text = sent["text"]["content"]
    assert "王芳" in text and "https://cw.bank.example/a/" in text
    assert "短信回复" not in text and "K7Q2ZD" not in text
    rig.close()


def test_reply_codes_go_only_by_sms(sqlite_url: str, directory: InMemoryDirectory) -> None:
    """The same staff message sent by SMS carries the reply codes; by WeCom it does not."""
    by_sms = Rig(sqlite_url, channel="twilio_sms")
    by_sms.pipeline.links = links
    by_sms.deliver([alert(alert_id="A-sms")], directory)
    by_sms.clock.advance(minutes=2)
    by_sms.dispatcher.run_until_idle()
    [text] = by_sms.sms()
    assert "短信回复" in text and "K7Q2ZD" in text
    by_sms.close()


def test_a_manager_without_a_user_id_is_a_visible_failure(
    sqlite_url: str, directory: InMemoryDirectory
) -> None:
    """No ``im_user_id`` on the staff record: the delivery fails saying so, nothing is sent."""
    person = staff("RM1", "relationship_manager")
    directory.put_staff(msgspec.structs.replace(person, im_user_id=None))
    rig = Rig(sqlite_url)
    rig.deliver([alert(alert_id="A-noim")], directory)
    rig.clock.advance(minutes=2)
    rig.dispatcher.run_until_idle()
    assert rig.recorders["wecom_app"].sent == []
    [failed] = rig.outbox.list(status="failed")
    assert failed.last_error == "nobody to tell: staff member RM1 has no im_user_id for wecom_app"
    rig.close()
