"""kill -9 at the labelled crash points of a live order (before send; after send, before the
answer is read; after the fill is read, before it is journaled), then a restart that settles
what was in flight by looking it up: 0 duplicate orders, 0 orphans, 0 lost fills."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.domain.numbers import price_to_decimal
from polyarb.sim.catalog import SimMarket
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

CHILD = Path(__file__).with_name("live_crash_child.py")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    config = ScenarioConfig(
        seed=4, binary_markets=1, negrisk_events=0, closed_markets=0, updates_per_s=5.0
    )
    async with SimServer(config) as server:
        server.pause()
        yield server


async def _child(sim: SimServer, data_dir: Path, point: str) -> tuple[int, dict[str, Any]]:
    market: SimMarket = sim.venue.catalog.markets[0]
    token = market.token_ids[0]
    price = price_to_decimal(sim.truth(token).asks.best() or 0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        sim.clob_url,
        str(data_dir),
        token,
        str(price),
        "5",
        point,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert process.returncode is not None
    return process.returncode, json.loads(lines[-1]) if lines else {"stderr": err.decode()[-800:]}


@pytest.mark.parametrize("point", ["before_send", "after_send", "after_fill"])
async def test_kill_9_then_restart_settles_without_duplicates_or_losses(
    sim: SimServer, tmp_path: Path, point: str
) -> None:
    code, seen = await _child(sim, tmp_path, point)
    assert code == -signal.SIGKILL, seen
    placed = 0 if point == "before_send" else 1
    assert len(sim.exchange.orders) == placed
    assert sim.exchange.requests == placed

    code, recovered = await _child(sim, tmp_path, "recover")
    assert code == 0, recovered
    ((_, status, reason),) = recovered["statuses"]
    if placed:
        assert status == "FILLED", reason
        assert [size for _, size in recovered["fills"]] == ["5"]
        assert (recovered["shares"], recovered["journaled"]) == ("5", 1)
    else:  # never sent: no orphan at the venue, the order is closed
        assert (status, reason) == ("REJECTED", "not found at the venue: not placed")
        assert (recovered["fills"], recovered["journaled"]) == ([], 0)
    assert sim.exchange.requests == placed  # looked up, never sent again

    code, again = await _child(sim, tmp_path, "recover")  # a second restart finds nothing open
    assert (code, again["statuses"], again["journaled"]) == (0, [], placed)
    assert len(sim.exchange.orders) == placed
    assert Decimal(again["shares"]) == 5 * placed
