"""Auto-redeem: which resolved markets get a redeem call, and the calls mined on the fake node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from polyarb.chain.calls import (
    CTF_COLLATERAL_ADAPTER,
    NEG_RISK_CTF_COLLATERAL_ADAPTER,
    redeem_call,
    redeem_calls,
)
from polyarb.clob.signing import Wallet
from polyarb.domain.market import Market, Outcome
from polyarb.execution.chain import ChainConfig, ChainSubmitter, ChainTxStatus, JsonRpc, submit_all

from .fake_node import FakeNode, running_node


def market(
    n: int, *, prices: tuple[str, ...] = (), neg_risk: bool = False, status: str = ""
) -> Market:
    return Market(
        condition_id="0x" + f"{n:02x}" * 32,
        question=f"q{n}",
        slug=f"m{n}",
        outcomes=(Outcome("Yes", f"{n}1"), Outcome("No", f"{n}2")),
        neg_risk=neg_risk,
        closed=bool(prices),
        outcome_prices=tuple(Decimal(p) for p in prices),
        resolution_status=status,
    )


WON = market(1, prices=("1", "0"))
LOST_NEG_RISK = market(2, prices=("1", "0"), neg_risk=True)  # we hold its NO: paid nothing
OPEN = market(3)
NOT_HELD = market(4, prices=("0", "1"))
DISPUTED = market(5, prices=("1", "0"), status="disputed")
SPLIT = market(6, prices=("0.5", "0.5"))
POSITIONS = {
    "11": Decimal(10),
    "22": Decimal(3),
    "31": Decimal(5),
    "41": Decimal(0),
    "51": Decimal(2),
    "62": Decimal("0.5"),
}


def test_redeem_calls_for_resolved_markets_held() -> None:
    markets = [WON, LOST_NEG_RISK, OPEN, NOT_HELD, DISPUTED, SPLIT, WON]
    calls = redeem_calls(markets, POSITIONS)
    assert [(c.market, c.to) for c in calls] == [
        (WON.condition_id, CTF_COLLATERAL_ADAPTER),
        (LOST_NEG_RISK.condition_id, NEG_RISK_CTF_COLLATERAL_ADAPTER),
        (SPLIT.condition_id, CTF_COLLATERAL_ADAPTER),
    ]
    assert calls[0] == redeem_call(WON.condition_id, neg_risk=False)
    assert redeem_calls(markets, {}) == []


@pytest.fixture
async def node() -> AsyncIterator[FakeNode]:
    async with running_node(FakeNode()) as fake:
        yield fake


async def test_redeems_mined_in_order_and_stop_at_unknown(node: FakeNode) -> None:
    config = ChainConfig(receipt_timeout_s=0.2, receipt_poll_s=0.02)
    async with httpx.AsyncClient(timeout=2.0) as client:
        chain = ChainSubmitter(JsonRpc(node.url, client), Wallet("0x" + "7a" * 32), config)
        calls = redeem_calls([WON, LOST_NEG_RISK, SPLIT], POSITIONS)
        results = await submit_all(chain, calls[:2])
        assert [r.status for r in results] == [ChainTxStatus.CONFIRMED] * 2
        mined = [(t.function, t.args[2], t.args[3]) for t in node.mined()]
        assert mined == [
            ("redeemPositions", bytes.fromhex(WON.condition_id[2:]), (1, 2)),
            ("redeemPositions", bytes.fromhex(LOST_NEG_RISK.condition_id[2:]), (1, 2)),
        ]
        node.hold = True
        results = await submit_all(chain, [calls[2], calls[0]])
        assert [r.status for r in results] == [ChainTxStatus.UNKNOWN]
        assert node.sends == 3
