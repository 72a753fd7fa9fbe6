"""Locked sets are paid by what actually resolved; conversions pay n - 1 (issue 8, items 4-5)."""

from __future__ import annotations

from decimal import Decimal

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger, Merge, Resolution
from polyarb.domain.trading import Fill, Mode

D = Decimal
T0 = 1_760_000_000_000_000_000


def buy(
    fid: str, token: str, price: str, size: str, market: str, strategy: str = "negrisk"
) -> Fill:
    return Fill(
        fill_id=fid,
        client_order_id=f"o-{fid}",
        token_id=token,
        market=market,
        side=Side.BUY,
        price=D(price),
        size=D(size),
        fee=D(0),
        ts_ns=T0,
        strategy=strategy,
        mode=Mode.PAPER,
    )


def locked_ledger(prices: tuple[str, ...] = ("0.30", "0.30", "0.35")) -> Ledger:
    """10 sets of YES of outcomes a, b, c (cost 9.50), locked."""
    ledger = Ledger(D(100))
    tokens = tuple(f"{x}-yes" for x in "abc"[: len(prices)])
    for i, (token, price) in enumerate(zip(tokens, prices, strict=True)):
        ledger.apply_fill(buy(f"f{i}", token, price, "10", f"cond-{i}"))
    ledger.apply_merge(Merge("lock", "event-1", tokens, D(10), T0 + 1, "negrisk", locked=True))
    return ledger


def no_wins(i: int, ts: int) -> Resolution:
    x = "abc"[i]
    return Resolution(f"r{i}", f"cond-{i}", f"{x}-no", ts, token_ids=(f"{x}-yes", f"{x}-no"))


def conserved(ledger: Ledger) -> bool:
    held = sum((p.cost for p in ledger.positions()), D(0))
    held += sum((x.cost for x in ledger.locked_sets()), D(0))
    return ledger.cash + held == ledger.starting_balance + ledger.realized_pnl


def test_a_set_whose_winner_was_outside_it_is_released_at_a_loss() -> None:
    """Every listed outcome resolves NO (an augmented event's "Other" won): the set paid
    nothing, so it must not stay booked at $1 for ever."""
    ledger = locked_ledger()
    assert ledger.unrealized_pnl() == D("0.50")
    assert ledger.apply_resolution(no_wins(0, T0 + 2)).realized == 0
    assert ledger.apply_resolution(no_wins(1, T0 + 3)).realized == 0
    assert len(ledger.locked_sets()) == 1
    assert ledger.apply_resolution(no_wins(2, T0 + 4)).realized == D("-9.50")
    assert ledger.locked_sets() == []
    assert ledger.unrealized_pnl() == 0
    assert ledger.cash == D("90.50")
    assert ledger.pnl_by_strategy() == {"negrisk": D("-9.50")}
    assert conserved(ledger)


def test_a_split_outcome_pays_half_and_the_set_waits_for_the_rest() -> None:
    """Outcome A's market resolves 50/50, the others NO: the set is paid $0.50 a set."""
    ledger = locked_ledger()
    split = Resolution("r0", "cond-0", "", T0 + 2, token_ids=("a-yes", "a-no"))
    assert ledger.apply_resolution(split).realized == 0
    [held] = ledger.locked_sets()
    assert (held.paid, held.cost, held.settled) == (D(5), D("4.50"), ("a-yes",))
    assert ledger.cash == D("95.50")
    assert ledger.unrealized_pnl() == D("0.50")  # at most $0.50 a set still to come
    assert conserved(ledger)
    # the snapshot keeps the partial settlement
    restored = Ledger.restore(ledger.snapshot())
    assert restored.locked_sets() == ledger.locked_sets()
    ledger.apply_resolution(no_wins(1, T0 + 3))
    assert ledger.apply_resolution(no_wins(2, T0 + 4)).realized == D("-4.50")
    assert ledger.locked_sets() == []
    assert ledger.realized_pnl == D("-4.50")
    assert conserved(ledger)


def test_two_split_winners_pay_the_set_in_full() -> None:
    """A tie resolved 50/50 in two outcomes' markets (multi-winner): $0.50 + $0.50 a set."""
    ledger = locked_ledger()
    ledger.apply_resolution(Resolution("r0", "cond-0", "", T0 + 2, token_ids=("a-yes", "a-no")))
    ledger.apply_resolution(Resolution("r1", "cond-1", "", T0 + 3, token_ids=("b-yes", "b-no")))
    assert ledger.apply_resolution(no_wins(2, T0 + 4)).realized == D("0.50")
    assert ledger.locked_sets() == []
    assert ledger.cash == D("100.50")
    assert conserved(ledger)


def test_a_split_market_pays_held_positions_half() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(buy("y", "yes", "0.40", "10", "cond-1"))
    split = Resolution("r", "cond-1", "", T0 + 5, token_ids=("yes", "no"))
    assert ledger.apply_resolution(split).realized == D(1)  # 10 x 0.5 - 4
    assert ledger.cash == D(101)
    assert ledger.apply_resolution(split).duplicate


def test_a_conversion_of_n_no_tokens_pays_n_minus_one() -> None:
    """NO of three outcomes bought for 1.90 a set, converted: $2 a set now."""
    ledger = Ledger(D(100))
    tokens = ("a-no", "b-no", "c-no")
    for i, (token, price) in enumerate(zip(tokens, ("0.60", "0.65", "0.65"), strict=True)):
        ledger.apply_fill(buy(f"f{i}", token, price, "10", f"cond-{i}", "neg_risk_convert"))
    convert = Merge("convert-1", "event-1", tokens, D(10), T0 + 1, "neg_risk_convert")
    assert convert.collateral_per_set == 2
    applied = ledger.apply_merge(convert)
    assert applied.realized == D(20) - D(19)
    assert ledger.positions() == []
    assert ledger.cash == D(101)
    assert conserved(ledger)
    # a binary merge is still $1 a set
    assert Merge("m", "c", ("y", "n"), D(1), T0, "s").collateral_per_set == 1


def test_a_redeems_gas_is_booked_with_its_resolution() -> None:
    """Live: the resolution is booked when its redeem is mined, with the redeem's gas: realized
    = payout - cost basis - gas, paid from cash, in ``chain_costs``, by the strategy paid."""
    ledger = Ledger(D(100))
    for fill in fills():
        ledger.apply_fill(fill)
    gas = D("0.0042187")
    resolution = Resolution("r0", "cond-0", "a-yes", T0 + 1, ("a-yes", "a-no"), tx_cost=gas)
    applied = ledger.apply_resolution(resolution)
    assert applied.realized == D(20) - D(7) - gas
    assert ledger.realized_pnl == D(20) - D(7) - gas
    assert ledger.cash == D(100) - D(7) + D(20) - gas
    assert ledger.chain_costs == gas
    assert ledger.pnl_by_strategy() == {"negrisk": D(6) - gas, "sum_to_100": D(7)}
    assert conserved(ledger)
    assert ledger.apply_resolution(resolution).duplicate  # the gas is booked once
    assert ledger.chain_costs == gas
    assert Ledger.replay([*fills(), resolution], D(100)).realized_pnl == ledger.realized_pnl


def fills() -> list[Fill]:
    return [
        buy("f0", "a-yes", "0.30", "10", "cond-0", strategy="sum_to_100"),
        buy("f1", "a-yes", "0.40", "10", "cond-0", strategy="negrisk"),
    ]
