"""An independent order-book oracle for the ordering tests (no tests here).

It shares no code with ``BookStore``: it reads frames with the standard ``json`` module, keeps
each token's sides as plain ``{Decimal price: Decimal size}`` dicts, and applies every message
in the order given, which is what the venue's book is after those messages.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

Side = dict[Decimal, Decimal]


class OracleBooks:
    """token id -> (bids, asks), built by applying frames strictly in the order given."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[Side, Side]] = {}

    def apply(self, raw: str) -> None:
        decoded = json.loads(raw)
        for message in decoded if isinstance(decoded, list) else [decoded]:
            kind = message.get("event_type")
            if kind == "book":
                bids = {Decimal(lv["price"]): Decimal(lv["size"]) for lv in message["bids"]}
                asks = {Decimal(lv["price"]): Decimal(lv["size"]) for lv in message["asks"]}
                self.books[message["asset_id"]] = (
                    {p: s for p, s in bids.items() if s},
                    {p: s for p, s in asks.items() if s},
                )
            elif kind == "price_change":
                for entry in message["price_changes"]:
                    book = self.books.get(entry["asset_id"])
                    if book is None:
                        continue  # no snapshot yet: nothing to update
                    side = book[0] if entry["side"] == "BUY" else book[1]
                    price, size = Decimal(entry["price"]), Decimal(entry["size"])
                    if size:
                        side[price] = size
                    else:
                        side.pop(price, None)

    def levels(self, token_id: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) best first, in the book's integer units (price 1e-4, size 1e-6)."""
        bids, asks = self.books[token_id]

        def units(side: Side, reverse: bool) -> list[tuple[int, int]]:
            return [
                (int(p * 10_000), int(s * 1_000_000))
                for p, s in sorted(side.items(), reverse=reverse)
            ]

        return units(bids, True), units(asks, False)

    def best(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        bids, asks = self.books[token_id]
        return (max(bids) if bids else None, min(asks) if asks else None)


def jittered_stream(yes: str, no: str, t0: int, seed: int, count: int) -> list[str]:
    """Frames of one binary market (mirrored level changes, and snapshots of either token mixed
    in) whose venue timestamps wander back and forth by tens of ms around a rising clock."""
    rng = random.Random(seed)
    prices = [f"0.{n:02d}" for n in range(30, 71)]
    frames = []
    clock = t0
    for _ in range(count):
        clock += rng.randrange(1, 20)
        ts = str(clock + rng.randrange(-60, 61))  # a label, not an order
        if rng.random() < 0.08:
            bids = sorted(rng.sample(prices[:20], 3))
            asks = sorted(rng.sample(prices[21:], 3), reverse=True)
            snapshot = {
                "event_type": "book",
                "asset_id": rng.choice((yes, no)),
                "market": "0xm",
                "bids": [{"price": p, "size": str(rng.randrange(1, 50))} for p in bids],
                "asks": [{"price": p, "size": str(rng.randrange(1, 50))} for p in asks],
                "timestamp": ts,
                "hash": "h",
            }
            frames.append(json.dumps(snapshot))
            continue
        side = rng.choice(("BUY", "SELL"))
        price = Decimal(rng.choice(prices[:20] if side == "BUY" else prices[21:]))
        size = rng.choice(("0", "0", str(rng.randrange(1, 500)), f"{rng.randrange(1, 99)}.5"))
        other = "SELL" if side == "BUY" else "BUY"
        change = {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": ts,
            "price_changes": [
                {"asset_id": yes, "side": side, "price": str(price), "size": size},
                {"asset_id": no, "side": other, "price": str(1 - price), "size": size},
            ],
        }
        frames.append(json.dumps(change))
    return frames


def _text(price: Decimal) -> str:
    return format(price.normalize(), "f")


class VenueStream:
    """One binary market streamed as the venue does: every level change is one message with the
    entry for YES and its mirror for NO (1 - p, the other side), each carrying its asset's best
    bid and ask after the message ("0"/"1" for an empty side), worked out on an ``OracleBooks``.
    Frames are produced, not delivered: a test decides what reaches the client and in what order
    (``oracle`` always holds the venue's truth)."""

    def __init__(self, yes: str, no: str, t0: int, jitter_ms: int = 0, seed: int = 0) -> None:
        self.yes, self.no = yes, no
        self.ts = t0
        self.oracle = OracleBooks()
        self.jitter_ms = jitter_ms  # timestamps wander this far around a rising clock
        self.rng = random.Random(seed)

    def _stamp(self) -> str:
        self.ts += 7
        return str(self.ts + self.rng.randint(-self.jitter_ms, self.jitter_ms))

    def snapshot(self, token: str) -> str:
        """The venue's ``book`` of a token now (the oracle's state)."""
        bids, asks = self.oracle.books[token]
        message = {
            "event_type": "book",
            "asset_id": token,
            "market": "0xm",
            "bids": [{"price": _text(p), "size": _text(s)} for p, s in sorted(bids.items())],
            "asks": [
                {"price": _text(p), "size": _text(s)} for p, s in sorted(asks.items(), reverse=True)
            ],
            "timestamp": self._stamp(),
            "hash": "h",
        }
        return json.dumps(message)

    def open(self, bids: dict[str, str], asks: dict[str, str]) -> list[str]:
        """Both books (YES as given, NO its mirror) and their snapshot frames."""
        yes_bids = {Decimal(p): Decimal(s) for p, s in bids.items()}
        yes_asks = {Decimal(p): Decimal(s) for p, s in asks.items()}
        self.oracle.books[self.yes] = (yes_bids, yes_asks)
        self.oracle.books[self.no] = (
            {1 - p: s for p, s in yes_asks.items()},
            {1 - p: s for p, s in yes_bids.items()},
        )
        return [self.snapshot(self.yes), self.snapshot(self.no)]

    def change(self, side: str, price: str, size: str) -> str:
        """A resting YES order changed the level ``side``@``price`` to ``size`` ("0" removes)."""
        p = Decimal(price)
        other = "SELL" if side == "BUY" else "BUY"
        entries = [
            {"asset_id": self.yes, "side": side, "price": _text(p), "size": size},
            {"asset_id": self.no, "side": other, "price": _text(1 - p), "size": size},
        ]
        message = {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": self._stamp(),
            "price_changes": entries,
        }
        self.oracle.apply(json.dumps(message))
        for entry in entries:
            bid, ask = self.oracle.best(entry["asset_id"])
            entry["best_bid"] = "0" if bid is None else _text(bid)
            entry["best_ask"] = "1" if ask is None else _text(ask)
        return json.dumps(message)

    def random_frames(self, rng: random.Random, steps: int, snapshot_every: int) -> list[str]:
        """A random stream on the levels around the mid: a snapshot of either token every
        ``snapshot_every`` steps, a YES level change (and its NO mirror) at the others."""
        frames = []
        for step in range(steps):
            if step % snapshot_every == 0:
                frames.append(self.snapshot(rng.choice((self.yes, self.no))))
                continue
            side = rng.choice(("BUY", "SELL"))
            cents = rng.randrange(30, 50) if side == "BUY" else rng.randrange(51, 71)
            frames.append(self.change(side, f"0.{cents}", rng.choice(("0", "3", "12.5"))))
        return frames
