"""Wire schemas of the CLOB market WebSocket channel (``/ws/market``), as msgspec Structs.

Every event carries ``event_type``, which tags the union. Numbers stay the wire's decimal strings:
``books`` parses them into exact integers (``domain.numbers``), so a malformed number is caught
there, never silently rounded here. Only the fields the engine uses are required; the rest are
optional so that a venue adding or dropping a cosmetic key does not cost us book updates.

Structs are ``gc=False``: they hold only strings and lists of other Structs (no cycles), and
skipping the garbage collector's tracking makes decoding tens of thousands of them per second
measurably cheaper.
"""

from __future__ import annotations

from typing import Literal

import msgspec

WireSide = Literal["BUY", "SELL"]


class Level(msgspec.Struct, gc=False):
    """One aggregated price level of a ``book`` snapshot."""

    price: str
    size: str


class Book(msgspec.Struct, tag_field="event_type", tag="book", gc=False):
    """Full aggregated snapshot. Wire order is best LAST (bids ascending, asks descending)."""

    asset_id: str
    bids: list[Level]
    asks: list[Level]
    timestamp: str
    market: str = ""
    hash: str = ""
    tick_size: str = ""
    last_trade_price: str = ""


class PriceChangeEntry(msgspec.Struct, gc=False):
    """New absolute size of one level of ``asset_id``; ``size`` "0" removes the level."""

    asset_id: str
    price: str
    size: str
    side: WireSide
    hash: str = ""
    best_bid: str | None = None
    best_ask: str | None = None


class LegacyChange(msgspec.Struct, gc=False):
    """An entry of the pre-2025 ``changes`` list (the asset is the event's ``asset_id``)."""

    price: str
    size: str
    side: WireSide


class PriceChange(msgspec.Struct, tag_field="event_type", tag="price_change", gc=False):
    """Level deltas. Current format: ``price_changes[]``, each entry naming its asset.

    The legacy formats (before 2025-09-15) are accepted too: one level at the top level
    (``asset_id``/``price``/``side``/``size``) or a ``changes[]`` list for the top-level asset.
    ``entries()`` gives the same view of all three.
    """

    timestamp: str
    market: str = ""
    price_changes: list[PriceChangeEntry] | None = None
    asset_id: str | None = None
    price: str | None = None
    size: str | None = None
    side: WireSide | None = None
    hash: str = ""
    changes: list[LegacyChange] | None = None

    def entries(self) -> list[PriceChangeEntry]:
        """All level changes as current-format entries; raises ValueError if there are none."""
        if self.price_changes is not None:
            return self.price_changes
        asset = self.asset_id
        if asset is None:
            raise ValueError("price_change without price_changes or asset_id")
        if self.changes is not None:
            return [PriceChangeEntry(asset, c.price, c.size, c.side) for c in self.changes]
        if self.price is None or self.size is None or self.side is None:
            raise ValueError("legacy price_change without price/size/side")
        return [PriceChangeEntry(asset, self.price, self.size, self.side, self.hash)]


class TickSizeChange(msgspec.Struct, tag_field="event_type", tag="tick_size_change", gc=False):
    asset_id: str
    new_tick_size: str
    timestamp: str
    old_tick_size: str = ""
    market: str = ""


class LastTradePrice(msgspec.Struct, tag_field="event_type", tag="last_trade_price", gc=False):
    """A trade; ``side`` is the taker's side."""

    asset_id: str
    price: str
    size: str
    side: WireSide
    timestamp: str
    market: str = ""
    fee_rate_bps: str = ""
    transaction_hash: str = ""


class BestBidAsk(msgspec.Struct, tag_field="event_type", tag="best_bid_ask", gc=False):
    """Top of book (custom feature); ``""`` for an empty side."""

    asset_id: str
    best_bid: str = ""
    best_ask: str = ""
    spread: str = ""
    timestamp: str = ""
    market: str = ""


class MarketResolved(msgspec.Struct, tag_field="event_type", tag="market_resolved", gc=False):
    """A market resolved (custom feature); ``winning_outcome`` is the display label."""

    market: str
    winning_asset_id: str
    winning_outcome: str
    assets_ids: list[str] = msgspec.field(default_factory=list)
    id: str = ""
    timestamp: str = ""
    tags: list[str] = msgspec.field(default_factory=list)


class NewMarket(msgspec.Struct, tag_field="event_type", tag="new_market", gc=False):
    """A market was created (custom feature). Listeners get the raw object, this is the gist."""

    market: str = ""
    id: str = ""
    question: str = ""
    slug: str = ""
    assets_ids: list[str] = msgspec.field(default_factory=list)
    outcomes: list[str] = msgspec.field(default_factory=list)
    timestamp: str = ""


MarketMessage = (
    Book | PriceChange | TickSizeChange | LastTradePrice | BestBidAsk | MarketResolved | NewMarket
)
"""Any event of the market channel."""

# A frame is one event object or an array of them (the initial snapshots arrive as an array).
Frame = MarketMessage | list[MarketMessage]

MESSAGE_TYPES: dict[str, type[MarketMessage]] = {
    "book": Book,
    "price_change": PriceChange,
    "tick_size_change": TickSizeChange,
    "last_trade_price": LastTradePrice,
    "best_bid_ask": BestBidAsk,
    "market_resolved": MarketResolved,
    "new_market": NewMarket,
}
