"""Local HTTP servers speaking the WeCom application and DingTalk work-notice APIs.

Each checks the app's credentials at ``gettoken``, hands out tokens that expire after
``expires_in`` seconds (or when a test says so), refuses a send with an unknown or
expired token the way the real API does (HTTP 200, errcode 40014 / 42001), knows a set
of user ids, and can be scripted to answer the next request with an errcode.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers import free_port


class _AppPeer:
    token_path: str
    send_path: str
    key_param: str
    secret_param: str

    def __init__(self, key: str, secret: str, users: set[str], expires_in: int = 7200) -> None:
        self.key = key
        self.secret = secret
        self.users = users
        self.expires_in = expires_in
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.sent: list[dict[str, Any]] = []
        self.script: deque[dict[str, Any]] = deque()
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(peer.handle("GET", self.path, b""))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.answer(peer.handle("POST", self.path, body))

            def answer(self, reply: tuple[int, dict[str, Any]]) -> None:
                status, payload = reply
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail_next(self, errcode: int, status: int = 200, **extra: Any) -> None:
        """The next request (token or send) is answered with this errcode."""
        self.script.append({"status": status, "errcode": errcode, **extra})

    def expire_tokens(self) -> None:
        """Every token handed out so far is now expired (as after two hours)."""
        with self.lock:
            self.tokens = {token: 0.0 for token in self.tokens}

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        parsed = urllib.parse.urlsplit(path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        with self.lock:
            if self.script:
                scripted = dict(self.script.popleft())
                status = scripted.pop("status")
                if parsed.path == self.send_path:
                    self.sent.append({"refused": True, **json.loads(body or b"{}")})
                return status, {"errmsg": "scripted", **scripted}
            if method == "GET" and parsed.path == self.token_path:
                self.token_requests += 1
                if (query.get(self.key_param), query.get(self.secret_param)) != (
                    self.key,
                    self.secret,
                ):
                    return 200, {"errcode": 40001, "errmsg": "invalid credential"}
                token = f"tok-{self.token_requests}"
                self.tokens[token] = time.time() + self.expires_in
                return 200, {
                    "errcode": 0,
                    "errmsg": "ok",
                    "access_token": token,
                    "expires_in": self.expires_in,
                }
            if method == "POST" and parsed.path == self.send_path:
                token = query.get("access_token", "")
                if token not in self.tokens:
                    return 200, self.token_error(40014, "invalid access_token")
                if self.tokens[token] <= time.time():
                    return 200, self.token_error(42001, "access_token expired")
                return 200, self.accept(json.loads(body))
            return 404, {"errcode": 404, "errmsg": "no such path"}

    def token_error(self, code: int, text: str) -> dict[str, Any]:
        return {"errcode": code, "errmsg": text}

    def accept(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WecomAppPeer(_AppPeer):
    """``/cgi-bin/gettoken`` and ``/cgi-bin/message/send`` of a WeCom self-built app."""

    token_path = "/cgi-bin/gettoken"
    send_path = "/cgi-bin/message/send"
    key_param = "corpid"
    secret_param = "corpsecret"

    def accept(self, payload: dict[str, Any]) -> dict[str, Any]:
        if len(str(payload.get("text", {}).get("content", "")).encode()) > 2048:
            return {"errcode": 45002, "errmsg": "content size out of limit"}
        users = str(payload.get("touser", "")).split("|")
        unknown = [u for u in users if u not in self.users]
        if unknown == users:
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        self.sent.append(payload)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "invaliduser": "|".join(unknown),
            "msgid": f"msg-{len(self.sent)}",
        }


class DingtalkAppPeer(_AppPeer):
    """``/gettoken`` and ``asyncsend_v2`` of a DingTalk internal app."""

    token_path = "/gettoken"
    send_path = "/topapi/message/corpconversation/asyncsend_v2"
    key_param = "appkey"
    secret_param = "appsecret"

    def token_error(self, code: int, text: str) -> dict[str, Any]:
        # DingTalk's newer gateway wraps token errors in errcode 88 with a sub_code
        return {"errcode": 88, "sub_code": str(code), "sub_msg": text, "errmsg": "auth error"}

    def accept(self, payload: dict[str, Any]) -> dict[str, Any]:
        users = str(payload.get("userid_list", "")).split(",")
        if any(u not in self.users for u in users):
            return {"errcode": 33012, "errmsg": "invalid userid"}
        self.sent.append(payload)
        return {"errcode": 0, "errmsg": "ok", "task_id": 1000 + len(self.sent)}
