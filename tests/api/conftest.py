from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.api.harness import Api, start_api


@pytest.fixture
async def api_factory(
    tmp_path: Path, redis_url: str
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Start dashboard APIs (settings overridable); each is stopped and its Redis keys removed."""
    stack: list[Callable[[], Awaitable[None]]] = []

    async def factory(**overrides: Any) -> Api:
        return await start_api(tmp_path, redis_url, stack, **overrides)

    yield factory
    for stop in reversed(stack):
        await stop()


@pytest.fixture
async def api(api_factory: Callable[..., Awaitable[Api]]) -> Api:
    return await api_factory()
