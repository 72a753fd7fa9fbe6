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
