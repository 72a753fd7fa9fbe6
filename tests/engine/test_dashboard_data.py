"""What the dashboard reads, the engine writes: its markets, alerts when trading changes state,
an equity snapshot a minute (issue 11 item 6), through the real store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from polyarb.domain.trading import Mode
from polyarb.engine.persistence import EnginePersistence, recover
from polyarb.store import Store, WriterConfig

from .replaykit import EngineDriver, universe_of
from .test_engine_core import settings

WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)
MINUTE_NS = 60 * 1_000_000_000


async def test_markets_alerts_and_equity_snapshots_reach_the_store(
    tmp_path: Path, db_url: str, market: Any
) -> None:
    s = settings(tmp_path, sumto100_enabled=False, negrisk_enabled=False)
    universe = universe_of(market[0].gamma_markets(), s)
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=WRITER)
    try:
        recovery = await recover(s, store, tmp_path / "journal.jsonl")
        run = EngineDriver(s, universe, ledger=recovery.ledger, journal_path=tmp_path / "j.jsonl")
        persistence = EnginePersistence(run.engine, store, recovery)
        engine = run.engine
        now = engine.clock.now_ns()
        engine.risk.engage("venue outage", "alice", now)
        engine.risk.clear("bob", now + 1)
        persistence.on_timer()  # the first timer writes a snapshot
        persistence.on_timer()  # ... the next one only a minute later
        await store.flush()
        queries = store.queries

        markets = await queries.markets()
        assert {m.condition_id for m in markets} == {m.condition_id for m in universe.markets}
        assert all(m.question and len(m.outcomes) == 2 for m in markets)

        alerts = await queries.alerts()
        assert [(a.title, a.severity) for a in reversed(alerts)] == [
            ("kill switch engaged", "critical"),
            ("kill switch cleared", "warning"),
        ]
        assert "venue outage" in alerts[-1].message

        curve = await queries.equity_curve()
        assert len(curve) == 1
        assert curve[0].equity == s.paper_starting_balance
        assert (curve[0].realized, curve[0].exposure) == (Decimal(0), Decimal(0))
    finally:
        await store.close()
