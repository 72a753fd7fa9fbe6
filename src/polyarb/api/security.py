"""HTTP hardening as plain ASGI middleware: security headers, a body size limit, and the CSRF
check on state-changing requests (a custom header, plus Origin / Sec-Fetch-Site).

CSRF: every POST/PUT/PATCH/DELETE under ``/api/`` must carry ``X-Requested-With: polyarb``; a
browser only sends a custom header cross-origin after a CORS preflight, which succeeds only for
``CORS_ORIGINS``. In addition, a request whose ``Origin`` is neither this server nor one of
``CORS_ORIGINS``, or that a browser marks ``Sec-Fetch-Site: cross-site`` without an allowed
Origin, is refused. The login forms are covered too (login CSRF).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "polyarb"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-site"),
    (b"permissions-policy", b"geolocation=(), camera=(), microphone=()"),
    (b"cache-control", b"no-store"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def origin_allowed(scope: Scope, origin: str, allowed: Collection[str]) -> bool:
    """True for this server's own origin (same host) or one of ``CORS_ORIGINS``."""
    origin = origin.strip().lower()
    if origin in allowed:
        return True
    host = (_header(scope, b"host") or "").lower()
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host


async def _json(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


class Hardening:
    def __init__(self, app: ASGIApp, *, max_body: int, allowed_origins: Collection[str]) -> None:
        self.app = app
        self.max_body = max_body
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_HEADERS)
        if scope.get("scheme") == "https":
            extra.append(_HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._csrf_refusal(scope)
        if refusal is not None:
            await _json(send, 403, refusal, extra)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _json(send, 413, f"request body larger than {self.max_body} bytes", extra)
            return
        body, too_large = await self._read_body(receive)
        if too_large:
            await _json(send, 413, f"request body larger than {self.max_body} bytes", extra)
            return
        await self.app(scope, _replay(body, receive), send_with_headers)

    async def _read_body(self, receive: Receive) -> tuple[list[Message], bool]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, False
            size += len(message.get("body", b""))
            if size > self.max_body:
                return messages, True
            if not message.get("more_body", False):
                return messages, False

    def _csrf_refusal(self, scope: Scope) -> str | None:
        if scope["method"] not in UNSAFE or not scope["path"].startswith("/api/"):
            return None
        if _header(scope, CSRF_HEADER.encode()) != CSRF_VALUE:
            return f"missing CSRF header: send {CSRF_HEADER.title()}: {CSRF_VALUE}"
        origin = _header(scope, b"origin")
        if origin is not None and not origin_allowed(scope, origin, self.allowed):
            return "cross-origin request refused"
        fetch_site = _header(scope, b"sec-fetch-site")
        if origin is None and fetch_site not in (None, "same-origin", "none"):
            return "cross-site request refused"
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
