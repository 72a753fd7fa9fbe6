"""``GET /api/stream``: the live WebSocket (state, signals, trades, errors).

The upgrade is refused unless its ``Origin`` is this server or one of ``CORS_ORIGINS``
(cross-site WebSocket hijacking) and the session cookie is valid; the token never travels in
the URL. The first message is a snapshot; every message has a sequence number. The socket is
closed when the access token expires (the browser refreshes and reconnects) and when the
client falls behind (code 1013: reconnect for a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from polyarb.api.auth import cookie_names, session_from_token
from polyarb.api.context import ApiContext
from polyarb.api.live import StreamClient
from polyarb.api.security import origin_allowed

log = structlog.get_logger(__name__)

router = APIRouter()

SLOW_CLIENT = 1013  # "try again later"


@router.websocket("/api/stream", name="live_stream")
async def live_stream(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.ctx
    origin = websocket.headers.get("origin")
    if origin is None or not origin_allowed(websocket.scope, origin, ctx.allowed_origins):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    try:
        _user, claims = await session_from_token(ctx, websocket.cookies.get(cookie_names(ctx)[0]))
    except Exception:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    dropped = asyncio.Event()
    client = StreamClient(on_drop=dropped.set)
    await websocket.send_bytes(ctx.live.snapshot())
    ctx.live.clients.add(client)
    reader = asyncio.create_task(_drain_incoming(websocket))
    try:
        deadline = claims.exp
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                await websocket.close(
                    code=status.WS_1008_POLICY_VIOLATION, reason="session expired"
                )
                return
            getter = asyncio.create_task(client.queue.get())
            waiter = asyncio.create_task(dropped.wait())
            done, pending = await asyncio.wait(
                {getter, waiter, reader}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                if task is not reader:
                    task.cancel()
            if reader in done:
                return  # the client went away
            if waiter in done:
                await websocket.close(code=SLOW_CLIENT, reason="too slow; reconnect")
                return
            if getter in done:
                await websocket.send_bytes(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        ctx.live.clients.discard(client)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _drain_incoming(websocket: WebSocket) -> None:
    """The client sends nothing we act on; reading notices when it disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_bytes()
