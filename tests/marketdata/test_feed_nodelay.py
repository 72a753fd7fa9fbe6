"""TCP_NODELAY on both ends of the market feed and on the simulator's HTTP connections.

With Nagle's algorithm on, a small frame written right after another waits for the peer's delayed
ACK (~40 ms on Linux): the simulator's frames reached the engine 22-41 ms late. Checked with
``getsockopt`` on the sockets of real connections: the engine's client socket, and the sockets the
simulator accepted for that WebSocket and for an HTTP request.

asyncio sets TCP_NODELAY itself on some sockets (those whose ``proto`` is TCP), but not on all,
and other event loops may not: that courtesy is switched off here, so what is checked is what
polyarb sets.
"""

from __future__ import annotations

import asyncio.base_events
import socket
from typing import Any

import httpx
import pytest

from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

from .test_feed_helpers import running

SCENARIO = ScenarioConfig(seed=5, binary_markets=1, negrisk_events=0, closed_markets=0)


def _nodelay(sock: Any) -> int:
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def _accepted(sim: SimServer) -> dict[tuple[str, int], Any]:
    """The sockets the simulator accepted, by the peer's address."""
    server = sim._server
    assert server is not None
    out = {}
    for connection in server.server_state.connections:
        transport = connection.transport
        out[transport.get_extra_info("peername")[:2]] = transport.get_extra_info("socket")
    return out


async def test_feed_and_simulator_sockets_have_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio.base_events, "_set_nodelay", lambda sock: None)
    async with SimServer(SCENARIO) as sim, running(sim) as feed:
        shard = feed._shards[0]
        assert shard.ws is not None
        client = shard.ws.transport.get_extra_info("socket")
        assert _nodelay(client) == 1, "the engine's WebSocket client socket runs Nagle"

        async with httpx.AsyncClient(base_url=sim.clob_url) as http:
            token = sim.token_ids()[0]
            answer = await http.get("/midpoint", params={"token_id": token})
            assert answer.status_code == 200
            accepted = _accepted(sim)  # the HTTP connection is kept alive: still open here

        ws_server_side = accepted.pop(client.getsockname()[:2])
        assert _nodelay(ws_server_side) == 1, "the simulator's WebSocket socket runs Nagle"
        assert len(accepted) == 1  # the HTTP request's connection
        (http_server_side,) = accepted.values()
        assert _nodelay(http_server_side) == 1, "the simulator's HTTP socket runs Nagle"
