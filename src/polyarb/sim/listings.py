"""How the venue describes its markets: Gamma objects (camelCase, JSON-in-JSON string fields,
numbers as numbers) and CLOB market objects (snake_case), shaped like the fixtures' live captures.

Prices that move (outcomePrices, bestBid, bestAsk, spread, lastTradePrice) are read from the
venue's books when the object is served. Recorded markets are served exactly as recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import ONE
from polyarb.sim.catalog import Category, SimEvent, SimMarket
from polyarb.sim.wire import price_number, price_text

_TAGS: dict[str, tuple[str, str]] = {  # label -> (id, slug)
    "Politics": ("2", "politics"),
    "Geopolitics": ("100265", "geopolitics"),
    "Crypto": ("21", "crypto"),
    "Economics": ("100328", "economics"),
    "Elections": ("144", "elections"),
    "Sports": ("1", "sports"),
    "NBA": ("745", "nba"),
    "NFL": ("450", "nfl"),
    "MLB": ("100381", "mlb"),
    "NHL": ("899", "nhl"),
}
_RESOLVER = "0x65070BE91477460D8A7AeEb94ef92fe056C2f2A7"
_SUBMITTER = "0x91430CaD2d3975766499717fA0D66A78D814E5c5"
_IMAGE = "https://polymarket-upload.s3.us-east-2.amazonaws.com/sim-{slug}.png"


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _space_time(moment: datetime) -> str:
    """Gamma's non-RFC3339 sports times: "2026-09-09 10:30:00+00"."""
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


def json_text(values: list[str]) -> str:
    """A JSON-in-JSON field as Gamma writes it: '["Yes", "No"]' (comma + space)."""
    return "[" + ", ".join(orjson.dumps(v).decode() for v in values) + "]"


def event_tags(event: SimEvent) -> list[dict[str, Any]]:
    labels = [event.category.tag]
    if event.game is not None:
        labels.append(event.game.league.upper())
    tags = []
    for label in labels:
        tag_id, slug = _TAGS[label]
        tags.append({"id": tag_id, "label": label, "slug": slug, "forceShow": False})
    return tags


def tag_matches(event: SimEvent | None, tag_ids: set[str], tag_slugs: set[str]) -> bool:
    if event is None:
        return False
    tags = (event.raw.get("tags") or []) if event.raw is not None else event_tags(event)
    for tag in tags:
        if isinstance(tag, dict) and (
            str(tag.get("id")) in tag_ids or str(tag.get("slug")) in tag_slugs
        ):
            return True
    return False


def _fees(category: Category) -> dict[str, Any]:
    if category.fee_rate <= 0:
        return {"feesEnabled": False}
    return {
        "feesEnabled": True,
        "feeType": category.fee_type,
        "feeSchedule": {
            "exponent": 1,
            "rate": float(category.fee_rate),
            "takerOnly": True,
            "rebateRate": float(category.rebate_rate),
        },
    }


def _top(book: OrderBook | None) -> tuple[int | None, int | None]:
    if book is None:
        return None, None
    return book.bids.best(), book.asks.best()


def _mid(book: OrderBook | None) -> int | None:
    bid, ask = _top(book)
    if bid is None and ask is None:
        return None
    return ((bid or 0) + (ask if ask is not None else ONE)) // 2


def gamma_event(
    event: SimEvent,
    now_s: float,
    *,
    with_markets: bool = False,
    books: Mapping[str, OrderBook] | None = None,
) -> dict[str, Any]:
    """A Gamma event object; nested in a market's ``events`` without its markets."""
    if event.raw is not None:
        recorded = dict(event.raw)
        if with_markets:
            recorded["markets"] = [
                gamma_market(m, books or {}, now_s, nested=True) for m in event.markets
            ]
        return recorded
    first = event.markets[0] if event.markets else None
    created = first.created if first is not None else None
    end = first.end if first is not None else None
    liquidity = round(sum(m.liquidity for m in event.markets), 5)
    volume = round(sum(m.volume for m in event.markets), 6)
    closed = bool(event.markets) and all(m.closed for m in event.markets)
    out: dict[str, Any] = {
        "id": event.event_id,
        "ticker": event.slug,
        "slug": event.slug,
        "title": event.title,
        "description": f"Simulated event: {event.title}.",
        "resolutionSource": "",
        "startDate": _iso(created),
        "creationDate": _iso(created),
        "endDate": _iso(end),
        "image": _IMAGE.format(slug=event.slug),
        "icon": _IMAGE.format(slug=event.slug),
        "active": True,
        "closed": closed,
        "archived": False,
        "new": False,
        "featured": False,
        "restricted": True,
        "liquidity": liquidity,
        "volume": volume,
        "openInterest": round(volume * 0.1, 6),
        "createdAt": _iso(created),
        "updatedAt": _iso(created),
        "competitive": 0.9,
        "volume24hr": round(sum(m.volume_24h for m in event.markets), 6),
        "enableOrderBook": True,
        "liquidityClob": liquidity,
        "negRisk": event.neg_risk,
        "commentCount": 12,
        "cyom": False,
        "showAllOutcomes": True,
        "showMarketImages": event.neg_risk,
        "enableNegRisk": event.neg_risk,
        "automaticallyActive": True,
        "negRiskAugmented": False,
        "pendingDeployment": False,
        "deploying": False,
        "requiresTranslation": False,
    }
    if event.neg_risk:
        out["negRiskMarketID"] = event.neg_risk_market_id
    game = event.game
    if game is not None:
        away, home = game.scores(now_s)
        state = game.state(now_s)
        out.update(
            {
                "gameId": int(game.event_id),
                "seriesSlug": game.league,
                "startTime": _iso(game.start_wall),
                "eventDate": game.start_wall.strftime("%Y-%m-%d"),
                "score": f"{home}-{away}" if state != "pre" else "",
                "period": "VFT" if state == "post" else ("" if state == "pre" else "LIVE"),
                "live": state == "in",
                "ended": state == "post",
            }
        )
    if with_markets:
        out["markets"] = [gamma_market(m, books or {}, now_s, nested=True) for m in event.markets]
        out["tags"] = event_tags(event)
    return out


def gamma_market(
    market: SimMarket, books: Mapping[str, OrderBook], now_s: float, *, nested: bool = False
) -> dict[str, Any]:
    """A Gamma market object as ``GET /markets`` serves it (``nested``: inside an event)."""
    if market.raw is not None:
        recorded = dict(market.raw)
        if nested:
            recorded.pop("events", None)
        return recorded
    own = books.get(market.token_ids[0])
    bid, ask = _top(own)
    if market.closed:
        won = market.winner_index or 0
        prices = ["1", "0"] if won == 0 else ["0", "1"]
    else:
        first = _mid(own)
        prices = ["0.5", "0.5"] if first is None else [price_text(first), price_text(ONE - first)]
    created = market.created
    end = market.end
    start = created + timedelta(minutes=7) if created is not None else None
    last_trade = own.last_trade_price if own is not None else None
    out: dict[str, Any] = {
        "id": market.gamma_id,
        "question": market.question,
        "conditionId": market.condition_id,
        "slug": market.slug,
        "resolutionSource": "",
        "endDate": _iso(end),
        "liquidity": str(market.liquidity),
        "startDate": _iso(start),
        "image": _IMAGE.format(slug=market.slug),
        "icon": _IMAGE.format(slug=market.slug),
        "description": f"This market will resolve according to: {market.question}",
        "outcomes": json_text(list(market.outcomes)),
        "outcomePrices": json_text(prices),
        "volume": str(market.volume),
        "active": True,
        "closed": market.closed,
        "marketMakerAddress": "",
        "createdAt": _iso(created),
        "updatedAt": _iso(created),
        "new": False,
        "featured": False,
        "submitted_by": _SUBMITTER,
        "archived": False,
        "resolvedBy": _RESOLVER,
        "restricted": True,
        "groupItemTitle": market.group_item_title,
        "groupItemThreshold": "0",
        "questionID": market.question_id,
        "enableOrderBook": True,
        "orderPriceMinTickSize": price_number(market.tick),
        "orderMinSize": market.min_order_size,
        "volumeNum": market.volume,
        "liquidityNum": market.liquidity,
        "endDateIso": end.strftime("%Y-%m-%d") if end is not None else "",
        "startDateIso": start.strftime("%Y-%m-%d") if start is not None else "",
        "hasReviewedDates": True,
        "volume24hr": market.volume_24h,
        "volume1wk": round(market.volume_24h * 5.3, 6),
        "volume1mo": round(market.volume_24h * 19.7, 6),
        "volume1yr": market.volume,
        "clobTokenIds": json_text(list(market.token_ids)),
        "umaBond": "500",
        "umaReward": "5",
        "volume24hrClob": market.volume_24h,
        "volumeClob": market.volume,
        "liquidityClob": market.liquidity,
        "makerBaseFee": 1000 if market.fees_enabled else 0,
        "takerBaseFee": 1000 if market.fees_enabled else 0,
        "customLiveness": 0,
        "acceptingOrders": not market.closed,
        "negRisk": market.neg_risk,
    }
    if market.neg_risk and market.event is not None:
        out["negRiskMarketID"] = market.event.neg_risk_market_id
        out["negRiskRequestID"] = market.neg_risk_request_id
    out.update(
        {
            "negRiskOther": False,
            "ready": False,
            "funded": False,
            "acceptingOrdersTimestamp": _iso(start),
            "cyom": False,
            "competitive": 0.9,
            "pagerDutyNotificationEnabled": False,
            "approved": True,
            "rewardsMinSize": 50,
            "rewardsMaxSpread": 3.5,
            "spread": price_number(ask - bid) if bid is not None and ask is not None else 1,
            "lastTradePrice": price_number(last_trade) if last_trade is not None else 0,
            "bestBid": price_number(bid) if bid is not None else 0,
            "bestAsk": price_number(ask) if ask is not None else 1,
            "automaticallyActive": True,
            "clearBookOnStart": True,
            "manualActivation": False,
            "umaResolutionStatuses": "[]",
            "pendingDeployment": False,
            "deploying": False,
            "rfqEnabled": False,
            "holdingRewardsEnabled": False,
            **_fees(market.category),
        }
    )
    if market.closed and end is not None:
        out["closedTime"] = _space_time(end)
        out["umaResolutionStatus"] = "resolved"
        out["umaEndDate"] = _iso(end)
    game = market.event.game if market.event is not None else None
    if game is not None:
        out.update(
            {
                "sportsMarketType": "moneyline",
                "gameStartTime": _space_time(game.start_wall),
                "eventStartTime": game.start_wall.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "gameId": game.event_id,
                "secondsDelay": game.taker_delay_s,
            }
        )
    if not nested and market.event is not None:
        out["events"] = [gamma_event(market.event, now_s)]
    return out


def clob_market(market: SimMarket, books: Mapping[str, OrderBook]) -> dict[str, Any]:
    """A CLOB ``GET /markets`` object (snake_case; tick and sizes as JSON numbers)."""
    tokens = []
    for index, (label, tid) in enumerate(zip(market.outcomes, market.token_ids, strict=True)):
        if market.closed:
            winner = index == (market.winner_index or 0)
            price = 1.0 if winner else 0.0
        else:
            winner = False
            mid = _mid(books.get(tid))
            price = float(price_text(mid)) if mid is not None else 0.5
        tokens.append({"token_id": tid, "outcome": label, "price": price, "winner": winner})
    end = market.end
    game = market.event.game if market.event is not None else None
    tags = [market.category.tag] + ([game.league.upper()] if game is not None else [])
    return {
        "enable_order_book": True,
        "active": True,
        "closed": market.closed,
        "archived": False,
        "accepting_orders": not market.closed,
        "accepting_order_timestamp": _iso(market.created) or None,
        "minimum_order_size": market.min_order_size,
        "minimum_tick_size": price_number(market.tick),
        "condition_id": market.condition_id,
        "question_id": market.question_id,
        "question": market.question,
        "description": f"This market will resolve according to: {market.question}",
        "market_slug": market.slug,
        "end_date_iso": end.strftime("%Y-%m-%dT%H:%M:%SZ") if end is not None else None,
        "game_start_time": game.start_wall.strftime("%Y-%m-%dT%H:%M:%SZ") if game else None,
        "seconds_delay": game.taker_delay_s if game is not None else 0,
        "fpmm": "",
        "maker_base_fee": 1000 if market.fees_enabled else 0,
        "taker_base_fee": 1000 if market.fees_enabled else 0,
        "notifications_enabled": True,
        "neg_risk": market.neg_risk,
        "neg_risk_market_id": market.event.neg_risk_market_id if market.event else "",
        "neg_risk_request_id": market.neg_risk_request_id,
        "icon": _IMAGE.format(slug=market.slug),
        "image": _IMAGE.format(slug=market.slug),
        "rewards": {"rates": None, "min_size": 50, "max_spread": 3.5},
        "is_50_50_outcome": False,
        "tokens": tokens,
        "tags": tags,
    }


def clob_compact_market(market: SimMarket) -> dict[str, Any]:
    """``GET /clob-markets/{condition_id}``: compact keys; ``nr`` only on negRisk, ``fd`` only
    with fees."""
    out: dict[str, Any] = {
        "c": market.condition_id,
        "t": [{"t": t, "o": o} for t, o in zip(market.token_ids, market.outcomes, strict=True)],
        "mts": price_number(market.tick),
        "mos": market.min_order_size,
    }
    if market.neg_risk:
        out["nr"] = True
    if market.fees_enabled:
        out["fd"] = {"r": float(market.category.fee_rate), "e": 1, "to": True}
    game = market.event.game if market.event is not None else None
    out.update(
        {
            "mbf": 1000 if market.fees_enabled else 0,
            "tbf": 1000 if market.fees_enabled else 0,
            "gst": game.start_wall.strftime("%Y-%m-%dT%H:%M:%SZ") if game else None,
            "r": {"min_size": 50, "max_spread": 3.5},
            "ao": not market.closed,
            "aot": _iso(market.created),
            "sd": 3 if game is not None else 0,
            "v": "v1",
        }
    )
    return out
