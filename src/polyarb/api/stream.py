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
    client = StreamClient()
    snapshot = ctx.live.snapshot()
    ctx.live.clients.add(client)  # before the first await: nothing numbered after it is missed
    reader = asyncio.create_task(_drain_incoming(websocket))
    try:
        await websocket.send_bytes(snapshot)
        while True:
            remaining = claims.exp - time.time()
            if remaining <= 0:
                await websocket.close(
                    code=status.WS_1008_POLICY_VIOLATION, reason="session expired"
                )
                return
            try:
                frame = await asyncio.wait_for(client.queue.get(), min(remaining, 1.0))
            except TimeoutError:
                frame = None
            if reader.done():
                return  # the client went away
            if client.dropped:
                await websocket.close(code=SLOW_CLIENT, reason="too slow; reconnect")
                return
            if frame is not None:
                await websocket.send_bytes(frame)
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
