"""One set of bus test cases, run against every transport: memory, the local socket (every bus a
LocalBus client of one LocalBusServer, as the dashboard process is), and the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from polyarb.bus import Bus, LocalBus, LocalBusServer, MemoryBus, MemoryHub, RedisBus


class Transport:
    """Builds started buses that reach each other: one memory hub, or one Redis namespace."""

    def __init__(self, kind: str, redis_url: str | None) -> None:
        self.kind = kind
        self.redis_url = redis_url
        # Pub/sub channels are global to the Redis server (not per db): isolate each test.
        self.prefix = f"test:{uuid.uuid4().hex[:12]}:"
        self.hub = MemoryHub()
        self.buses: list[Bus] = []
        self.server: LocalBusServer | None = None

    async def bus(self, instance_id: str, **options: float) -> Bus:
        bus: Bus
        if self.kind == "memory":
            bus = MemoryBus(instance_id, hub=self.hub)
        elif self.kind == "local":
            if self.server is None:
                self.server = LocalBusServer(self.hub)
                await self.server.start()
            bus = LocalBus(self.server.path, instance_id)
        else:
            assert self.redis_url is not None
            bus = RedisBus(self.redis_url, instance_id, channel_prefix=self.prefix, **options)
        await bus.start()
        self.buses.append(bus)
        return bus


@pytest.fixture(params=["memory", "local", pytest.param("redis", marks=pytest.mark.redis)])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    url: str | None = request.getfixturevalue("redis_url") if request.param == "redis" else None
    transport = Transport(request.param, url)
    yield transport
    for bus in transport.buses:
        await bus.close()
    if transport.server is not None:
        await transport.server.close()
