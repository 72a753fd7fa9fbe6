"""The simulator's trading endpoints verify like the venue: L1/L2 auth, the EIP-712 signature
under the market's exchange domain, the owner, expiry and replays; and a match is published on
the market channel (both tokens' mirrored levels, then the trade)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from polyarb.clob.amounts import limit_amounts
from polyarb.clob.auth import ApiCreds, l1_headers, l2_headers
from polyarb.clob.errors import (
    INVALID_EXPIRATION,
    INVALID_SIGNATURE,
    NOT_CANCELED,
    OWNER_MISMATCH,
    UNAUTHORIZED,
    too_many_orders,
)
from polyarb.clob.orders import order_body, sign_order
from polyarb.clob.signing import (
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    OrderV2,
    SignatureType,
    Wallet,
)
from polyarb.domain.book import Side
from polyarb.domain.market import round_fee
from polyarb.domain.numbers import price_to_decimal
from polyarb.sim.catalog import SimMarket
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

D = Decimal
WALLET = Wallet("0x" + "51" * 32)


@dataclass
class Venue:
    sim: SimServer
    http: httpx.AsyncClient
    creds: ApiCreds

    async def l2(self, method: str, path: str, payload: Any, **changes: str) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":"))
        headers = l2_headers(
            self.creds,
            WALLET.address,
            method=method,
            path=path,
            body=body,
            timestamp=int(time.time()),
        )
        headers.update(changes)
        return await self.http.request(method, path, content=body, headers=headers)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    config = ScenarioConfig(
        seed=5,
        binary_markets=1,
        negrisk_events=1,
        outcomes_per_event=2,
        closed_markets=0,
        updates_per_s=5.0,
    )
    async with SimServer(config) as sim, httpx.AsyncClient(base_url=sim.clob_url) as http:
        sim.pause()
        headers = l1_headers(WALLET, chain_id=137, timestamp=int(time.time()))
        created = (await http.post("/auth/api-key", headers=headers)).json()
        yield Venue(
            sim, http, ApiCreds(created["apiKey"], created["secret"], created["passphrase"])
        )


def _market(venue: Venue, neg_risk: bool) -> SimMarket:
    return next(m for m in venue.sim.venue.catalog.markets if m.neg_risk == neg_risk and m.live)


def _order(venue: Venue, market: SimMarket, *, size: D | None = None, **changes: Any) -> OrderV2:
    token = market.token_ids[0]
    best = price_to_decimal(venue.sim.truth(token).asks.best() or 0)
    maker, taker = limit_amounts(Side.BUY, best, size or D(10), price_to_decimal(market.tick))
    order = OrderV2(
        7,
        WALLET.address,
        WALLET.address,
        int(token),
        maker,
        taker,
        Side.BUY,
        SignatureType.EOA,
        int(time.time() * 1000),
    )
    return replace(order, **changes)


def _body(venue: Venue, order: OrderV2, exchange: str, owner: str = "") -> dict[str, Any]:
    signed = sign_order(WALLET, order, chain_id=137, exchange=exchange)
    return order_body(signed, owner=owner or venue.creds.api_key, order_type="FOK")


async def test_l1_create_then_derive_the_same_key_and_refuse_a_forged_one(venue: Venue) -> None:
    headers = l1_headers(WALLET, chain_id=137, timestamp=int(time.time()))
    again = await venue.http.post("/auth/api-key", headers=headers)
    assert again.status_code == 400
    derived = (await venue.http.get("/auth/derive-api-key", headers=headers)).json()
    assert derived["apiKey"] == venue.creds.api_key
    forged = {**headers, "POLY_ADDRESS": Wallet("0x" + "52" * 32).address}
    assert (await venue.http.post("/auth/api-key", headers=forged)).status_code == 401


async def test_l2_refuses_a_wrong_hmac(venue: Venue) -> None:
    market = _market(venue, neg_risk=False)
    body = _body(venue, _order(venue, market), EXCHANGE_V2)
    answer = await venue.l2("POST", "/order", body, POLY_SIGNATURE="AAAA")
    assert (answer.status_code, answer.json()["error"]) == (401, UNAUTHORIZED)


@pytest.mark.parametrize(
    ("neg_risk", "exchange", "changes", "owner", "expected"),
    [
        (False, NEG_RISK_EXCHANGE_V2, {}, "", INVALID_SIGNATURE),  # wrong domain
        (True, EXCHANGE_V2, {}, "", INVALID_SIGNATURE),  # negRisk market, standard exchange
        (False, EXCHANGE_V2, {"expiration": 1_000_000_000}, "", INVALID_EXPIRATION),
        (False, EXCHANGE_V2, {}, "someone-else", OWNER_MISMATCH),
    ],
)
async def test_orders_the_venue_would_refuse(
    venue: Venue,
    neg_risk: bool,
    exchange: str,
    changes: dict[str, Any],
    owner: str,
    expected: str,
) -> None:
    market = _market(venue, neg_risk)
    body = _body(venue, _order(venue, market, **changes), exchange, owner)
    answer = await venue.l2("POST", "/order", body)
    assert (answer.status_code, answer.json()["error"]) == (400, expected)
    assert venue.sim.exchange.orders == {}


async def test_a_tampered_amount_or_a_replay_is_refused(venue: Venue) -> None:
    market = _market(venue, neg_risk=False)
    body = _body(venue, _order(venue, market), EXCHANGE_V2)
    tampered = json.loads(json.dumps(body))
    tampered["order"]["takerAmount"] = str(int(body["order"]["takerAmount"]) * 2)
    answer = await venue.l2("POST", "/order", tampered)
    assert answer.json()["error"] == INVALID_SIGNATURE
    assert (await venue.l2("POST", "/order", body)).json()["success"] is True
    replay = await venue.l2("POST", "/order", body)
    assert replay.status_code == 400
    assert "Duplicated" in replay.json()["error"]


async def test_a_batch_holds_at_most_15_orders(venue: Venue) -> None:
    market = _market(venue, neg_risk=False)
    bodies = [_body(venue, _order(venue, market, salt=i), EXCHANGE_V2) for i in range(16)]
    answer = await venue.l2("POST", "/orders", bodies)
    assert (answer.status_code, answer.json()["error"]) == (400, too_many_orders(16, 15))


async def test_a_match_is_published_on_the_market_channel(venue: Venue) -> None:
    market = _market(venue, neg_risk=False)
    yes, no = market.token_ids
    async with websockets.connect(venue.sim.ws_url) as ws:
        await ws.send(json.dumps({"assets_ids": [yes, no], "type": "market"}))
        await ws.recv()  # the snapshot array
        order = _order(venue, market, size=D(5))
        answer = (await venue.l2("POST", "/order", _body(venue, order, EXCHANGE_V2))).json()
        assert answer["status"] == "matched"
        assert answer["takingAmount"] == "5"
        change = json.loads(await asyncio.wait_for(ws.recv(), 2))
        trade = json.loads(await asyncio.wait_for(ws.recv(), 2))
    assert change["event_type"] == "price_change"
    entries = {(e["asset_id"], e["side"]) for e in change["price_changes"]}
    assert entries == {(yes, "SELL"), (no, "BUY")}  # the ask taken, and its mirror
    assert (trade["event_type"], trade["asset_id"], trade["size"]) == ("last_trade_price", yes, "5")
    order_id = answer["orderID"]
    looked_up = (await venue.l2("GET", f"/data/order/{order_id}", None)).json()
    assert (looked_up["status"], looked_up["size_matched"]) == ("MATCHED", "5")


async def test_cancel_of_an_order_that_does_not_rest(venue: Venue) -> None:
    answer = await venue.l2("DELETE", "/order", {"orderID": "0x" + "00" * 32})
    assert answer.json() == {"canceled": [], "not_canceled": {"0x" + "00" * 32: NOT_CANCELED}}
    assert (await venue.l2("DELETE", "/cancel-all", None)).json()["canceled"] == []


async def test_balances_move_with_fills(venue: Venue) -> None:
    market = _market(venue, neg_risk=False)
    token = market.token_ids[0]
    order = _order(venue, market, size=D(5))
    answer = (await venue.l2("POST", "/order", _body(venue, order, EXCHANGE_V2))).json()
    assert answer["success"] is True
    cash = (await venue.l2("GET", "/balance-allowance", None)).json()["balance"]
    spent = 10_000 * 1_000_000 - int(cash)
    # the notional, and the taker fee of each trade at the rate the trade reports: the
    # market's published schedule, rate x p x (1 - p) per share, rounded down to 5 decimals
    trades = (await venue.l2("GET", "/data/trades", None)).json()["data"]
    assert {t["fee_rate_bps"] for t in trades} == {str(int(market.category.fee_rate * 10_000))}
    assert market.category.fee_rate > 0
    fee = sum(
        round_fee(D(t["size"]) * market.category.fee_rate * D(t["price"]) * (1 - D(t["price"])))
        for t in trades
    )
    assert fee > 0
    assert spent == int((D(answer["makingAmount"]) + fee) * 1_000_000)
    held = await venue.http.get(
        "/balance-allowance",
        params={"asset_type": "CONDITIONAL", "token_id": token},
        headers=l2_headers(
            venue.creds,
            WALLET.address,
            method="GET",
            path="/balance-allowance",
            body="",
            timestamp=int(time.time()),
        ),
    )
    assert held.json()["balance"] == "5000000"
