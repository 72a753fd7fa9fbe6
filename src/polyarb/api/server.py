"""Serving the dashboard API with uvicorn, in its own process: ``polyarb dashboard``, or the
child process ``polyarb run`` starts (``cli/dashboard_process.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator

import uvicorn
from fastapi import FastAPI

from polyarb.config import Settings
from polyarb.domain.errors import PolyarbError


class _EmbeddedServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the caller, which sets ``should_exit`` in its own handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(
    app: FastAPI, settings: Settings, *, embedded: bool, port: int | None = None
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port if port is None else port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the client address is resolved with TRUSTED_PROXIES instead
        ws="websockets-sansio",
        # No permessage-deflate: its state is per connection, so every stream frame (encoded
        # once for all clients) was compressed again for each client; on the embedded default
        # that was the largest cost the dashboard put on the engine's loop (bench/bench_api.py).
        # The frames are small batches of JSON; CPU per client matters more than bytes.
        ws_per_message_deflate=False,
        lifespan="on",
        limit_concurrency=1000,
        timeout_graceful_shutdown=3,
    )
    return _EmbeddedServer(config) if embedded else uvicorn.Server(config)


def bound_url(server: uvicorn.Server, settings: Settings) -> str:
    """The URL the server listens on (the real port when API_PORT=0)."""
    port = settings.api_port
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            port = sock.getsockname()[1]
            break
    host = settings.api_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


async def serve(
    server: uvicorn.Server, settings: Settings, on_started: Callable[[str], None]
) -> None:
    """Run until ``server.should_exit``; ``on_started`` gets the URL once it listens. A port in
    use is a ``PolyarbError``: the socket is bound here, because uvicorn answers a failed bind
    with ``sys.exit``, which an asyncio task re-raises out of the event loop (a clear message
    and exit code is better than a traceback)."""
    listener = _bind(server.config.host, server.config.port)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.02)
    if server.started:
        on_started(bound_url(server, settings))
    try:
        await task
    except SystemExit:  # uvicorn exits when it cannot start
        raise PolyarbError(
            f"the dashboard API cannot listen on {settings.api_host}:{settings.api_port} "
            "(in use?); set API_PORT, or API_ENABLED=false"
        ) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise PolyarbError(
            f"the dashboard API cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "set API_PORT, or API_ENABLED=false"
        ) from None
    return listener
