"""The REST clients' common frame: a base URL, a circuit breaker and an httpx client that the
source closes only when it made it itself (a client handed in belongs to the caller)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import httpx

from polyarb.marketdata.guard import CallGuard


class HttpSource:
    """``base_url`` may carry a path (the simulator's ``http://127.0.0.1:PORT/gamma``): routes
    are appended to it. Usable as ``async with``; ``aclose`` closes an owned client."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        headers: Mapping[str, str],
        client: httpx.AsyncClient | None,
        guard: CallGuard | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.guard = guard  # a circuit breaker, told the outcome of every call
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), headers=dict(headers)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
