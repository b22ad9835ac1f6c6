"""Each inbound SMS is acted on once, by Twilio's ``MessageSid``, durably.

Twilio retries a webhook call it did not see answered, and a validly signed request can
be replayed by anyone who saw it: without this, each copy of a "4" reply marks the next
open alert a false alarm. The first call claims the message id in the store (its primary
key makes the claim atomic across processes and restarts); a later call with the same
id gets the first answer back and changes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from churnwatch.schemas.tables import inbound_messages

__all__ = ["ALREADY_HANDLED", "claim", "record_answer"]

#: the answer to a repeat whose first call has not finished yet
ALREADY_HANDLED = "已收到 Already received."


def claim(engine: Engine, message_sid: str, now: dt.datetime) -> str | None:
    """None when ``message_sid`` is new (now claimed); else the answer it got the first time."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(inbound_messages).values(message_sid=message_sid, received_at=now))
    except IntegrityError:
        with engine.connect() as conn:
            answer = conn.scalar(
                select(inbound_messages.c.answer).where(
                    inbound_messages.c.message_sid == message_sid
                )
            )
        return answer or ALREADY_HANDLED
    return None


def record_answer(engine: Engine, message_sid: str, answer: str) -> None:
    """Keep the answer the message got, for its repeats."""
    with engine.begin() as conn:
        conn.execute(
            update(inbound_messages)
            .where(inbound_messages.c.message_sid == message_sid)
            .values(answer=answer)
        )
