"""Market, Outcome, MarketEvent and FeeSchedule (domain/market.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from polyarb.domain.market import NO_FEES, FeeSchedule, Market, MarketEvent, Outcome


def binary(cid: str = "0x1", *, yes_first: bool = True, **changes: object) -> Market:
    outcomes = (Outcome("Yes", f"{cid}-y"), Outcome("No", f"{cid}-n"))
    m = Market(cid, "Q?", f"slug-{cid}", outcomes if yes_first else outcomes[::-1])
    return replace(m, **changes)  # type: ignore[arg-type]


def test_outcome_lookup_is_by_label_case_insensitive() -> None:
    m = binary(yes_first=False)
    assert m.yes == Outcome("Yes", "0x1-y")
    assert m.no == Outcome("No", "0x1-n")
    assert m.outcome("YES") == m.yes
    assert m.outcome("maybe") is None
    assert m.token_ids == ("0x1-n", "0x1-y")
    assert m.is_binary


def test_defaults() -> None:
    m = binary()
    assert m.tick_size == Decimal("0.01")
    assert m.min_order_size == Decimal(5)
    assert m.fees == NO_FEES
    assert m.enable_order_book
    assert m.raw == {}


def test_raw_is_not_part_of_equality() -> None:
    assert binary(raw={"a": 1}) == binary(raw={"b": 2})


@pytest.mark.parametrize(
    ("rate", "price", "per_share"),
    [
        (Decimal("0.05"), Decimal("0.5"), Decimal("0.0125")),
        (Decimal("0.05"), Decimal("0.9"), Decimal("0.0045")),
        (Decimal("0.072"), Decimal("0.5"), Decimal("0.018")),
        (Decimal(0), Decimal("0.5"), Decimal(0)),
    ],
)
def test_taker_fee_curve(rate: Decimal, price: Decimal, per_share: Decimal) -> None:
    fees = FeeSchedule(rate=rate)
    assert fees.taker_fee_per_share(price) == per_share
    assert fees.taker_fee(price, Decimal(100)) == per_share * 100


def test_fee_exponent() -> None:
    assert FeeSchedule(rate=Decimal("0.1"), exponent=2).taker_fee_per_share(
        Decimal("0.5")
    ) == Decimal("0.00625")


def test_crypto_example_from_the_venue_docs() -> None:
    # 100 shares at 0.50 with a 0.07 rate: $1.75
    assert FeeSchedule(rate=Decimal("0.07")).taker_fee(Decimal("0.5"), Decimal(100)) == Decimal(
        "1.75"
    )


def event(*markets: Market, neg_risk: bool = True) -> MarketEvent:
    return MarketEvent("e1", "ev", "Who wins?", neg_risk, markets)


def test_complete_set() -> None:
    a, b = binary("0xa", group_item_title="Alice"), binary("0xb", group_item_title="Bob")
    assert event(a, b).is_complete_set
    assert not event(a, b, neg_risk=False).is_complete_set
    assert not event(a).is_complete_set
    assert not event(a, replace(b, neg_risk_other=True)).is_complete_set
    assert not event(a, replace(b, group_item_title="Other")).is_complete_set
    assert not event(a, replace(b, closed=True)).is_complete_set
    assert not event(a, replace(b, active=False)).is_complete_set
