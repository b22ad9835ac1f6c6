"""Twilio's two calls into ``churnwatch web``: staff replies, and delivery status callbacks.

``POST /sms/inbound`` carries a manager's short reply ("2 3f9a2c"); ``POST /sms/status``
tells what became of a message churnwatch sent (30003 retried, 30005-7 failed). Both are
signed by Twilio over the public URL it called and the form fields; an unsigned or
wrongly signed call is refused (403) and counted, since anyone can reach the webhook. A
reply is acted on once by its ``MessageSid``, however often Twilio retries or someone
replays it (:mod:`churnwatch.followup.inbound`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from churnwatch.followup import inbound
from churnwatch.followup.sms import handle_reply
from churnwatch.followup.store import FollowUpStore
from churnwatch.metrics import Metrics
from churnwatch.notifiers.status_callbacks import apply_status

__all__ = ["twilio_routes"]


def twilio_routes(
    store: FollowUpStore,
    metrics: Metrics,
    auth_token: str | None,
    public_url: str | None,
    clock: Callable[[], dt.datetime],
) -> list[Route]:
    """The two webhook routes; ``public_url`` is the base Twilio calls (behind a proxy the
    request URL differs, and the signature is over the URL Twilio used)."""

    async def signed_by_twilio(request: Request) -> dict[str, str] | None:
        """The form fields when Twilio's signature over them is right; None (counted) if not."""
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        url = public_url.rstrip("/") + request.url.path if public_url else str(request.url)
        signature = request.headers.get("x-twilio-signature", "")
        if not auth_token or not RequestValidator(auth_token).validate(url, params, signature):
            metrics.followup_refused_one("signature")
            return None
        return params

    async def sms_inbound(request: Request) -> Response:
        params = await signed_by_twilio(request)
        if params is None:
            return PlainTextResponse("forbidden", status_code=403)
        sid = params.get("MessageSid", "")[:64]
        reply = MessagingResponse()
        if not sid:
            return PlainTextResponse("MessageSid is missing", status_code=400)
        earlier = inbound.claim(store.engine, sid, clock())
        if earlier is not None:  # Twilio's retry, or a replay: answered once, acted on once
            metrics.followup_refused_one("repeated")
            reply.message(earlier)
            return Response(str(reply), media_type="application/xml")
        result = handle_reply(store, params.get("From", ""), params.get("Body", ""), clock())
        inbound.record_answer(store.engine, sid, result.answer)
        if result.action:
            metrics.followup_action(result.action, "sms")
        reply.message(result.answer)
        return Response(str(reply), media_type="application/xml")

    async def sms_status(request: Request) -> Response:
        """Twilio's delivery status callback for messages we sent (signature checked)."""
        params = await signed_by_twilio(request)
        if params is None:
            return PlainTextResponse("forbidden", status_code=403)
        update = apply_status(
            store.engine,
            params.get("MessageSid", ""),
            params.get("MessageStatus", ""),
            params.get("ErrorCode"),
            clock(),
        )
        if update.outcome in ("retry", "failed"):
            metrics.delivery("twilio_sms", update.outcome)
        return PlainTextResponse(update.outcome)

    return [
        Route("/sms/inbound", sms_inbound, methods=["POST"]),
        Route("/sms/status", sms_status, methods=["POST"]),
    ]
