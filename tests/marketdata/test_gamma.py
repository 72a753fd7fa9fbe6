"""Gamma parsing: one test per fixture file, plus the malformed cases and the pure selection."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.negrisk_events import election_event

from polyarb.domain.errors import MalformedMessage
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, MarketEvent
from polyarb.marketdata.gamma import (
    MarketFilter,
    decode_json,
    encode_json,
    fallback_fee_schedule,
    is_tradable,
    parse_event,
    parse_market,
    parse_timestamp,
    select_universe,
    to_decimal,
)

GAMMA = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "gamma"


def load(name: str) -> Any:
    """A Gamma fixture decoded with exact Decimals; the ``{_captured, body}`` capture wrapper
    (an artifact of how those fixtures were recorded, never sent by Gamma) is unwrapped."""
    data = decode_json((GAMMA / name).read_bytes())
    if isinstance(data, dict) and "_captured" in data:
        return data["body"]
    return data


def tokens(market: Market) -> dict[str, str]:
    return {o.label: o.token_id for o in market.outcomes}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- one test per fixture file ---------------------------------------------------------------


def test_negrisk_fed_live_wrapped() -> None:
    m = parse_market(load("gamma_market_negrisk_fed_live_2026-10-02_wrapped.json"))
    assert m.condition_id == "0xdf9bf27ee5757c55b44b8b9826ddc9ec3a8809aa3278634c45edbb7fc8f1a3e3"
    assert m.gamma_id == "2589812"
    assert m.slug.startswith("will-there-be-no-change-in-fed-interest-rates")
    assert tokens(m) == {
        "Yes": "111061902544814266207267295505639408607400625795891618462682726460921782993748",
        "No": "42038775866198212615491650114881818219665139981763207699110491615333273795415",
    }
    assert m.tick_size == Decimal("0.01")
    assert m.min_order_size == Decimal(5)
    assert m.neg_risk is True
    assert m.neg_risk_market_id == (
        "0x09ac0b2770dbcad3f2e4f5356a68af57cb8ca7502b02645a07b0290d46026a00"
    )
    assert (m.event_id, m.event_slug) == ("606422", "fed-decision-in-october-20260617190323537")
    assert m.group_item_title == "No change"
    assert m.fees == FeeSchedule(
        rate=Decimal("0.05"), exponent=1, taker_only=True, rebate_rate=Decimal("0.25")
    )
    assert m.end_date == utc(2026, 10, 29, 3, 59)
    assert m.liquidity == Decimal("820476.0282")
    assert m.volume_24h == Decimal("695212.8609140002")  # exact: never went through a float
    assert m.accepting_orders
    assert m.active
    assert not m.closed
    assert m.enable_order_book
    assert is_tradable(m)


def test_sports_closed_live_wrapped() -> None:
    m = parse_market(load("gamma_market_sports_closed_live_2026-10-02_wrapped.json"))
    assert m.gamma_id == "3914648"
    assert tokens(m) == {
        "Over": "44871785249965661354040520708695197583096446892727680375407349954334221467517",
        "Under": "62519124713633742581104728580581515203181220954731613638552641852676277934263",
    }
    assert m.yes is None  # not a Yes/No market: nothing may assume index 0 is "Yes"
    assert m.sports_market_type == "soccer_team_totals"
    assert m.game_start_time == utc(2026, 9, 9, 10, 30)  # "2026-09-09 10:30:00+00"
    assert m.tick_size == Decimal("0.001")
    assert m.fees.rate == Decimal("0.05")
    assert m.fees.rebate_rate == Decimal("0.15")
    assert m.closed
    assert not m.accepting_orders
    assert not is_tradable(m)
    assert (m.event_id, m.event_slug) == ("917940", "kor-gwa-jej-2026-09-09-more-markets")


def test_negrisk_open() -> None:
    m = parse_market(load("gamma_market_negrisk_open_2026-06.json"))
    assert m.condition_id == "0x0f49db97f71c68b1e42a6d16e3de93d85dbf7d4148e3f018eb79e88554be9f75"
    assert tokens(m)["Yes"] == (
        "54533043819946592547517511176940999955633860128497669742211153063842200957669"
    )
    assert tokens(m)["No"] == (
        "87854174148074652060467921081181402357467303721471806610111179101805869578687"
    )
    assert m.neg_risk
    assert not m.neg_risk_other
    assert m.group_item_title == "Gavin Newsom"
    assert m.event_id == "30829"
    assert m.event_slug == "democratic-presidential-nominee-2028"
    assert m.tick_size == Decimal("0.001")
    assert m.fees.rate == Decimal("0.04")
    assert m.end_date == utc(2028, 11, 7)


def test_crypto_updown_fees_enabled_without_schedule_uses_category_fallback() -> None:
    m = parse_market(load("gamma_market_crypto_updown_5m_2026-03.json"))
    assert m.slug == "btc-updown-5m-1773307200"
    assert [o.label for o in m.outcomes] == ["Up", "Down"]
    assert tokens(m)["Down"] == (
        "71183960810705820955071415844881728181970340514894896943812046065452395013351"
    )
    # feesEnabled with feeType "crypto_fees" but no feeSchedule: the conservative crypto rate.
    assert m.fees.rate == Decimal("0.072")
    assert m.fees == fallback_fee_schedule("crypto_fees")
    assert m.liquidity == Decimal("20328.3747")
    assert m.end_date == utc(2026, 3, 12, 9, 25)
    assert is_tradable(m)


def test_esports_moneyline_closed() -> None:
    m = parse_market(load("gamma_market_sports_moneyline_esports_closed.json"))
    assert tokens(m) == {
        "FaZe": "89972346417086440659189114668296975440208562769200022591480064439842896371398",
        "illwill": "90510951248295963583566830308208121966213462932425555585207203442852394431867",
    }
    assert m.outcome("faze") is not None
    assert m.outcome("ILLWILL") is not None
    assert m.sports_market_type == "moneyline"
    assert m.game_start_time == utc(2026, 4, 5, 15, 10)
    assert m.fees.rate == Decimal("0.03")
    assert m.event_id == "346898"
    assert m.closed
    assert not is_tradable(m)


def test_esports_map_handicap_closed() -> None:
    m = parse_market(load("gamma_market_sports_map_handicap_closed.json"))
    assert m.condition_id == "0xc7aaca82ff20c6d864d9a6ca5584f2d2f48855be2a757367bffe61aa1ce0e724"
    assert [o.label for o in m.outcomes] == ["FaZe", "illwill"]
    assert m.sports_market_type == "map_handicap"
    assert m.liquidity == Decimal(0)
    assert m.volume_24h == Decimal("16.991")


def test_closed_resolved_yes() -> None:
    m = parse_market(load("gamma_market_closed_resolved_yes.json"))
    assert m.question == "Russia x Ukraine ceasefire by end of 2027?"
    assert m.yes is not None
    assert m.yes.token_id == (
        "22978793223071892222859460592277435458011604214087068523744633723809814935807"
    )
    assert m.fees is NO_FEES  # feesEnabled false
    assert m.closed
    assert m.accepting_orders
    assert not is_tradable(m)
    assert m.game_start_time == utc(2026, 5, 8, 20)
    assert m.event_id is None
    assert m.neg_risk_market_id is None


def test_closed_resolved_no() -> None:
    m = parse_market(load("gamma_market_closed_resolved_no.json"))
    assert m.no is not None
    assert m.no.token_id == (
        "89711174926330519158043401581181146613785179104141808554061413232025882707365"
    )
    assert m.group_item_title == "$1B"
    assert m.end_date == utc(2028, 1, 1, 5)
    assert not m.accepting_orders
    assert m.closed


def test_negrisk_event() -> None:
    [raw] = load("gamma_events_negrisk_election_2026-03.json")
    event = parse_event(raw)
    assert event.event_id == "30829"
    assert event.slug == "democratic-presidential-nominee-2028"
    assert event.neg_risk
    assert [m.group_item_title for m in event.markets] == ["Stephen A. Smith", "Gretchen Whitmer"]
    assert {m.event_id for m in event.markets} == {"30829"}  # nested legs get the event id
    assert event.markets[1].yes is not None
    assert event.markets[1].yes.token_id == (
        "57761428076807364758801249497410455358987881775226117256631754592198558850468"
    )
    assert "Politics" in event.tags
    assert "us-presidential-election" in event.tags
    assert "Politics" in event.markets[0].tags  # event tags reach the market (for filtering)
    # The real event is augmented (negRiskAugmented): outcomes can be added and a placeholder can
    # win, so YES of the listed outcomes is not a sure dollar; NO of them still converts.
    assert event.augmented
    assert not event.is_complete_set
    assert event.is_convertible
    assert replace(event, augmented=False).is_complete_set


def test_tags_list_feeds_the_tag_filter() -> None:
    tags = load("gamma_tags.json")
    assert [t["slug"] for t in tags][:2] == ["health-and-human-services", "sweeden"]
    raw = copy.deepcopy(load("gamma_market_crypto_updown_5m_2026-03.json"))
    raw["tags"] = tags[:2]
    market = parse_market(raw)
    # labels and slugs both kept, de-duplicated case-insensitively ("Sweeden" / "sweeden")
    assert market.tags == ("Health and Human Services", "health-and-human-services", "Sweeden")
    assert MarketFilter(tags=("HEALTH-AND-HUMAN-SERVICES",)).allows(market)  # by slug
    assert MarketFilter(tags=("sweeden",)).allows(market)
    assert MarketFilter(tags=("attorney general",)).allows(market) is False


def test_recorded_btc_updown_jsonl() -> None:
    lines = (GAMMA / "gamma_markets_btc_updown_5m_resolved_2026-07-24_first5.jsonl").read_bytes()
    records = [decode_json(line) for line in lines.splitlines() if line.strip()]
    assert len(records) == 5
    for record in records:
        m = parse_market(record["raw"])
        assert m.condition_id == record["condition_id"]
        assert list(m.token_ids) == record["token_ids"]  # same pairing as the recorder's own
        assert [o.label for o in m.outcomes] == ["Up", "Down"]
        assert m.fees == FeeSchedule(rate=Decimal("0.07"), rebate_rate=Decimal("0.2"))
        assert m.tick_size == Decimal("0.001")
        assert m.closed
        assert not is_tradable(m)


# --- malformed input -------------------------------------------------------------------------


def fed() -> dict[str, Any]:
    return copy.deepcopy(load("gamma_market_negrisk_fed_live_2026-10-02_wrapped.json"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clobTokenIds": '["1", "2", "3"]'}, "3 clobTokenIds for 2 outcomes"),
        ({"clobTokenIds": '["1", '}, "clobTokenIds is not valid JSON"),
        ({"outcomes": "[1, 2]"}, "outcomes is not a list of strings"),
        ({"outcomes": '["Yes", "yes"]'}, "repeated outcome label"),
        ({"clobTokenIds": '["1", "1"]'}, "repeated token id"),
        ({"conditionId": ""}, "missing conditionId"),
        ({"clobTokenIds": None}, "missing clobTokenIds"),
        ({"orderPriceMinTickSize": "abc"}, "orderPriceMinTickSize: not a number"),
        ({"orderPriceMinTickSize": 1}, "implausible orderPriceMinTickSize"),
        ({"endDate": "tomorrow"}, "endDate: not a date"),
        ({"negRisk": "yes"}, "negRisk is not a boolean"),
        ({"feeSchedule": {"rate": 2, "exponent": 1}}, "implausible feeSchedule"),
    ],
)
def test_malformed_market_names_the_market(change: dict[str, object], message: str) -> None:
    raw = fed() | change
    with pytest.raises(MalformedMessage) as info:
        parse_market(raw)
    text = str(info.value)
    assert message in text
    assert "gamma market 2589812" in text
    assert "\n" not in text


def test_outcomes_paired_by_label_not_position() -> None:
    raw = fed() | {"outcomes": '["No", "Yes"]', "clobTokenIds": '["111", "222"]'}
    m = parse_market(raw)
    assert m.yes is not None
    assert m.yes.token_id == "222"
    assert m.no is not None
    assert m.no.token_id == "111"


def test_real_arrays_are_accepted_too() -> None:
    # public-search with optimized=true sends real arrays instead of JSON strings
    m = parse_market(fed() | {"outcomes": ["Yes", "No"], "clobTokenIds": ["7", "8"]})
    assert tokens(m) == {"Yes": "7", "No": "8"}


def test_numbers_from_stdlib_floats_and_strings() -> None:
    assert to_decimal(0.001, "x") == Decimal("0.001")
    assert to_decimal("820476.0282", "x") == Decimal("820476.0282")
    assert to_decimal(5, "x") == Decimal(5)
    with pytest.raises(MalformedMessage):
        to_decimal(True, "x")
    with pytest.raises(MalformedMessage):
        to_decimal("NaN", "x")
    stdlib = json.loads((GAMMA / "gamma_market_negrisk_open_2026-06.json").read_text())
    assert parse_market(stdlib).liquidity == Decimal("230438.22824")


def test_decimal_json_round_trip() -> None:
    raw = load("gamma_market_negrisk_fed_live_2026-10-02_wrapped.json")
    assert decode_json(encode_json(raw)) == raw
    assert b'"liquidityNum":820476.0282' in encode_json(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-11T18:41:17.827458Z", utc(2025, 7, 11, 18, 41, 17, 827458)),
        ("2026-04-01T18:24:05.41Z", utc(2026, 4, 1, 18, 24, 5, 410000)),
        ("2026-09-09 10:30:00+00", utc(2026, 9, 9, 10, 30)),
        ("2024-03-07 20:44:01.258+00", utc(2024, 3, 7, 20, 44, 1, 258000)),
        ("2026-05-02T23:30Z", utc(2026, 5, 2, 23, 30)),
        ("2024-11-05", utc(2024, 11, 5)),
        ("2026-05-02T19:30:00-04:00", utc(2026, 5, 2, 23, 30)),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(text, "x") == expected


def test_fallback_fee_schedule_is_conservative() -> None:
    assert fallback_fee_schedule("sports_fees_v3").rate == Decimal("0.05")
    assert fallback_fee_schedule("politics_fees").rate == Decimal("0.04")
    assert fallback_fee_schedule("geopolitics").rate == Decimal(0)
    assert fallback_fee_schedule("something_new").rate == Decimal("0.072")
    assert fallback_fee_schedule(None).rate == Decimal("0.072")


# --- selection (the pure part of discovery) --------------------------------------------------


def binary(n: int, **changes: object) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(load("gamma_market_crypto_updown_5m_2026-03.json"))
    raw.update(
        id=str(9000 + n),
        conditionId=f"0x{n:064x}",
        slug=f"binary-{n}",
        clobTokenIds=json.dumps([f"{n}1", f"{n}2"]),
        volume24hr=Decimal(1000 - n),
        events=[{"id": f"ev{n}", "slug": f"event-{n}", "tags": [{"label": "Crypto"}]}],
    )
    raw.update(changes)
    return raw


def election() -> dict[str, Any]:
    [event] = load("gamma_events_negrisk_election_2026-03.json")
    copied: dict[str, Any] = copy.deepcopy(event)
    return copied


def test_select_groups_a_complete_negrisk_event_and_keeps_binaries() -> None:
    bad = binary(3, clobTokenIds='["only-one"]')
    closed = binary(4, closed=True)
    universe = select_universe([binary(1), binary(2), bad, closed], [election()], MarketFilter())
    assert universe.skipped == 1
    assert [e.event_id for e in universe.events] == ["30829"]
    assert len(universe.events[0].markets) == 2
    slugs = [m.slug for m in universe.markets]
    assert "binary-4" not in slugs
    assert "binary-3" not in slugs
    assert len(universe.markets) == 4
    # the event (volume 129642 + 14323) ranks above the binaries (volume < 1000)
    assert universe.markets[0].event_id == "30829"
    assert len(universe.token_ids()) == 8
    leg = universe.events[0].markets[0]
    assert universe.market_of(leg.outcomes[1].token_id) == leg
    assert universe.market_of("nope") is None
    assert universe.event_of(leg) == universe.events[0]
    # raw objects kept for the recorder; nested legs get a compact events back-reference
    assert [r["conditionId"] for r in universe.raw] == [m.condition_id for m in universe.markets]
    assert universe.raw[0]["events"][0]["id"] == "30829"  # type: ignore[index]
    assert parse_market(universe.raw[0]).event_id == "30829"


def test_select_filters() -> None:
    markets = [binary(1), binary(2, liquidityNum=Decimal(5)), binary(3)]
    events = [election()]

    def slugs(flt: MarketFilter) -> set[str]:
        return {m.slug for m in select_universe(markets, events, flt).markets}

    legs = {m["slug"] for m in election()["markets"]}
    assert slugs(MarketFilter(slugs=("binary-2",))) == {"binary-2"}
    assert slugs(MarketFilter(slugs=("democratic-presidential-nominee-2028",))) == legs
    assert slugs(MarketFilter(tags=("politics",))) == legs
    assert slugs(MarketFilter(tags=("crypto",))) == {"binary-1", "binary-2", "binary-3"}
    excluded = MarketFilter(exclude_slugs=("binary-1", "democratic-presidential-nominee-2028"))
    assert slugs(excluded) == {"binary-2", "binary-3"}
    assert slugs(MarketFilter(exclude_slugs=("binary-1",))) == {"binary-2", "binary-3"} | legs
    assert slugs(MarketFilter(include_neg_risk=False)) == {"binary-1", "binary-2", "binary-3"}
    assert slugs(MarketFilter(min_liquidity=Decimal(100))) == {"binary-1", "binary-3"} | legs
    # the cap keeps the highest volume first and takes an event whole or not at all
    assert slugs(MarketFilter(max_markets=3)) == legs | {"binary-1"}
    assert slugs(MarketFilter(max_markets=1)) == {"binary-1"}


def test_incomplete_negrisk_event_is_not_a_set() -> None:
    event = election()
    event["markets"][1]["acceptingOrders"] = False  # one open leg cannot be bought
    universe = select_universe([], [event], MarketFilter())
    assert universe.events == ()
    # the tradable leg is still usable as a plain binary market
    assert [m.group_item_title for m in universe.markets] == ["Stephen A. Smith"]

    event = election()
    event["markets"][1]["closed"] = True  # a resolved leg leaves the set: 1 leg is no set
    assert select_universe([], [event], MarketFilter()).events == ()

    event = election()
    event["markets"][1]["outcomes"] = "not json"  # an unreadable open leg: set unknowable
    universe = select_universe([], [event], MarketFilter())
    assert universe.events == ()
    assert universe.skipped == 1

    # a negRisk market whose event was not fetched is traded alone, never as a set
    alone = load("gamma_market_negrisk_fed_live_2026-10-02_wrapped.json")
    universe = select_universe([alone], [], MarketFilter())
    assert universe.events == ()
    assert [m.gamma_id for m in universe.markets] == ["2589812"]


def test_excluding_one_leg_breaks_the_set() -> None:
    leg_slug = election()["markets"][0]["slug"]
    universe = select_universe([], [election()], MarketFilter(exclude_slugs=(leg_slug,)))
    assert universe.events == ()
    assert [m.group_item_title for m in universe.markets] == ["Gretchen Whitmer"]


# --- negRisk events are what they claim (issue 8, item 4) -------------------------------------


def _leg(event: dict[str, Any], i: int) -> dict[str, Any]:
    leg: dict[str, Any] = event["markets"][i]
    return leg


def _plain_election(extra_legs: int = 1) -> dict[str, Any]:
    """The election event, not augmented, with ``extra_legs`` more open named legs."""
    return election_event(2 + extra_legs)


def _close(leg: dict[str, Any], prices: str | None, status: str | None = "resolved") -> None:
    leg.update(closed=True, acceptingOrders=False)
    if prices is None:
        leg.pop("outcomePrices", None)
    else:
        leg["outcomePrices"] = prices
    leg["umaResolutionStatus"] = status


def test_a_closed_leg_counts_only_when_it_resolved_no() -> None:
    plain = select_universe([], [_plain_election()], MarketFilter())
    [event] = plain.events
    assert event.is_complete_set
    assert len(event.markets) == 3

    no = _plain_election()
    _close(_leg(no, 2), '["0", "1"]')
    [event] = select_universe([], [no], MarketFilter()).events
    assert len(event.markets) == 2
    assert event.is_complete_set
    assert event.resolved_no == (f"0x{0xE0:064x}",)

    for prices, status in [
        ('["1", "0"]', "resolved"),  # the closed leg won: the open legs all lose
        ('["0.5", "0.5"]', "resolved"),  # a split: the set pays less than $1
        ('["0.0005", "0.9995"]', "resolved"),  # not final prices
        ('["0", "1"]', "proposed"),  # the resolution can still be disputed
        (None, None),  # no prices at all
    ]:
        event_raw = _plain_election()
        _close(_leg(event_raw, 2), prices, status)
        universe = select_universe([], [event_raw], MarketFilter())
        assert universe.events == (), (prices, status)


def test_unreadable_closed_leg_counts_only_when_it_resolved_no() -> None:
    event_raw = _plain_election()
    _close(_leg(event_raw, 2), '["0", "1"]')
    _leg(event_raw, 2)["clobTokenIds"] = "not json"
    [event] = select_universe([], [event_raw], MarketFilter()).events
    assert len(event.markets) == 2

    event_raw = _plain_election()
    _close(_leg(event_raw, 2), '["1", "0"]')
    _leg(event_raw, 2)["clobTokenIds"] = "not json"
    assert select_universe([], [event_raw], MarketFilter()).events == ()


def test_augmented_event_leaves_placeholders_out_and_is_no_yes_set() -> None:
    event_raw = _plain_election(extra_legs=2)
    event_raw["negRiskAugmented"] = True
    _leg(event_raw, 2)["groupItemTitle"] = "Person A"
    _leg(event_raw, 3)["groupItemTitle"] = "Other"
    _leg(event_raw, 3)["negRiskOther"] = True
    [event] = select_universe([], [event_raw], MarketFilter()).events
    assert [m.group_item_title for m in event.markets] == ["Stephen A. Smith", "Gretchen Whitmer"]
    assert event.augmented
    assert not event.is_complete_set  # a placeholder may win
    assert event.is_convertible  # NO of the named outcomes converts into k - 1 (+ YES of the rest)
    assert universe_round_trip(event_raw).augmented


def universe_round_trip(event_raw: dict[str, Any]) -> MarketEvent:
    """What a replay of the recording's events.json regroups."""
    universe = select_universe([], [event_raw], MarketFilter())
    [objects] = universe.event_objects()
    [event] = select_universe([], [objects], MarketFilter()).events
    return event


def test_placeholder_in_a_plain_event_is_no_complete_set() -> None:
    event_raw = _plain_election()
    _leg(event_raw, 2)["groupItemTitle"] = "Other"
    [event] = select_universe([], [event_raw], MarketFilter()).events
    assert not event.is_complete_set
    assert not event.is_convertible


def test_market_payouts_from_gamma() -> None:
    no = parse_market(load("gamma_market_closed_resolved_no.json"))
    assert no.payouts == (Decimal(0), Decimal(1))
    yes = parse_market(load("gamma_market_closed_resolved_yes.json"))
    assert yes.payouts is not None
    assert yes.payouts[0] == 1
    split = copy.deepcopy(load("gamma_market_closed_resolved_no.json"))
    split["outcomePrices"] = '["0.5", "0.5"]'
    assert parse_market(split).payouts == (Decimal("0.5"), Decimal("0.5"))
    open_raw = load("gamma_market_negrisk_open_2026-06.json")
    assert parse_market(open_raw).payouts is None
