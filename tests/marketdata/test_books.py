"""BookStore: mirrored updates, removal, arrival-order application, duplicates, tick changes,
bad input."""

from __future__ import annotations

import json

import pytest

from polyarb.domain.book import Side
from polyarb.marketdata.books import BookStore, FeedStats, NullListener

from .oracle import OracleBooks, jittered_stream

YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
T0 = 1_757_908_892_000


def book_frame(
    asset: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    ts: int = T0,
    **extra: str,
) -> str:
    return json.dumps(
        {
            "event_type": "book",
            "asset_id": asset,
            "market": "0xm",
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "timestamp": str(ts),
            "hash": "h",
            **extra,
        }
    )


def change_frame(ts: int, *entries: tuple[str, str, str, str]) -> str:
    """entries: (asset, side, price, size)."""
    return json.dumps(
        {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": str(ts),
            "price_changes": [
                {"asset_id": a, "side": side, "price": p, "size": s, "hash": "x"}
                for a, side, p, s in entries
            ],
        }
    )


def mirrored(ts: int, side: str, price: str, size: str) -> str:
    """One resting order seen by both tokens: YES side@p and NO opposite side@(1-p)."""
    from decimal import Decimal

    other = "SELL" if side == "BUY" else "BUY"
    return change_frame(
        ts, (YES, side, price, size), (NO, other, str(Decimal(1) - Decimal(price)), size)
    )


@pytest.fixture
def store() -> BookStore:
    s = BookStore()
    # YES: bids 0.48/0.49/0.50, asks 0.54/0.53/0.52 (wire order: best last); NO is the mirror.
    s.on_frame(
        "["
        + book_frame(
            YES,
            [("0.48", "30"), ("0.49", "20"), ("0.5", "15")],
            [("0.54", "10"), ("0.53", "60"), ("0.52", "25")],
        )
        + ","
        + book_frame(
            NO,
            [("0.46", "10"), ("0.47", "60"), ("0.48", "25")],
            [("0.52", "30"), ("0.51", "20"), ("0.5", "15")],
        )
        + "]",
        1,
    )
    return s


def levels(store: BookStore, token: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return store.books[token].snapshot_levels()


def test_snapshot_array_builds_both_books(store: BookStore) -> None:
    yes, no = store.books[YES], store.books[NO]
    assert (yes.best_bid(), yes.best_ask()) == (5000, 5200)
    assert (no.best_bid(), no.best_ask()) == (4800, 5000)
    assert not yes.stale
    assert not no.stale
    assert store.stats.book_events == 2
    assert store.stats.events_by_type["book"] == 2


def test_mirrored_price_change_updates_both_tokens(store: BookStore) -> None:
    changed = store.on_frame(mirrored(T0 + 1, "BUY", "0.51", "200"), 2)
    assert changed == {YES, NO}
    assert store.books[YES].best_bid() == 5100
    assert store.books[NO].best_ask() == 4900
    assert store.books[YES].bids.levels[5100] == 200_000_000
    assert store.books[NO].asks.levels[4900] == 200_000_000
    assert store.books[YES].ts_event_ms == T0 + 1
    assert store.books[YES].ts_recv_ns == 2
    assert store.stats.book_events == 2 + 2


def test_size_is_absolute_and_zero_removes(store: BookStore) -> None:
    store.on_frame(change_frame(T0 + 1, (YES, "BUY", "0.49", "5.5")), 2)
    assert store.books[YES].bids.levels[4900] == 5_500_000
    store.on_frame(change_frame(T0 + 2, (YES, "BUY", "0.5", "0")), 3)
    assert store.books[YES].best_bid() == 4900
    store.on_frame(change_frame(T0 + 3, (YES, "SELL", "0.52", "0"), (YES, "SELL", "0.9", "0")), 4)
    assert store.books[YES].best_ask() == 5300  # removing an absent level is harmless
    assert [p for p, _ in levels(store, YES)[1]] == [5300, 5400]


def test_duplicate_frames_are_harmless(store: BookStore) -> None:
    frame = mirrored(T0 + 1, "SELL", "0.515", "12")
    store.on_frame(frame, 2)
    once = (levels(store, YES), levels(store, NO))
    store.on_frame(frame, 3)
    store.on_frame(frame, 4)
    assert (levels(store, YES), levels(store, NO)) == once
    assert store.stats.ts_backwards == 0


def test_an_update_stamped_earlier_is_applied_in_arrival_order(store: BookStore) -> None:
    store.on_frame(change_frame(T0 + 20, (YES, "BUY", "0.49", "77")), 2)
    # Stamped earlier, arrived later: on one connection arrival order is the venue's order.
    changed = store.on_frame(
        change_frame(T0 + 10, (YES, "BUY", "0.49", "1"), (YES, "BUY", "0.48", "3")), 3
    )
    assert changed == {YES}
    book = store.books[YES]
    assert book.bids.levels[4900] == 1_000_000
    assert book.bids.levels[4800] == 3_000_000
    assert book.ts_event_ms == T0 + 10  # the label of the last message applied
    assert store.stats.ts_backwards == 1  # counted, never a reason to drop


def test_an_update_stamped_before_the_snapshot_is_applied(store: BookStore) -> None:
    assert store.on_frame(change_frame(T0 - 5, (YES, "BUY", "0.3", "9")), 2) == {YES}
    assert store.books[YES].bids.levels[3000] == 9_000_000
    assert store.stats.ts_backwards == 1


def test_a_snapshot_stamped_earlier_replaces_the_book_in_arrival_order(store: BookStore) -> None:
    store.on_frame(change_frame(T0 + 50, (YES, "BUY", "0.45", "1")), 2)
    old = book_frame(YES, [("0.1", "1")], [("0.9", "1")], ts=T0 + 40)
    assert store.on_frame(old, 3) == {YES}
    assert levels(store, YES) == ([(1000, 1_000_000)], [(9000, 1_000_000)])
    store.on_frame(change_frame(T0 + 35, (YES, "BUY", "0.3", "1")), 5)
    assert levels(store, YES)[0] == [(3000, 1_000_000), (1000, 1_000_000)]
    assert store.stats.ts_backwards == 2


@pytest.mark.parametrize("seed", range(5))
def test_jittered_timestamps_end_in_the_in_order_books(store: BookStore, seed: int) -> None:
    oracle = OracleBooks()
    for token, side_levels in (
        (YES, ([("0.48", "30"), ("0.49", "20"), ("0.5", "15")], [("0.52", "25")])),
        (NO, ([("0.48", "25")], [("0.52", "30"), ("0.51", "20"), ("0.5", "15")])),
    ):
        frame = book_frame(token, *side_levels)
        oracle.apply(frame)
        store.on_frame(frame, 1)
    frames = jittered_stream(YES, NO, T0, seed, 2_000)
    for recv_ns, frame in enumerate(frames, 2):
        oracle.apply(frame)
        store.on_frame(frame, recv_ns)
    assert store.stats.ts_backwards > 100  # the stream really went backwards, often
    for token in (YES, NO):
        assert not store.books[token].stale
        assert levels(store, token) == oracle.levels(token)


def test_price_change_without_snapshot_is_counted_not_applied() -> None:
    store = BookStore()
    store.register(YES, market="0xm", tick=100)
    assert store.books[YES].stale
    assert (
        store.on_frame(change_frame(T0, (YES, "BUY", "0.5", "1"), ("other", "BUY", "0.5", "1")), 1)
        == set()
    )
    assert store.stats.no_book == 2
    assert len(store.books[YES].bids) == 0
    assert "other" not in store.books


def test_tick_size_change_clears_until_fresh_snapshot() -> None:
    calls: list[tuple[str, int]] = []

    class Listener(NullListener):
        def on_tick_size_change(self, token_id: str, new_tick: int) -> None:
            calls.append((token_id, new_tick))

    store = BookStore(Listener())
    store.on_frame(book_frame(YES, [("0.95", "1")], [("0.97", "1")], tick_size="0.01"), 1)
    tick = {
        "event_type": "tick_size_change",
        "asset_id": YES,
        "market": "0xm",
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
        "timestamp": str(T0 + 10),
    }
    assert store.on_frame(json.dumps(tick), 2) == {YES}
    book = store.books[YES]
    assert book.stale
    assert len(book.bids) == 0
    assert book.tick == 10
    assert calls == [(YES, 10)]
    # Deltas before the fresh snapshot would build a partial book: not applied.
    store.on_frame(change_frame(T0 + 11, (YES, "BUY", "0.955", "4")), 3)
    assert len(book.bids) == 0
    assert store.stats.no_book == 1
    # The fresh snapshot that follows restores the book, whatever its timestamp says.
    store.on_frame(book_frame(YES, [("0.955", "2")], [("0.957", "3")], ts=T0 + 5), 5)
    assert not book.stale
    assert (book.best_bid(), book.best_ask()) == (9550, 9570)
    store.on_frame(change_frame(T0 + 13, (YES, "BUY", "0.956", "4")), 6)
    assert book.best_bid() == 9560


def test_malformed_numbers_are_counted_and_mark_the_book_stale(store: BookStore) -> None:
    bad = [
        change_frame(T0 + 1, (YES, "BUY", "0.12345", "1")),  # too many decimals
        change_frame(T0 + 1, (YES, "BUY", "1.5", "1")),  # price above 1
        change_frame(T0 + 1, (YES, "BUY", "0.5", "-3")),  # negative size
        change_frame(T0 + 1, (YES, "BUY", "0.5", "1e3")),
    ]
    for i, frame in enumerate(bad, 1):
        store.on_frame(frame, 10 + i)
        assert store.stats.malformed == i
    assert store.books[YES].stale
    assert store.books[YES].bids.levels[5000] == 15_000_000  # nothing bogus applied
    assert all(size > 0 for size in store.books[YES].bids.levels.values())
    # The good entries of a partly bad message still apply; the other book stays trusted.
    store.on_frame(change_frame(T0 + 2, (YES, "BUY", "x", "1"), (NO, "BUY", "0.44", "2")), 20)
    assert store.books[NO].bids.levels[4400] == 2_000_000
    assert not store.books[NO].stale
    # A fresh snapshot makes the book trusted again.
    store.on_frame(book_frame(YES, [("0.4", "1")], [("0.6", "1")], ts=T0 + 3), 21)
    assert not store.books[YES].stale


def test_malformed_snapshot_keeps_old_levels_but_marks_stale(store: BookStore) -> None:
    store.on_frame(book_frame(YES, [("0.4", "abc")], [("0.6", "1")], ts=T0 + 1), 2)
    assert store.books[YES].stale
    assert store.books[YES].best_bid() == 5000
    store.on_frame(book_frame(YES, [("0.4", "1")], [], ts="soon"), 3)  # type: ignore[arg-type]
    assert store.stats.malformed == 2


def test_on_frame_never_raises_on_garbage(store: BookStore) -> None:
    for raw in ("", "PONG", "[]", "{]", b"\x00\xff", "[1]", '{"event_type":"wat"}', "null"):
        assert store.on_frame(raw, 1) == set()
    assert store.stats.pongs == 1
    assert store.stats.unknown == 1
    assert store.stats.malformed == 5
    assert store.stats.frames == 1 + 8  # the fixture's snapshot array + the 8 here


def test_mark_stale_until_the_next_snapshot(store: BookStore) -> None:
    store.on_frame(change_frame(T0 + 100, (YES, "BUY", "0.45", "1")), 2)
    store.mark_stale([YES, "unknown-token"])
    assert store.books[YES].stale
    assert not store.books[NO].stale
    # After a resubscription the venue's snapshot is the truth.
    assert store.on_frame(book_frame(YES, [("0.3", "1")], [("0.7", "1")], ts=T0 + 1), 3) == {YES}
    assert not store.books[YES].stale
    assert store.books[YES].best_bid() == 3000
    store.mark_stale()
    assert store.books[YES].stale
    assert store.books[NO].stale


def test_apply_snapshot_from_rest_replaces_the_book(store: BookStore) -> None:
    store.apply_snapshot(YES, [(4000, 1)], [(6000, 2)], T0 + 5, 9, book_hash="r")
    assert store.books[YES].hash == "r"
    assert store.books[YES].best_bid() == 4000
    store.apply_snapshot("new", [(1000, 1)], [], 1, 11, market="0xn")
    assert store.books["new"].market == "0xn"
    assert not store.books["new"].stale


def test_trades_resolution_and_new_markets_reach_the_listener(store: BookStore) -> None:
    calls: list[tuple[object, ...]] = []

    class Listener(NullListener):
        def on_trade(self, token_id: str, price: int, size: int, side: Side, ts: int) -> None:
            calls.append(("trade", token_id, price, size, side, ts))

        def on_resolved(self, market: str, winning_token_id: str, winning_outcome: str) -> None:
            calls.append(("resolved", market, winning_token_id, winning_outcome))

        def on_new_market(self, raw: dict[str, object]) -> None:
            calls.append(("new", raw["question"], raw["fee_schedule"]))

    store.listener = Listener()
    frame = [
        {
            "event_type": "last_trade_price",
            "asset_id": YES,
            "price": "0.52",
            "size": "10",
            "side": "BUY",
            "timestamp": str(T0 + 1),
        },
        {
            "event_type": "market_resolved",
            "market": "0xm",
            "assets_ids": [YES, NO],
            "winning_asset_id": NO,
            "winning_outcome": "No",
            "timestamp": str(T0 + 2),
        },
        {"event_type": "new_market", "question": "Q?", "fee_schedule": {"rate": "0.07"}},
    ]
    changed = store.on_frame(json.dumps(frame), 5)
    assert calls == [
        ("trade", YES, 5200, 10_000_000, Side.BUY, T0 + 1),
        ("resolved", "0xm", NO, "No"),
        ("new", "Q?", {"rate": "0.07"}),
    ]
    assert changed == {YES, NO}  # resolved books are stale now: never trade on them
    assert store.books[YES].stale
    assert store.books[NO].stale
    assert store.books[YES].last_trade_price == 5200


def test_a_failing_listener_does_not_stop_the_feed(store: BookStore) -> None:
    class Broken(NullListener):
        def on_trade(self, token_id: str, price: int, size: int, side: Side, ts: int) -> None:
            raise RuntimeError("bug")

    store.listener = Broken()
    trade = {
        "event_type": "last_trade_price",
        "asset_id": YES,
        "price": "0.52",
        "size": "1",
        "side": "SELL",
        "timestamp": str(T0 + 1),
    }
    store.on_frame(json.dumps([trade, json.loads(mirrored(T0 + 2, "BUY", "0.51", "1"))]), 2)
    assert store.stats.listener_errors == 1
    assert store.books[YES].best_bid() == 5100


def test_stats_defaults() -> None:
    stats = FeedStats()
    assert stats.frames == stats.malformed == stats.book_events == 0
    assert stats.events_by_type["price_change"] == 0


def test_bad_timestamp_marks_every_book_of_the_message_stale(store: BookStore) -> None:
    frame = change_frame(T0, (YES, "BUY", "0.45", "1"), (NO, "SELL", "0.55", "1"))
    changed = store.on_frame(frame.replace(f'"{T0}"', '"yesterday"'), 2)
    assert changed == {YES, NO}
    assert store.books[YES].stale
    assert store.books[NO].stale
    assert 4500 not in store.books[YES].bids.levels
    assert store.stats.malformed == 1


def test_malformed_snapshot_of_an_unknown_token_creates_nothing() -> None:
    store = BookStore()
    assert store.on_frame(book_frame("ghost", [("0.4", "-1")], []), 1) == set()
    assert store.books == {}
    assert store.stats.malformed == 1
