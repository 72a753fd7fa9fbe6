"""The transaction a complete set needs (live): a binary merge, a negRisk conversion built from
the real Gamma event's question ids, nothing for a locked set."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import decode

from polyarb.chain.calls import NEG_RISK_ADAPTER, merge_call
from polyarb.execution.merge import set_calls
from polyarb.marketdata.gamma import parse_event, parse_market

EVENT = (
    Path(__file__).parents[1]
    / "fixtures/polymarket/gamma/gamma_events_negrisk_election_2026-03.json"
)


def test_neg_risk_conversion_from_the_real_event() -> None:
    [raw] = json.loads(EVENT.read_text())
    event = parse_event(raw)
    markets = list(event.markets)
    assert len(markets) == len(raw["markets"]) >= 2
    [call] = set_calls("neg_risk_convert", markets, Decimal("2.5"))
    assert call.to == NEG_RISK_ADAPTER
    assert call.kind == "convert"
    market_id, index_set, amount = decode(["bytes32", "uint256", "uint256"], call.data[4:])
    raw_markets = raw["markets"]
    expected_id = raw_markets[0]["negRiskMarketID"]
    # Question ids are the market id plus the question's index (NegRiskAdapter's derivation).
    indices = [int(m["questionID"], 16) - int(expected_id, 16) for m in raw_markets]
    assert "0x" + market_id.hex() == expected_id
    assert index_set == sum(1 << i for i in indices)
    assert amount == 2_500_000


def test_binary_merge_and_locked_set() -> None:
    [raw] = json.loads(EVENT.read_text())
    market = parse_market(raw["markets"][0], event=raw)
    assert set_calls("binary", [market], Decimal(4)) == [
        merge_call(market.condition_id, Decimal(4), neg_risk=True)
    ]
    assert set_calls("neg_risk", [market], Decimal(4)) == []


def test_conversion_needs_one_market_id_and_question_ids() -> None:
    [raw] = json.loads(EVENT.read_text())
    first, second = (parse_market(m, event=raw) for m in raw["markets"][:2])
    other = parse_market({**raw["markets"][1], "negRiskMarketID": "0x" + "11" * 32}, event=None)
    with pytest.raises(ValueError, match="one negRisk market id"):
        set_calls("neg_risk_convert", [first, other], Decimal(1))
    bare = parse_market(
        {k: v for k, v in raw["markets"][1].items() if k != "questionID"}, event=raw
    )
    with pytest.raises(ValueError, match="no question id"):
        set_calls("neg_risk_convert", [first, bare], Decimal(1))
    assert second.neg_risk_market_id == first.neg_risk_market_id
