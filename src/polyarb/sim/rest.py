"""HTTP side of the simulator: CLOB public REST, Gamma (under /gamma) and ESPN (under /espn).

Shapes and quirks follow the live API (polymarket_protocol.md 3.1, 5, 8, 9): ``/midpoint`` answers
``mid``, ``/price`` a string, ``/tick-size`` a number, ``/time`` a bare integer of seconds, errors
``{"error": ...}``; plural book queries are POSTs; CLOB ``/markets`` pages by base64 offset cursors
ending at "LTE="; Gamma pages by limit/offset and keeps its JSON-in-JSON string fields.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import ONE, canonical, price_to_decimal
from polyarb.sim.catalog import SimEvent, SimMarket
from polyarb.sim.espn import LEAGUES, scoreboard
from polyarb.sim.listings import (
    clob_compact_market,
    clob_market,
    gamma_event,
    gamma_market,
    tag_matches,
)
from polyarb.sim.venue import SimVenue
from polyarb.sim.wire import price_number, price_text

NO_BOOK = "No orderbook exists for the requested token id"
END_CURSOR = "LTE="
GAMMA_MAX_OFFSET = 2000
GAMMA_ORDER_FIELDS = frozenset(
    [
        "id",
        "volume24hr",
        "volumeNum",
        "liquidityNum",
        "startDate",
        "endDate",
        "createdAt",
        "volume",
        "liquidity",
        "slug",
        "question",
        "title",
    ]
)
SIMPLIFIED_KEYS = (
    "condition_id",
    "rewards",
    "tokens",
    "active",
    "closed",
    "archived",
    "accepting_orders",
)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


class RestApi:
    """Route handlers over one venue; ``scenario_time`` is the simulator's clock in seconds."""

    def __init__(self, venue: SimVenue, scenario_time: Callable[[], float]) -> None:
        self.venue = venue
        self.scenario_time = scenario_time
        self.clob_page_size = 1000  # live pages hold 1000 markets

    def routes(self) -> list[Route]:
        return [
            Route("/book", self.book),
            Route("/books", self.books, methods=["GET", "POST"]),
            Route("/midpoint", self.midpoint),
            Route("/midpoints", self.midpoints, methods=["POST"]),
            Route("/price", self.price),
            Route("/prices", self.prices, methods=["POST"]),
            Route("/spread", self.spread),
            Route("/spreads", self.spreads, methods=["POST"]),
            Route("/last-trade-price", self.last_trade_price),
            Route("/tick-size", self.tick_size),
            Route("/neg-risk", self.neg_risk),
            Route("/fee-rate", self.fee_rate),
            Route("/time", self.server_time),
            Route("/version", self.version),
            Route("/ok", self.ok),
            Route("/", self.ok),
            Route("/markets", self.clob_markets),
            Route("/simplified-markets", self.clob_simplified_markets),
            Route("/markets/{condition_id}", self.clob_market),
            Route("/clob-markets/{condition_id}", self.clob_compact),
            Route("/markets-by-token/{token_id}", self.markets_by_token),
            Route("/gamma/markets", self.gamma_markets),
            Route("/gamma/markets/slug/{slug}", self.gamma_market_by_slug),
            Route("/gamma/markets/{market_id}", self.gamma_market_by_id),
            Route("/gamma/events", self.gamma_events),
            Route("/gamma/events/slug/{slug}", self.gamma_event_by_slug),
            Route("/gamma/events/{event_id}", self.gamma_event_by_id),
            Route("/espn/apis/site/v2/sports/{sport}/{league}/scoreboard", self.espn_scoreboard),
        ]

    # --- CLOB: books and prices -----------------------------------------------------------

    def _token(self, request: Request) -> tuple[str, OrderBook | None] | Response:
        token = request.query_params.get("token_id", "")
        if not token.isdigit():
            return error("Invalid token id", 400)
        return token, self.venue.matching_book(token)

    async def book(self, request: Request) -> Response:
        found = self._token(request)
        if isinstance(found, Response):
            return found
        body = self.venue.rest_book(found[0])
        return error(NO_BOOK, 404) if body is None else json_response(body)

    async def _token_items(self, request: Request) -> list[dict[str, Any]] | None:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(body, list) or not all(
            isinstance(item, dict) and isinstance(item.get("token_id"), str) for item in body
        ):
            return None
        return body

    async def books(self, request: Request) -> Response:
        if request.method == "GET":
            return error("Invalid payload", 400)  # live: plural reads are POST-only
        items = await self._token_items(request)
        if items is None:
            return error("Invalid payload", 400)
        out = [self.venue.rest_book(str(item["token_id"])) for item in items]
        return json_response([b for b in out if b is not None])

    async def midpoint(self, request: Request) -> Response:
        found = self._token(request)
        if isinstance(found, Response):
            return found
        mid = _mid_text(found[1])
        return error(NO_BOOK, 404) if mid is None else json_response({"mid": mid})

    async def midpoints(self, request: Request) -> Response:
        items = await self._token_items(request)
        if items is None:
            return error("Invalid payload", 400)
        out = {}
        for item in items:
            mid = _mid_text(self.venue.matching_book(str(item["token_id"])))
            if mid is not None:
                out[str(item["token_id"])] = mid
        return json_response(out)

    async def price(self, request: Request) -> Response:
        found = self._token(request)
        if isinstance(found, Response):
            return found
        side = request.query_params.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            return error("Invalid side", 400)
        price = _side_price(found[1], side)
        return error(NO_BOOK, 404) if price is None else json_response({"price": price})

    async def prices(self, request: Request) -> Response:
        items = await self._token_items(request)
        if items is None:
            return error("Invalid payload", 400)
        out: dict[str, dict[str, str]] = {}
        for item in items:
            token = str(item["token_id"])
            side = str(item.get("side") or "SELL").upper()  # live: no side -> SELL only
            price = _side_price(self.venue.matching_book(token), side)
            if price is not None:
                out.setdefault(token, {})[side] = price
        return json_response(out)

    async def spread(self, request: Request) -> Response:
        found = self._token(request)
        if isinstance(found, Response):
            return found
        spread = _spread_text(found[1])
        return error(NO_BOOK, 404) if spread is None else json_response({"spread": spread})

    async def spreads(self, request: Request) -> Response:
        items = await self._token_items(request)
        if items is None:
            return error("Invalid payload", 400)
        out = {}
        for item in items:
            spread = _spread_text(self.venue.matching_book(str(item["token_id"])))
            if spread is not None:
                out[str(item["token_id"])] = spread
        return json_response(out)

    async def last_trade_price(self, request: Request) -> Response:
        found = self._token(request)
        if isinstance(found, Response):
            return found
        token, book = found
        if book is None:
            return error(NO_BOOK, 404)
        ltp = book.last_trade_price
        side = self.venue.last_trade_side.get(token, "")
        return json_response({"price": price_text(ltp) if ltp is not None else "0", "side": side})

    def _market(self, request: Request) -> SimMarket | Response:
        token = request.query_params.get("token_id", "")
        if not token.isdigit():
            return error("Invalid token id", 400)
        market = self.venue.market_of(token)
        if market is None or not market.live:
            return error("market not found", 404)
        return market

    async def tick_size(self, request: Request) -> Response:
        market = self._market(request)
        if isinstance(market, Response):
            return market
        return json_response({"minimum_tick_size": price_number(market.tick)})

    async def neg_risk(self, request: Request) -> Response:
        market = self._market(request)
        if isinstance(market, Response):
            return market
        return json_response({"neg_risk": market.neg_risk})

    async def fee_rate(self, request: Request) -> Response:
        market = self._market(request)
        if isinstance(market, Response):
            return market
        return json_response({"base_fee": 1000 if market.fees_enabled else 0})

    async def server_time(self, request: Request) -> Response:
        return json_response(int(time.time()))

    async def version(self, request: Request) -> Response:
        return json_response({"version": 2})

    async def ok(self, request: Request) -> Response:
        return json_response("OK")

    # --- CLOB: markets --------------------------------------------------------------------

    def _page(self, request: Request) -> tuple[int, int] | Response:
        cursor = request.query_params.get("next_cursor") or "MA=="
        if cursor == END_CURSOR:
            return len(self.venue.catalog.markets), self.clob_page_size
        try:
            offset = int(base64.b64decode(cursor, validate=True).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return error("invalid next_cursor", 400)
        if offset < 0:
            return error("invalid next_cursor", 400)
        return offset, self.clob_page_size

    def _cursor_page(self, request: Request, render: Callable[[SimMarket], Any]) -> Response:
        page = self._page(request)
        if isinstance(page, Response):
            return page
        offset, size = page
        markets = self.venue.catalog.markets
        data = [render(m) for m in markets[offset : offset + size]]
        end = offset + size
        next_cursor = (
            base64.b64encode(str(end).encode()).decode() if end < len(markets) else END_CURSOR
        )
        return json_response(
            {"limit": size, "count": len(data), "next_cursor": next_cursor, "data": data}
        )

    async def clob_markets(self, request: Request) -> Response:
        return self._cursor_page(request, lambda m: clob_market(m, self.venue.books))

    async def clob_simplified_markets(self, request: Request) -> Response:
        def simplified(m: SimMarket) -> dict[str, Any]:
            full = clob_market(m, self.venue.books)
            return {k: full[k] for k in SIMPLIFIED_KEYS}

        return self._cursor_page(request, simplified)

    async def clob_market(self, request: Request) -> Response:
        market = self.venue.catalog.by_condition.get(request.path_params["condition_id"])
        if market is None:
            return error("market not found", 404)
        return json_response(clob_market(market, self.venue.books))

    async def clob_compact(self, request: Request) -> Response:
        market = self.venue.catalog.by_condition.get(request.path_params["condition_id"])
        if market is None:
            return error("market not found", 404)
        return json_response(clob_compact_market(market))

    async def markets_by_token(self, request: Request) -> Response:
        market = self.venue.market_of(request.path_params["token_id"])
        if market is None:
            return error("market not found", 404)
        primary, secondary = market.token_ids
        body = {"condition_id": market.condition_id, "primary_token_id": primary}
        body["secondary_token_id"] = secondary
        return json_response(body)

    # --- Gamma ----------------------------------------------------------------------------

    def _gamma_paging(self, request: Request) -> tuple[int, int] | Response:
        params = request.query_params
        try:
            limit = int(params.get("limit", "500"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            return error("limit and offset must be integers", 422)
        if limit < 0 or offset < 0:
            return error("limit and offset must be >= 0", 422)
        if offset > GAMMA_MAX_OFFSET:
            return error(f"offset above {GAMMA_MAX_OFFSET}: use /markets/keyset", 422)
        return limit, offset

    def _sorted(
        self, request: Request, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | Response:
        order = request.query_params.get("order")
        if not order:
            return items
        fields = [f.strip() for f in order.split(",") if f.strip()]
        for name in fields:
            if "_" in name or name not in GAMMA_ORDER_FIELDS:
                return error(f"order by {name!r} is not supported", 422)
        ascending = _flag(request.query_params.get("ascending"))
        for name in reversed(fields):
            items.sort(key=lambda item: _sort_key(item.get(name)), reverse=ascending is False)
        return items

    async def gamma_markets(self, request: Request) -> Response:
        paging = self._gamma_paging(request)
        if isinstance(paging, Response):
            return paging
        selected = [m for m in self.venue.catalog.markets if self._gamma_market_wanted(m, request)]
        now = self.scenario_time()
        items = [gamma_market(m, self.venue.books, now) for m in selected]
        ordered = self._sorted(request, items)
        if isinstance(ordered, Response):
            return ordered
        limit, offset = paging
        return json_response(ordered[offset : offset + limit])

    def _gamma_market_wanted(self, market: SimMarket, request: Request) -> bool:
        params = request.query_params
        raw = market.raw
        closed = bool(raw.get("closed", False)) if raw is not None else market.closed
        active = bool(raw.get("active", True)) if raw is not None else True
        archived = bool(raw.get("archived", False)) if raw is not None else False
        for name, flag in (("closed", closed), ("active", active), ("archived", archived)):
            wanted = _flag(params.get(name))
            if wanted is not None and wanted != flag:
                return False
        checks = (
            ("slug", market.slug),
            ("id", market.gamma_id),
            ("condition_ids", market.condition_id),
        )
        for name, value in checks:
            values = params.getlist(name)
            if values and value not in values:
                return False
        tokens = params.getlist("clob_token_ids")
        if tokens and not set(tokens) & set(market.token_ids):
            return False
        tag_ids, tag_slugs = set(params.getlist("tag_id")), set(params.getlist("tag_slug"))
        if (tag_ids or tag_slugs) and not tag_matches(market.event, tag_ids, tag_slugs):
            return False
        neg_risk = _flag(params.get("neg_risk"))
        return neg_risk is None or neg_risk == market.neg_risk

    async def gamma_market_by_id(self, request: Request) -> Response:
        wanted = request.path_params["market_id"]
        for m in self.venue.catalog.markets:
            if m.gamma_id == wanted:
                return json_response(gamma_market(m, self.venue.books, self.scenario_time()))
        return error("market not found", 404)

    async def gamma_market_by_slug(self, request: Request) -> Response:
        wanted = request.path_params["slug"]
        for m in self.venue.catalog.markets:
            if m.slug == wanted:
                return json_response(gamma_market(m, self.venue.books, self.scenario_time()))
        return error("market not found", 404)

    def _event_json(self, event: SimEvent) -> dict[str, Any]:
        return gamma_event(event, self.scenario_time(), with_markets=True, books=self.venue.books)

    async def gamma_events(self, request: Request) -> Response:
        paging = self._gamma_paging(request)
        if isinstance(paging, Response):
            return paging
        params = request.query_params
        selected = []
        for event in self.venue.catalog.events:
            closed = bool(event.markets) and all(m.closed for m in event.markets)
            wanted_closed = _flag(params.get("closed"))
            if wanted_closed is not None and wanted_closed != closed:
                continue
            if _flag(params.get("active")) is False:
                continue  # every simulated event is active
            slugs, ids = params.getlist("slug"), params.getlist("id")
            if (slugs and event.slug not in slugs) or (ids and event.event_id not in ids):
                continue
            tag_ids, tag_slugs = set(params.getlist("tag_id")), set(params.getlist("tag_slug"))
            if (tag_ids or tag_slugs) and not tag_matches(event, tag_ids, tag_slugs):
                continue
            selected.append(self._event_json(event))
        ordered = self._sorted(request, selected)
        if isinstance(ordered, Response):
            return ordered
        limit, offset = paging
        return json_response(ordered[offset : offset + limit])

    async def gamma_event_by_id(self, request: Request) -> Response:
        wanted = request.path_params["event_id"]
        for event in self.venue.catalog.events:
            if event.event_id == wanted:
                return json_response(self._event_json(event))
        return error("event not found", 404)

    async def gamma_event_by_slug(self, request: Request) -> Response:
        wanted = request.path_params["slug"]
        for event in self.venue.catalog.events:
            if event.slug == wanted:
                return json_response(self._event_json(event))
        return error("event not found", 404)

    # --- ESPN -----------------------------------------------------------------------------

    async def espn_scoreboard(self, request: Request) -> Response:
        league = LEAGUES.get(request.path_params["league"])
        if league is None or league.sport != request.path_params["sport"]:
            return json_response({"code": 404, "message": "league not found"}, 404)
        now = self.scenario_time()
        today = self.venue.catalog.epoch + timedelta(seconds=now)
        return json_response(scoreboard(league, self.venue.catalog.games, now, today))


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in ("true", "1", "yes")


def _sort_key(value: object) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    try:
        return (1, float(str(value)))
    except ValueError:
        return (2, str(value))


def _mid_text(book: OrderBook | None) -> str | None:
    if book is None:
        return None
    bid, ask = book.bids.best(), book.asks.best()
    if bid is None and ask is None:
        return None
    total = (bid or 0) + (ask if ask is not None else ONE)
    if total % 2:
        return canonical(price_to_decimal(total) / 2)  # half a 1e-4 unit, still exact
    return price_text(total // 2)


def _side_price(book: OrderBook | None, side: str) -> str | None:
    if book is None:
        return None
    best = book.bids.best() if side == "BUY" else book.asks.best()
    return None if best is None else price_text(best)


def _spread_text(book: OrderBook | None) -> str | None:
    if book is None:
        return None
    bid, ask = book.bids.best(), book.asks.best()
    if bid is None or ask is None:
        return None
    return price_text(ask - bid)
