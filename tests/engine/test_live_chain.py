"""``polyarb run`` live against the simulator with its Polygon node (``POLYGON_RPC_URL`` = the
sim's ``/chain``), over real HTTP, WebSocket and JSON-RPC: a negRisk NO set bought, settled
(CONFIRMED), then converted on the simulated chain: the venue's positions back to 0 and its
cash up (n - 1) dollars a set, the ledger booking the same with the gas at CHAIN_POL_USD, a
clean reconciliation; a receipt that never comes before the engine stops is looked up after the
restart and booked once, with no second transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tests.servers import free_port

from polyarb.clob.signing import Wallet
from polyarb.sim import ScenarioConfig, SimServer
from polyarb.sim.scenario import ArbWindow, WindowKind

from .procs import Engine
from .test_live_engine import (
    KEY,
    _assert_reconciled,
    _env,
    _ledger,
    _metrics,
    _negrisk_event,
    _resume_when_connected,
    _start,
    _stop,
    _until,
)

WINDOW_AT_S = 1.0
POL_USD = Decimal("0.25")


def _scenario(window: WindowKind = "negrisk_convert") -> ScenarioConfig:
    return ScenarioConfig(
        seed=8,
        binary_markets=0,
        negrisk_events=1,
        outcomes_per_event=3,
        updates_per_s=20.0,
        closed_markets=0,
        games=0,
        fenced_windows=True,
        windows=(ArbWindow(window, 0, WINDOW_AT_S, 3.0, Decimal("0.06"), Decimal(200)),),
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(_scenario()) as server:
        server.pause()  # scenario time counts from a reconciled, connected engine
        yield server


def _chain_env(sim: SimServer, tmp_path: Path, postgres_url: str, **extra: str) -> dict[str, str]:
    return _env(
        sim,
        tmp_path,
        postgres_url,
        NEGRISK_ENABLED="false",
        NEGRISK_CONVERT_ENABLED="true",
        POLYGON_RPC_URL=sim.chain_url,
        CHAIN_POL_USD=str(POL_USD),
        CHAIN_RECEIPT_POLL_S="0.05",
        **extra,
    )


async def _merges(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetch("SELECT * FROM merges")
    finally:
        await conn.close()


async def _alert_severity(database_url: str, key: str) -> str | None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        value = await conn.fetchval("SELECT severity FROM alerts WHERE dedup_key = $1", key)
    finally:
        await conn.close()
    return None if value is None else str(value)


def _cash_check(sim: SimServer, ledger: object, gas_usd: Decimal) -> None:
    """The venue's cash moved as the ledger's, but for the fees and the gas (paid in POL)."""
    maker = Wallet(KEY).address
    venue_moved = sim.exchange.balance(maker) - sim.exchange.starting_balance
    assert ledger.cash == venue_moved - ledger.fees_paid - gas_usd  # type: ignore[attr-defined]
    assert ledger.chain_costs == gas_usd  # type: ignore[attr-defined]


async def _redeem_booked(
    sim: SimServer, ledger: object, database_url: str, token_id: str, held: int
) -> None:
    """One redeem mined, and the ledger realized its payout less the token's cost basis (what
    its fills in the store cost, fees included) less the redeem's gas, paid from cash."""
    [redeem] = [t for t in sim.chain.mined() if t.function == "redeemPositions"]
    assert redeem.status == 1
    receipt = redeem.receipt
    assert receipt is not None
    gas_pol = Decimal(int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16))
    gas_usd = gas_pol.scaleb(-18) * POL_USD
    assert gas_usd > 0
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        bought = await conn.fetch(
            "SELECT price, size, fee FROM fills WHERE token_id = $1 AND side = 'BUY'", token_id
        )
    finally:
        await conn.close()
    cost_basis = sum((r["price"] * r["size"] + r["fee"] for r in bought), Decimal(0))
    assert cost_basis > 0
    assert ledger.realized_pnl == Decimal(held) - cost_basis - gas_usd  # type: ignore[attr-defined]
    _cash_check(sim, ledger, gas_usd)


async def test_a_negrisk_no_set_is_converted_on_chain_and_reconciles(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    health_port = free_port()
    env = _chain_env(sim, tmp_path, postgres_url, HEALTH_PORT=str(health_port))
    engine = await _start(tmp_path, env)
    await _resume_when_connected(sim, engine)
    converted = await _until(
        lambda: any(t.function == "convertPositions" for t in sim.chain.mined()), 30
    )
    booked = await engine.wait_for("complete sets merged on chain", timeout_s=15)
    chain_metrics = await _metrics(health_port, "polyarb_chain_")
    code, _out, err = await _stop(engine)
    assert converted, err[-3000:]
    assert code == 0, err[-3000:]
    [tx] = sim.chain.mined()
    assert tx.status == 1
    assert tx.sender == Wallet(KEY).address
    no_tokens = [m.token_ids[1] for m in _negrisk_event(sim).markets]
    maker = Wallet(KEY).address
    assert all(t.status == "CONFIRMED" for t in sim.exchange.trades.values())
    bought = {t.asset_id for t in sim.exchange.trades.values()}
    assert bought == set(no_tokens)
    assert [sim.exchange.position(maker, t) for t in no_tokens] == [0, 0, 0]
    ledger, open_orders = await _ledger(postgres_url, tmp_path)
    assert open_orders == 0
    _assert_reconciled(sim, ledger)
    receipt = tx.receipt
    assert receipt is not None
    gas_pol = Decimal(int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16))
    gas_usd = gas_pol.scaleb(-18) * POL_USD
    _cash_check(sim, ledger, gas_usd)
    [merge] = await _merges(postgres_url)
    assert merge["tx_hash"] == tx.tx_hash
    assert "reconciliation MISMATCH" not in err
    assert booked >= 0
    assert chain_metrics["polyarb_chain_transactions_total{status=confirmed}"] == 1
    assert chain_metrics["polyarb_chain_transactions_total{status=reverted}"] == 0
    assert chain_metrics["polyarb_chain_gas_usd_total"] == float(gas_usd)


async def test_a_dropped_receipt_is_resolved_after_a_restart_without_a_second_transaction(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    sim.chain.hold = True  # the node takes the transaction and gives no receipt
    env = _chain_env(sim, tmp_path, postgres_url, CHAIN_RECEIPT_TIMEOUT_S="0.5")
    engine = await _start(tmp_path, env)
    await _resume_when_connected(sim, engine)
    assert await _until(lambda: bool(sim.chain.txs), 30)
    await engine.wait_for("no receipt before CHAIN_RECEIPT_TIMEOUT_S", timeout_s=15)
    code, _, err = await _stop(engine)
    assert code == 0, err[-3000:]
    assert sim.chain.mined() == []
    (tx_hash,) = sim.chain.txs
    assert await _alert_severity(postgres_url, "chain:unknown") == "critical"
    sim.chain.hold = False
    sim.chain.mine_held()  # mined while the engine was down
    engine = await _start(tmp_path, env)
    await engine.wait_for("reconciled:", timeout_s=45)
    code, _, err = await _stop(engine)
    assert code == 0, err[-3000:]
    assert list(sim.chain.txs) == [tx_hash]  # looked up by its hash, never signed again
    ledger, _ = await _ledger(postgres_url, tmp_path)
    _assert_reconciled(sim, ledger)
    [merge] = await _merges(postgres_url)
    assert merge["tx_hash"] == tx_hash
    assert "reconciliation MISMATCH" not in err


@dataclass(frozen=True)
class _YesHeld:
    """The first outcome's market of the negRisk YES set bought: what the wallet holds of its
    YES token and its cash before the market resolves."""

    market: Any
    held: Decimal
    cash_before: Decimal


async def _yes_set_bought(
    sim: SimServer, tmp_path: Path, postgres_url: str, refresh_s: str, **extra: str
) -> tuple[Engine, dict[str, str], _YesHeld]:
    """A live engine that bought the negRisk YES set (held: a live YES set is not merged), its
    trades CONFIRMED."""
    env = _chain_env(sim, tmp_path, postgres_url, MARKETS_REFRESH_S=refresh_s, **extra)
    env.update(NEGRISK_ENABLED="true", NEGRISK_CONVERT_ENABLED="false")
    engine = await _start(tmp_path, env)
    await _resume_when_connected(sim, engine)
    trades = sim.exchange.trades
    assert await _until(
        lambda: len(trades) >= 3 and all(t.status == "CONFIRMED" for t in trades.values()),
        30,
    )
    market = _negrisk_event(sim).markets[0]
    maker = Wallet(KEY).address
    held = sim.exchange.position(maker, market.token_ids[0])
    assert held > 0
    return engine, env, _YesHeld(market, held, sim.exchange.balance(maker))


async def _redeemed_once(
    sim: SimServer, tmp_path: Path, postgres_url: str, bought: _YesHeld, err: str
) -> None:
    """The market paid $1 a YES share at the venue, redeemed by one transaction, and booked:
    reconciled, realized = payout - cost basis - gas."""
    yes, no = bought.market.token_ids
    maker = Wallet(KEY).address
    assert (sim.exchange.position(maker, yes), sim.exchange.position(maker, no)) == (0, 0)
    assert sim.exchange.balance(maker) == bought.cash_before + bought.held
    ledger, _ = await _ledger(postgres_url, tmp_path)
    _assert_reconciled(sim, ledger)
    await _redeem_booked(sim, ledger, postgres_url, yes, bought.held)
    assert ledger.seen(f"resolution-{bought.market.condition_id}")
    assert ledger.shares(yes) == 0
    assert "reconciliation MISMATCH" not in err


async def test_a_resolved_market_held_is_redeemed_once(tmp_path: Path, postgres_url: str) -> None:
    """The first outcome's market of the YES set held resolves YES at the venue; the engine
    learns it from Gamma on its refresh, redeems it on chain once and books the payout."""
    async with SimServer(_scenario("negrisk")) as sim:
        sim.pause()
        engine, _, bought = await _yes_set_bought(sim, tmp_path, postgres_url, "0.5")
        sim.resolve_market(bought.market.condition_id, 0)
        line = await engine.wait_for("resolved market redeemed on chain", timeout_s=30)
        await engine.wait_for("reconciled:", after=line, timeout_s=15)
        code, _, err = await _stop(engine)
        assert code == 0, err[-3000:]
    await _redeemed_once(sim, tmp_path, postgres_url, bought, err)


async def test_a_market_resolved_while_the_engine_was_down_is_redeemed_after_the_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    """The YES set is bought and the engine stopped; the first outcome's market resolves YES
    while it is down, so discovery no longer lists it. Restarted with no universe refresh, the
    engine looks the held market up by condition id at start, redeems it once and books the
    payout."""
    async with SimServer(_scenario("negrisk")) as sim:
        sim.pause()
        engine, env, bought = await _yes_set_bought(sim, tmp_path, postgres_url, "0")
        code, _, err = await _stop(engine)
        assert code == 0, err[-3000:]
        condition_id = bought.market.condition_id
        sim.resolve_market(condition_id, 0)
        assert condition_id not in await _gamma_condition_ids(sim.gamma_url, closed=False)
        engine = await _start(tmp_path, env)
        line = await engine.wait_for("resolved market redeemed on chain", timeout_s=45)
        await engine.wait_for("reconciled:", after=line, timeout_s=15)
        code, _, err = await _stop(engine)
        assert code == 0, err[-3000:]
    await _redeemed_once(sim, tmp_path, postgres_url, bought, err)


async def test_a_redeem_mined_while_the_engine_was_down_is_booked_once_at_the_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    """The redeem's receipt never comes before the engine stops; it is mined while the engine
    is down, and the market (resolved, closed) is no longer listed at the restart: the journaled
    redeem is looked up by its hash and booked by its own plan, with no second transaction."""
    async with SimServer(_scenario("negrisk")) as sim:
        sim.pause()
        engine, env, bought = await _yes_set_bought(
            sim, tmp_path, postgres_url, "0.5", CHAIN_RECEIPT_TIMEOUT_S="0.5"
        )
        sim.chain.hold = True  # the node takes the redeem and gives no receipt
        sim.resolve_market(bought.market.condition_id, 0)
        await engine.wait_for("no receipt before CHAIN_RECEIPT_TIMEOUT_S", timeout_s=30)
        code, _, err = await _stop(engine)
        assert code == 0, err[-3000:]
        (tx_hash,) = sim.chain.txs
        sim.chain.hold = False
        sim.chain.mine_held()
        engine = await _start(tmp_path, env)
        line = await engine.wait_for("resolved market redeemed on chain", timeout_s=45)
        await engine.wait_for("reconciled:", after=line, timeout_s=15)
        code, _, err = await _stop(engine)
        assert code == 0, err[-3000:]
    assert list(sim.chain.txs) == [tx_hash]  # looked up by its hash, never sent again
    await _redeemed_once(sim, tmp_path, postgres_url, bought, err)


async def _gamma_condition_ids(gamma_url: str, *, closed: bool) -> set[str]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{gamma_url}/markets", params={"closed": str(closed).lower(), "limit": 500}
        )
    response.raise_for_status()
    return {str(m["conditionId"]) for m in response.json()}
