"""One market's book depth over real HTTP, from an engine paper-trading on the simulator: the
dashboard in process on the memory bus (the embedded default) and as its own app over Redis
(a redis-server of the test's own, so no other engine on the shared one can answer). The
simulator is paused once every book has its snapshot, so the answer can be compared with the
engine's own books level by level; with the engine gone the route answers 503."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.engine.simrun import sim_settings

from polyarb.api.app import create_app
from polyarb.api.context import ApiContext
from polyarb.api.server import make_server, serve
from polyarb.bus import Bus, MemoryBus, RedisBus
from polyarb.cli.dashboard_cmd import dashboard_context
from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import price_str, size_str
from polyarb.engine.core import Engine
from polyarb.engine.runner import Endpoints, run_engine
from polyarb.sim import ScenarioConfig, SimServer
from polyarb.store import resolve_database_url
from polyarb.store.admin import ensure_database
from polyarb.store.users import UserStore

EMAIL = "viewer@example.test"
SCENARIO = ScenarioConfig(seed=5, binary_markets=2, negrisk_events=1, outcomes_per_event=3)


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _side(levels: Any, depth: int) -> list[dict[str, str]]:
    return [
        {"price": price_str(p), "size": size_str(s)} for p, s in list(levels.best_first())[:depth]
    ]


def _expected(book: OrderBook, label: str, depth: int) -> dict[str, Any]:
    """What the route must show for one of the engine's books (computed from the book itself)."""
    bid, ask = book.best_bid(), book.best_ask()
    return {
        "token_id": book.token_id,
        "outcome": label,
        "bids": _side(book.bids, depth),
        "asks": _side(book.asks, depth),
        "best_bid": None if bid is None else price_str(bid),
        "best_ask": None if ask is None else price_str(ask),
        "stale": False,
        "updated_ns": book.ts_recv_ns,
    }


async def _serve_dashboard(ctx: ApiContext, settings: Any) -> tuple[str, Any, asyncio.Task[None]]:
    server = make_server(create_app(ctx), settings, embedded=True, port=0)
    urls: list[str] = []
    task = asyncio.create_task(serve(server, settings, urls.append))
    await _until(lambda: urls or task.done(), 20, "the dashboard to listen")
    assert urls, "the dashboard did not start"
    return urls[0], server, task


@pytest.mark.parametrize("transport", ["memory", "redis"])
async def test_market_book_comes_from_the_engine(
    transport: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("own_redis").url() if transport == "redis" else None
    async with SimServer(SCENARIO) as sim:
        settings = sim_settings(
            sim,
            tmp_path,
            sniper_enabled=False,
            redis_url=redis_url,
            jwt_secret="book-tests-" + "k" * 60,
            allowed_emails=(EMAIL,),
            api_port=0,
        )
        db_url = resolve_database_url(None, tmp_path)
        await ensure_database(db_url, auto_upgrade=True)
        users = UserStore.open(db_url)
        await users.add(EMAIL, "viewer")
        await users.close()
        engines: list[Engine] = []

        def ready(engine: Engine, _endpoints: Endpoints) -> None:
            engines.append(engine)

        run = asyncio.create_task(run_engine(settings, duration_s=120, ready=ready))
        await _until(lambda: engines or run.done(), 30, "the engine")
        engine = engines[0]
        books = engine.books.books
        await _until(lambda: all(not b.stale for b in books.values()), 30, "every snapshot")
        sim.pause()
        await asyncio.sleep(0.3)  # frames already sent are applied; then the books stand still
        bus: Bus
        if redis_url is None:
            assert isinstance(engine.bus, MemoryBus)
            bus = MemoryBus("dashboard", hub=engine.bus.hub)
        else:
            assert isinstance(engine.bus, RedisBus)  # engine and dashboard meet only in Redis
            bus = RedisBus(redis_url, "dashboard")
        await bus.start()
        ctx = dashboard_context(settings, bus)
        url, server, serving = await _serve_dashboard(ctx, settings)
        pair = ctx.tokens.issue(
            EMAIL, session_id="s1", session_version=1, auth_time=int(time.time())
        )
        await ctx.auth.set_family("s1", pair.refresh_claims.jti, 3600)
        cookie = {"Cookie": f"__Host-polyarb-access={pair.access}"}
        try:
            async with httpx.AsyncClient(base_url=url, headers=cookie, timeout=10) as client:
                binary = next(m for m in engine.universe.markets if not m.neg_risk)
                answer = await client.get(f"/api/markets/{binary.condition_id}/book?depth=3")
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["question"] == binary.question
                assert (body["neg_risk"], body["depth"], body["truncated"]) == (False, 3, False)
                assert body["books"] == [
                    _expected(books[o.token_id], o.label, 3) for o in binary.outcomes
                ]
                assert [b["outcome"] for b in body["books"]] == ["Yes", "No"]
                assert any(len(books[o.token_id].bids) > 3 for o in binary.outcomes)  # cut at 3
                assert 0 < engine.clock.now_ns() - body["as_of_ns"] < 10 * 10**9

                legs = [m for m in engine.universe.markets if m.neg_risk]
                assert len(legs) == 3
                answer = await client.get(f"/api/markets/{legs[1].condition_id}/book?depth=200")
                body = answer.json()
                assert (body["neg_risk"], body["event_id"]) == (True, legs[1].event_id)
                assert body["condition_id"] == legs[1].condition_id
                assert body["books"] == [  # every outcome of the event: its YES book, whole
                    _expected(books[m.yes.token_id], m.group_item_title, 200)
                    for m in legs
                    if m.yes is not None
                ]
                assert len(body["books"]) == 3
                assert max(len(b["bids"]) for b in body["books"]) > 3  # whole books

                unknown = await client.get("/api/markets/0xnot-watched/book")
                assert unknown.status_code == 404, unknown.text
                assert (await client.get("/api/markets/x/book?depth=201")).status_code == 422

                run.cancel()  # no engine: the dashboard says so after its 2 s timeout
                with contextlib.suppress(asyncio.CancelledError):
                    await run
                started = time.monotonic()
                gone = await client.get(f"/api/markets/{binary.condition_id}/book")
                waited = time.monotonic() - started
                assert gone.status_code == 503
                assert gone.json() == {"detail": "engine did not answer"}
                assert 1.9 < waited < 5
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)
            await bus.close()
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
