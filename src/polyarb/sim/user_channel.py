"""The user WebSocket channel (``/ws/user``): your orders and trades, authenticated.

As the venue: the first frame must be the subscription with the API key, secret and passphrase
in its body (no HMAC on the WebSocket) and optionally ``markets`` (condition ids; none = all);
``{"operation": "subscribe" | "unsubscribe", "markets": [...]}`` changes them later; a text
``PING`` is answered ``PONG``. A first frame that does not authenticate closes the connection
(1008). Events are queued per connection, so a slow client never stalls the exchange.
``drop_all`` aborts every connection without a close frame (a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from polyarb.clob.auth import ApiCreds

log = structlog.get_logger(__name__)

POLICY_VIOLATION = 1008


@dataclass(eq=False, slots=True)
class UserClient:
    websocket: WebSocket
    api_key: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(10_000))
    markets: set[str] | None = None  # None: every market
    dropped: bool = False


class UserChannel:
    """Serves ``/ws/user``; ``publish`` sends an event to its owner's connections."""

    def __init__(
        self,
        accounts: Callable[[str], ApiCreds | None],
        abort: Callable[[WebSocket], bool],
    ) -> None:
        self._accounts = accounts  # api key -> its credentials (None: unknown key)
        self._abort = abort
        self.clients: set[UserClient] = set()
        self.connections_total = 0
        self.refused = 0
        self.events_sent = 0

    def publish(self, api_key: str, market: str, event: dict[str, Any]) -> None:
        text = orjson.dumps(event).decode()
        for client in list(self.clients):
            if client.dropped or client.api_key != api_key:
                continue
            if client.markets is not None and market not in client.markets:
                continue
            try:
                client.queue.put_nowait(text)
                self.events_sent += 1
            except asyncio.QueueFull:
                client.dropped = True
                self._abort(client.websocket)

    async def drop_all(self) -> int:
        """Abort every connection (no close frame); how many were dropped."""
        clients = list(self.clients)
        for client in clients:
            client.dropped = True
            if not self._abort(client.websocket):
                with contextlib.suppress(Exception):
                    await client.websocket.close(1011)
        return len(clients)

    def _authenticate(self, text: str) -> tuple[str, set[str] | None] | None:
        """(API key, markets) of a valid subscription frame, else None."""
        try:
            message = orjson.loads(text)
            auth = message["auth"]
            key, secret, passphrase = auth["apiKey"], auth["secret"], auth["passphrase"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        creds = self._accounts(str(key))
        if (
            creds is None
            or str(message.get("type", "")).lower() != "user"
            or not hmac.compare_digest(str(secret), creds.secret)
            or not hmac.compare_digest(str(passphrase), creds.passphrase)
        ):
            return None
        return creds.api_key, _markets(message.get("markets"))

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.connections_total += 1
        try:
            first = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        subscription = self._authenticate(first)
        if subscription is None:
            self.refused += 1
            with contextlib.suppress(Exception):
                await websocket.close(POLICY_VIOLATION, "invalid authentication")
            return
        client = UserClient(websocket, subscription[0], markets=subscription[1])
        self.clients.add(client)
        writer = asyncio.create_task(self._write(client))
        try:
            while not client.dropped:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self._on_text(client, message.get("text") or "")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(client)
            writer.cancel()
            await asyncio.wait([writer])

    async def _write(self, client: UserClient) -> None:
        try:
            while True:
                await client.websocket.send_text(await client.queue.get())
        except Exception:  # the peer went away: the reader side cleans up
            client.dropped = True

    def _on_text(self, client: UserClient, text: str) -> None:
        if text.strip() == "PING":
            client.queue.put_nowait("PONG")
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        markets = _markets(message.get("markets"))
        operation = str(message.get("operation", "")).lower()
        if markets is None:
            return
        if operation == "subscribe":
            client.markets = (client.markets or set()) | markets
        elif operation == "unsubscribe" and client.markets is not None:
            client.markets -= markets


def _markets(value: Any) -> set[str] | None:
    if isinstance(value, list) and value and all(isinstance(m, str) for m in value):
        return set(value)
    return None
