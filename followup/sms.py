"""Short SMS replies from staff: ``1`` acknowledge, ``2`` retained, ``3`` left, ``4`` false alarm.

A reply refers to the most recent open alert routed to the sender, or to the alert named
by its six-character reference (``2 3f9a2c``). The sender is found by phone number in the
staff directory; an unknown number gets a neutral answer and changes nothing. Replies are
answered in both languages because the staff directory does not hold a language.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.tokens import short_ref

__all__ = ["CODES", "SmsResult", "handle_reply"]

#: reply code -> (action, outcome, confirmation in zh-CN / en)
CODES: dict[str, tuple[str, str | None, str]] = {
    "1": ("acknowledge", None, "已确认 Acknowledged"),
    "2": ("outcome", "retained", "已记录：已挽留 Recorded: retained"),
    "3": ("outcome", "left", "已记录：已流失 Recorded: left"),
    "4": ("outcome", "false_alarm", "已记录：误报 Recorded: false alarm"),
}
HELP = (
    "回复 1 确认，2 已挽留，3 已流失，4 误报，可加编号如 “2 3f9a2c”。"
    "Reply 1 ack, 2 retained, 3 left, 4 false alarm, optionally with the ref."
)


@dataclass(frozen=True, slots=True)
class SmsResult:
    answer: str
    alert_id: str | None = None
    action: str | None = None


def handle_reply(store: FollowUpStore, phone: str, body: str, now: dt.datetime) -> SmsResult:
    """Record what the reply asks for and say what was done, in one short message."""
    staff = store.staff_by_phone(phone.strip())
    if staff is None:
        return SmsResult("此号码未登记 This number is not registered with churnwatch.")
    words = unicodedata.normalize("NFKC", body).strip().lower().split()
    if not words or words[0] not in CODES:
        return SmsResult(HELP)
    action, outcome, confirmation = CODES[words[0]]
    candidates = store.open_for_staff(staff)
    if len(words) > 1:
        ref = words[1].lstrip("#")
        candidates = [a for a in candidates if short_ref(a) == ref]
        if not candidates:
            return SmsResult(f"未找到编号 {ref} 的待处理预警 No open alert with ref {ref}.")
    if not candidates:
        return SmsResult("没有待处理的预警 No open alert to update.")
    alert_id = candidates[0]
    store.record(alert_id, action, staff.staff_id, "sms", now, outcome=outcome)
    return SmsResult(f"{confirmation} · {short_ref(alert_id)}", alert_id, action)
