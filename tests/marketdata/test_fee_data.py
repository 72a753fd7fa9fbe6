"""Missing fee data is not "no fees" (issue 8 item 6): the parsers say so; a default fills it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from polyarb.domain.market import NO_FEES, UNKNOWN_FEES, FeeSchedule, resolve_fees
from polyarb.marketdata.clob_markets import parse_clob_market
from polyarb.marketdata.gamma import decode_json, parse_market

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


def gamma_market() -> dict[str, Any]:
    data = decode_json((FIXTURES / "gamma" / "gamma_market_closed_resolved_yes.json").read_bytes())
    raw = data["body"] if isinstance(data, dict) and "_captured" in data else data
    assert isinstance(raw, dict)
    return raw


def test_gamma_without_any_fee_field_is_unknown() -> None:
    raw = {k: v for k, v in gamma_market().items() if k not in ("feesEnabled", "feeSchedule")}
    raw.pop("feeType", None)
    market = parse_market(raw)
    assert market.fees is UNKNOWN_FEES
    assert not market.fees.known


def test_gamma_fee_fields_stay_authoritative() -> None:
    raw = gamma_market()
    assert parse_market(raw | {"feesEnabled": False}).fees is NO_FEES
    scheduled = raw | {"feesEnabled": True, "feeSchedule": {"rate": "0.03", "exponent": "1"}}
    assert parse_market(scheduled).fees == FeeSchedule(Decimal("0.03"))
    assert parse_market(scheduled).fees.known


def test_clob_without_taker_base_fee_is_unknown() -> None:
    raw = json.loads((FIXTURES / "rest" / "clob_market_by_condition_id_2024.json").read_text())
    assert parse_clob_market(raw).fees is NO_FEES  # taker_base_fee 0: fee-free
    del raw["taker_base_fee"]
    assert parse_clob_market(raw).fees is UNKNOWN_FEES


def test_a_configured_default_replaces_only_missing_fee_data() -> None:
    raw = {k: v for k, v in gamma_market().items() if k not in ("feesEnabled", "feeSchedule")}
    raw.pop("feeType", None)
    unknown = parse_market(raw)
    assert resolve_fees(unknown, None) is unknown  # no default: stays untradable
    assert resolve_fees(unknown, Decimal("0.05")).fees == FeeSchedule(Decimal("0.05"))
    free = parse_market(gamma_market() | {"feesEnabled": False})
    assert resolve_fees(free, Decimal("0.05")) is free
