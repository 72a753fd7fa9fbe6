"""Wire format: envelopes, decimals as strings, version and shape checks, bounded state size."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from polyarb.bus import Channel, CommandAck, Envelope, Subscription
from polyarb.bus.codec import MAX_MESSAGE_BYTES, IncompatibleSchema, decode, encode
from polyarb.bus.schemas import MAX_OPPORTUNITIES, MAX_POSITIONS, Payload
from polyarb.domain.errors import MalformedMessage

from .helpers import command, engine_state, error_event, signal_event, trade_event

PAYLOADS: list[Payload] = [
    engine_state(),
    signal_event(),
    trade_event(),
    error_event(),
    command("strategy_set_param", strategy="sumto100", param="min_edge", value="0.004"),
    CommandAck(command_id="c1", action="pause", accepted=True, applied_ns=1),
]


def envelope(payload: Payload, **overrides: object) -> Envelope:
    fields: dict[str, object] = {
        "channel": payload.CHANNEL,
        "instance_id": "engine-1",
        "seq": 7,
        "ts_ns": 1_760_000_000_000_000_000,
        "type": payload.TYPE,
        "data": payload,
    }
    fields.update(overrides)
    return Envelope(**fields)  # type: ignore[arg-type]


def as_json(payload: Payload, **overrides: object) -> dict[str, object]:
    return json.loads(encode(envelope(payload, **overrides)))


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.TYPE)
def test_each_payload_survives_the_wire(payload: Payload) -> None:
    decoded = decode(encode(envelope(payload)))
    assert decoded == envelope(payload)


def test_decimals_travel_as_strings_never_floats() -> None:
    wire = as_json(signal_event())
    data = wire["data"]
    assert isinstance(data, dict)
    assert data["edge"] == "0.0171"
    assert data["legs"][0]["vwap"] == "0.4861"
    assert data["legs"][0]["side"] == "BUY"
    state = as_json(engine_state())["data"]
    assert isinstance(state, dict)
    assert state["pnl"]["realized"] == "12.345678"
    assert state["positions"][0]["size"] == "125.123456"
    assert state["mode"] == "paper"
    floats = [v for v in _leaves(wire) if isinstance(v, float)]
    assert floats == []


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_envelope_fields_are_on_the_wire() -> None:
    wire = as_json(error_event())
    assert list(wire) == [
        "schema_version",
        "channel",
        "instance_id",
        "seq",
        "ts_ns",
        "type",
        "data",
    ]
    assert wire["schema_version"] == 1
    assert wire["channel"] == "poly:errors"
    assert wire["type"] == "error"


def test_another_schema_version_is_refused_as_incompatible() -> None:
    raw = json.dumps(as_json(error_event()) | {"schema_version": 2})
    with pytest.raises(IncompatibleSchema, match="schema_version 2"):
        decode(raw)


def test_unknown_fields_are_ignored_so_additions_stay_compatible() -> None:
    wire = as_json(error_event())
    wire["route"] = "eu-1"
    assert isinstance(wire["data"], dict)
    wire["data"]["added_later"] = 1
    assert decode(json.dumps(wire)).data == error_event()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channel": "poly:gossip"}, "unknown channel"),
        ({"type": "rumour"}, "unknown payload type"),
        ({"channel": "poly:state"}, "does not belong on poly:state"),
        ({"seq": 0}, "bad envelope"),
        ({"instance_id": ""}, "bad envelope"),
        ({"seq": "7"}, "bad envelope"),
        ({"data": {"source": "feed"}}, "bad error payload"),
        ({"data": {"source": "f", "kind": "k", "message": "m", "details": {"a": 1}}}, "details"),
    ],
)
def test_malformed_messages_say_what_is_wrong(change: dict[str, object], message: str) -> None:
    raw = json.dumps(as_json(error_event()) | change)
    with pytest.raises(MalformedMessage, match=message):
        decode(raw)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'{"seq": 1', b"\xff\xfe", b"null"])
def test_garbage_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(raw)


def test_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedMessage, match="exceeds"):
        decode(b" " * (MAX_MESSAGE_BYTES + 1))


def test_a_float_where_a_price_belongs_is_read_exactly() -> None:
    # Our encoder never writes numbers for decimals; a foreign one might: parse the digits, not
    # a binary float.
    wire = as_json(trade_event())
    assert isinstance(wire["data"], dict)
    raw = encode(envelope(trade_event())).replace(b'"price":"0.4861"', b'"price":0.1')
    decoded = decode(raw).data
    assert decoded.fill is not None  # type: ignore[union-attr]
    assert decoded.fill.price == Decimal("0.1")  # type: ignore[union-attr]


async def test_subscription_counts_and_skips_bad_messages() -> None:
    subscription = Subscription([Channel.ERRORS])
    subscription.offer_raw(b"{oops")
    subscription.offer_raw(json.dumps(as_json(error_event()) | {"schema_version": 99}))
    subscription.offer_raw(encode(envelope(error_event(), seq=1)))
    subscription.offer_raw(encode(envelope(trade_event(), seq=1)))  # not subscribed: ignored
    subscription.offer_raw(encode(envelope(error_event(), seq=2)))

    first = await anext(subscription)
    second = await anext(subscription)

    assert (first.seq, second.seq) == (1, 2)
    assert subscription.stats.malformed == 1
    assert subscription.stats.incompatible == 1
    assert subscription.stats.received == 2


def test_a_full_state_stays_small() -> None:
    state = engine_state(opportunities=MAX_OPPORTUNITIES, positions=MAX_POSITIONS)
    size = len(encode(envelope(state)))
    assert size < 32 * 1024  # measured ~20 KiB; bench/bench_bus.py prints it


def test_bounded_keeps_the_best_opportunities_and_largest_positions() -> None:
    state = engine_state(opportunities=300, positions=120)
    bounded = state.bounded()
    assert len(bounded.opportunities) == MAX_OPPORTUNITIES
    assert bounded.opportunities_total == 300
    best = sorted((o.expected_profit for o in state.opportunities), reverse=True)
    assert [o.expected_profit for o in bounded.opportunities] == best[:MAX_OPPORTUNITIES]
    assert len(bounded.positions) == MAX_POSITIONS
    assert bounded.positions_total == 120
    small = engine_state(opportunities=3, positions=2)
    assert small.bounded() is small


def test_payloads_are_frozen() -> None:
    state = engine_state()
    with pytest.raises(AttributeError):
        state.status = "stopped"  # type: ignore[misc]
    assert msgspec.structs.replace(state, status="stopped").status == "stopped"
