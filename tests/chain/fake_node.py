"""The submitter's tests run against the simulator's Polygon node (``sim/chain.py``) without
market state (every known call succeeds), served alone on a free port under a path that stands
for a provider's API key. The node's decoding is proved against eth-account and eth-abi in
``tests/sim/test_chain.py``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn
from starlette.applications import Starlette

from polyarb.sim.chain import SimChain

FakeNode = SimChain
API_KEY_PATH = "/v2/node-api-key-0123456789"  # must never show in errors or reprs


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def running_node(node: SimChain) -> AsyncIterator[SimChain]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    node_url = f"http://127.0.0.1:{port}{API_KEY_PATH}"
    app = Starlette(routes=node.routes(API_KEY_PATH))
    server = _Embedded(uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        node.url = node_url  # type: ignore[attr-defined]
        yield node
    finally:
        server.should_exit = True
        await task
