"""``ChainOps`` against the simulator's Polygon node over JSON-RPC: a binary complete set (YES and
NO of one market, which the simulator's single matching book never sells below $1, so the live
engine test cannot buy one) is merged once its trades are final, never while one is still
MATCHED; the merge is journaled before it is sent and booked once with its gas; a restart finds
nothing left to resolve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from tests.execution.sim_markets import markets_by_token
from tests.sim.test_chain import held

from polyarb.clob.signing import Wallet
from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.clock import WallClock
from polyarb.domain.ledger import Ledger, Merge
from polyarb.domain.settlement import Settlement
from polyarb.domain.trading import Fill, Mode
from polyarb.engine.chain import chain_submitter
from polyarb.engine.chain_ops import ChainOps
from polyarb.execution.journal import Journal, read_journal
from polyarb.execution.settlement import SettlementTracker
from polyarb.risk.limits import RiskLimits
from polyarb.risk.manager import RiskManager
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

KEY = "0x" + "3d" * 32
POL_USD = Decimal("0.40")


@dataclass
class _Store:
    merges: list[tuple[Merge, str | None]] = field(default_factory=list)

    def submit_merge(
        self, merge: Merge, ledger: object = None, *, tx_hash: str | None = None
    ) -> None:
        self.merges.append((merge, tx_hash))


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    config = ScenarioConfig(seed=5, binary_markets=1, negrisk_events=0, games=0, closed_markets=0)
    async with SimServer(config) as server:
        yield server


def _fill(fill_id: str, token: str, market: str, price: str) -> Fill:
    return Fill(
        fill_id=fill_id,
        client_order_id="c-" + fill_id,
        token_id=token,
        market=market,
        side=Side.BUY,
        price=Decimal(price),
        size=Decimal(10),
        fee=Decimal("0.02"),
        ts_ns=1,
        strategy="sumto100",
        mode=Mode.LIVE,
    )


def _ops(sim: SimServer, tmp_path: Path, client: httpx.AsyncClient) -> tuple[ChainOps, Any]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        polygon_rpc_url=sim.chain_url,
        poly_private_key=KEY,
        chain_pol_usd=POL_USD,
        chain_receipt_poll_s=0.02,
    )
    ledger = Ledger()
    journal = Journal(tmp_path / "journal.jsonl")
    tracker = SettlementTracker(ledger, journal)
    engine = SimpleNamespace(
        ledger=ledger,
        markets_by_token=markets_by_token(sim),
        clock=WallClock(),
        risk=RiskManager(RiskLimits()),
        counters=SimpleNamespace(sets={}),
        errors=[],
    )
    engine.emit_error = lambda source, kind, message, details=None: engine.errors.append(
        f"{source}:{kind}"
    )
    live = SimpleNamespace(settlement=tracker)
    store = _Store()
    ops = ChainOps(
        engine,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        live,  # type: ignore[arg-type]
        lambda record: chain_submitter(settings, client, record=record),
        tmp_path / "chain-journal.jsonl",
    )
    return ops, SimpleNamespace(engine=engine, store=store, tracker=tracker, journal=journal)


async def test_a_binary_set_is_merged_once_its_trades_are_confirmed(
    sim: SimServer, tmp_path: Path
) -> None:
    owner = Wallet(KEY).address
    market, yes, no = held(sim, owner, 0, 10, 10)  # what the two trades moved at the venue
    async with httpx.AsyncClient(timeout=5) as client:
        ops, parts = _ops(sim, tmp_path, client)
        tracker: SettlementTracker = parts.tracker
        cid = market.condition_id
        tracker.observe("t-yes", Settlement.MATCHED, [_fill("t-yes", yes, cid, "0.48")])
        tracker.observe("t-no", Settlement.CONFIRMED, [_fill("t-no", no, cid, "0.51")])
        assert await ops.pass_once() == []  # the YES trade can still fail: no merge
        assert sim.chain.txs == {}
        tracker.observe("t-yes", Settlement.CONFIRMED, [])
        [result] = await ops.pass_once()
        assert result.status.value == "confirmed"
        assert await ops.pass_once() == []  # nothing left to merge
    assert len(sim.chain.mined()) == 1
    assert (sim.exchange.position(owner, yes), sim.exchange.position(owner, no)) == (0, 0)
    assert sim.exchange.balance(owner) == sim.exchange.starting_balance + 10
    ledger: Ledger = parts.engine.ledger
    gas_usd = Decimal(result.gas_used * result.effective_gas_price).scaleb(-18) * POL_USD
    assert result.cost_usd == gas_usd > 0
    assert (ledger.shares(yes), ledger.shares(no)) == (0, 0)
    # $1 a pair - the legs (0.48 + 0.51) x 10 - 0.04 fees - the gas
    assert ledger.realized_pnl == Decimal("0.06") - gas_usd
    assert ledger.chain_costs == gas_usd
    [(merge, tx_hash)] = parts.store.merges
    assert (merge.merge_id, tx_hash) == (f"merge-{result.tx_hash}", result.tx_hash)
    assert merge in read_journal(tmp_path / "journal.jsonl").merges
    lines = [orjson.loads(x) for x in (tmp_path / "chain-journal.jsonl").read_bytes().splitlines()]
    assert [(x["kind"], x["tx_hash"]) for x in lines] == [
        ("tx", result.tx_hash),
        ("done", result.tx_hash),
    ]
    assert parts.engine.counters.sets == {"sumto100": {"merged": Decimal(10)}}
    assert parts.engine.errors == []


async def test_a_reverted_merge_books_nothing_alerts_and_waits_before_trying_again(
    sim: SimServer, tmp_path: Path
) -> None:
    owner = Wallet(KEY).address
    market, yes, no = held(sim, owner, 0, 10, 10)
    sim.chain.revert_on_chain = True
    async with httpx.AsyncClient(timeout=5) as client:
        ops, parts = _ops(sim, tmp_path, client)
        cid = market.condition_id
        parts.tracker.observe("t-yes", Settlement.CONFIRMED, [_fill("t-yes", yes, cid, "0.48")])
        parts.tracker.observe("t-no", Settlement.CONFIRMED, [_fill("t-no", no, cid, "0.51")])
        [result] = await ops.pass_once()
        assert result.status.value == "reverted"
        assert result.cost_usd > 0  # the gas is spent all the same
        assert await ops.pass_once() == []  # not tried again at once
    assert len(sim.chain.txs) == 1
    assert (sim.exchange.position(owner, yes), sim.exchange.position(owner, no)) == (10, 10)
    ledger: Ledger = parts.engine.ledger
    assert (ledger.shares(yes), ledger.shares(no)) == (10, 10)
    assert parts.store.merges == []
    assert parts.engine.errors == ["chain:reverted"]
