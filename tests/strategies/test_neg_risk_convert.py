"""negRisk conversion: NO of every outcome for less than n - 1, converted (issue 8, item 5)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from polyarb.config import Settings, load_settings
from polyarb.domain.errors import ConfigError
from polyarb.domain.market import FeeSchedule
from polyarb.strategies import NegRiskConvert, build_enabled
from polyarb.strategies.base import NegRiskConvertConfig

from .helpers import NOW, FakeSettings, FakeView, make_book, negrisk_event

D = Decimal


CHAIN = D("0.01")  # CHAIN_TX_COST_USD default: one convertPositions transaction


def setup(
    asks: list[list[tuple[str, str]]],
    config: NegRiskConvertConfig | None = None,
    fees: list[FeeSchedule] | None = None,
) -> tuple[NegRiskConvert, FakeView]:
    event = negrisk_event("ev", [f"Candidate {i}" for i in range(len(asks))], fees=fees)
    strategy = NegRiskConvert(config or NegRiskConvertConfig())
    routes = strategy.set_universe(list(event.markets), [event])
    assert routes == {f"ev-m{i}-no": "ev" for i in range(len(asks))}  # the NO books
    view = FakeView()
    for i, levels in enumerate(asks):
        view.add(make_book(f"ev-m{i}-no", levels))
        view.add(make_book(f"ev-m{i}-yes", [("0.99", "1000")]))  # never a YES set
    return strategy, view


def test_buys_no_of_every_outcome_when_the_set_costs_less_than_n_minus_one() -> None:
    # 0.60 + 0.65 + 0.60 = 1.85 for a set that converts into $2.
    strategy, view = setup([[("0.60", "100")], [("0.65", "40")], [("0.60", "100")]])
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.strategy == "neg_risk_convert"
    assert signal.market == "ev"
    assert [leg.token_id for leg in signal.legs] == ["ev-m0-no", "ev-m1-no", "ev-m2-no"]
    assert signal.size == D(40)  # the thinnest NO book
    # 2 - 1.85 a set, less the convertPositions transaction (CHAIN_TX_COST_USD, 0.01) over 40 sets
    assert signal.edge == (D(80) - D(74) - CHAIN) / 40
    assert signal.cost == D(74) + CHAIN  # what the NO shares and the conversion cost
    assert signal.fees == 0
    assert signal.expected_profit == D(6) - CHAIN
    assert "converted into 80" in signal.reason


def test_no_signal_without_edge() -> None:
    strategy, view = setup([[("0.70", "100")], [("0.65", "100")], [("0.65", "100")]])
    assert strategy.on_book(view, {"ev"}, NOW) == []  # exactly n - 1
    strategy, view = setup([[("0.70", "100")], [("0.65", "100")], [("0.646", "100")]])
    assert strategy.on_book(view, {"ev"}, NOW) == []  # edge 0.004 < 0.005
    assert strategy.stats()["no_edge"] == 1


def test_fees_of_every_leg_are_paid_out_of_the_edge() -> None:
    fees = [FeeSchedule(D("0.04"))] * 3
    strategy, view = setup([[("0.60", "50")]] * 3, fees=fees)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    # per leg 50 x 0.04 x 0.60 x 0.40 = 0.48
    assert signal.fees == D("1.44")
    assert signal.cost == D(90) + D("1.44") + CHAIN
    assert signal.edge == (2 * 50 - D(90) - D("1.44") - CHAIN) / 50


def test_notional_bounds_what_the_no_set_costs() -> None:
    levels = [[("0.60", "1000")], [("0.60", "1000")], [("0.65", "1000")]]
    strategy, view = setup(levels)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.size == D(100)  # max_position
    config = NegRiskConvertConfig(max_notional=D(150))
    strategy, view = setup(levels, config)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.cost <= D(150)
    assert signal.size == D(75)  # 150 / (n - 1)


def test_implausible_books_are_not_traded() -> None:
    # NO of three outcomes for 0.90 in all: the YES side would have to be worth 2.1.
    strategy, view = setup([[("0.30", "100")]] * 3)
    assert strategy.on_book(view, {"ev"}, NOW) == []
    assert strategy.stats()["implausible"] == 1
    # ... nor estimated while the event is held back (in flight or cooling down)
    strategy.gate.start("ev", "other-signal")
    assert strategy.on_book(view, {"ev"}, NOW) == []
    assert strategy.last_sightings == []
    assert strategy.stats()["implausible"] == 2


def test_only_convertible_events_are_targets() -> None:
    closed = negrisk_event("ev", ["A", "B", "C"])
    leg = dataclasses.replace(closed.markets[2], closed=True)
    closed = dataclasses.replace(closed, markets=(*closed.markets[:2], leg))
    other = negrisk_event("ev2", ["A", "B", "Other"])
    augmented = dataclasses.replace(negrisk_event("ev3", ["A", "B"]), augmented=True)
    strategy = NegRiskConvert(NegRiskConvertConfig())
    events = [closed, other, augmented]
    routes = strategy.set_universe([m for e in events for m in e.markets], events)
    # augmented: NO of the named outcomes converts (YES of the placeholders comes free)
    assert set(routes.values()) == {"ev3"}


def test_on_by_default_and_configured_by_its_own_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = load_settings(None)
    assert settings.mode == "paper"
    assert "neg_risk_convert" in [s.name for s in build_enabled(settings)]
    monkeypatch.setenv("NEGRISK_CONVERT_ENABLED", "false")
    assert "neg_risk_convert" not in [s.name for s in build_enabled(load_settings(None))]
    monkeypatch.setenv("NEGRISK_CONVERT_MIN_EDGE", "-1")
    with pytest.raises(ConfigError, match=r"(?i)negrisk_convert_min_edge"):
        load_settings(None)
    settings = FakeSettings(
        {"negrisk_convert_enabled": True, "negrisk_convert_min_edge": D("0.02")}
    )
    [strategy] = [s for s in build_enabled(settings) if s.name == "neg_risk_convert"]
    assert isinstance(strategy, NegRiskConvert)
    assert strategy.config.min_edge == D("0.02")


def test_the_edge_cap_is_a_fraction_of_the_n_minus_one_dollars_a_set_pays() -> None:
    """NEGRISK_MAX_EDGE (0.10) caps a three-outcome conversion at 0.10 x 2 = $0.20 a set."""
    # 0.55 + 0.60 + 0.60 = 1.75 for $2: 0.25 a set (12.5 % of the payout), an anomaly.
    strategy, view = setup([[("0.55", "100")], [("0.60", "100")], [("0.60", "100")]])
    assert strategy.on_book(view, {"ev"}, NOW) == []
    [sighting] = strategy.last_sightings
    assert sighting.held_back == "anomaly"
    assert sighting.edge == (D(200) - D(175) - CHAIN) / 100
    assert strategy.stats()["anomaly"] == 1
    # The same books under a 15 % cap (0.30 a set) are traded.
    config = NegRiskConvertConfig(max_edge=D("0.15"))
    strategy, view = setup([[("0.55", "100")], [("0.60", "100")], [("0.60", "100")]], config)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.edge == (D(200) - D(175) - CHAIN) / 100
