"""``HealthServer`` over real HTTP: the three routes, 503 with the reasons, a probe that raises,
and a port already taken refused at start with a message naming ``HEALTH_PORT``."""

from __future__ import annotations

import asyncio.base_events
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from polyarb.monitor.health import Check, HealthServer


async def test_routes_and_status_codes() -> None:
    checks = [Check.ok("engine", "running"), Check.degraded("trading", "reducing (store)")]
    registry = CollectorRegistry()
    Counter("polyarb_test_things", "Things.", registry=registry).inc(3)
    server = HealthServer(lambda: checks, registry, port=0, status=lambda: "running")
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            health = await http.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "alive"
            ready = await http.get("/ready")
            assert ready.status_code == 200
            assert ready.json() == {
                "ready": True,
                "status": "degraded",
                "reasons": ["trading: reducing (store)"],
                "checks": {
                    "engine": {"status": "ok", "reason": "running"},
                    "trading": {"status": "degraded", "reason": "reducing (store)"},
                },
            }
            checks.append(Check.down("bus", "unreachable"))
            down = await http.get("/ready")
            assert down.status_code == 503
            assert down.json()["status"] == "not_ready"
            assert down.json()["reasons"] == ["trading: reducing (store)", "bus: unreachable"]
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "polyarb_test_things_total 3.0" in metrics.text

            def broken() -> list[Check]:
                raise KeyError("no such thing")

            server._probe = broken
            failed = await http.get("/ready")
            assert failed.status_code == 503
            assert failed.json()["reasons"] == ["probe: KeyError: 'no such thing'"]
    finally:
        await server.stop()


async def test_a_taken_port_is_refused_with_the_setting_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(list, CollectorRegistry(), port=port)
        with pytest.raises(OSError, match=f"HEALTH_PORT: cannot listen on 127.0.0.1:{port}"):
            await server.start()


async def test_accepted_connections_have_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape answer is not held back by Nagle's algorithm: the socket the server accepted for
    a real request has TCP_NODELAY (asyncio's own setting switched off: polyarb's is checked)."""
    monkeypatch.setattr(asyncio.base_events, "_set_nodelay", lambda sock: None)
    server = HealthServer(lambda: [Check.ok("engine", "running")], CollectorRegistry(), port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/health")).status_code == 200
            uvicorn_server = server._server
            assert uvicorn_server is not None
            connections = list(uvicorn_server.server_state.connections)  # kept alive
            assert len(connections) == 1
            accepted = connections[0].transport.get_extra_info("socket")  # type: ignore[attr-defined]
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        await server.stop()
