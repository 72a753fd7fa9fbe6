"""The simulator trades: CLOB V2 auth and trading endpoints over the simulated books.

L1 (``POST /auth/api-key``, ``GET /auth/derive-api-key``) checks the EIP-712 ``ClobAuth``
signature and hands out credentials derived from the address and nonce; L2 endpoints recompute
the HMAC of every request. Orders are verified like the venue does (owner = the API key,
signer = its address, the EIP-712 signature recovered under the market's exchange domain, no
replay of an order id, no expired order) and FOK/FAK orders are matched against the market's
ONE matching book: the level changes and trades go out on the market channel like any other.
Each funder starts with ``starting_balance`` pUSD; a BUY beyond the cash or a SELL beyond the
shares held is refused ("not enough balance / allowance"), as the venue does.
Resting orders (GTC/GTD) are refused: the simulator has no resting book of its own yet.

Fees: a taker pays rate x p x (1 - p) per share of each trade, rate from the market's fee
schedule (the one its Gamma and ``/clob-markets`` listings publish; exponent 1, makers pay
nothing), rounded down to 5 decimals, taken from its pUSD at match time (given back if the
trade FAILS); the trade carries the rate in ``fee_rate_bps``. A BUY needs its cash plus the worst
fee it may pay.

Faults for tests (``inject``): ``500``, ``429``, ``425``, ``503`` (post-only mode) answer the
next request(s) with that status WITHOUT processing them (429 and 503 with ``Retry-After``);
``drop`` processes the next order request and then never answers (the client times out not
knowing whether it was placed); ``garbled`` processes it and answers 200 with a body that is
not the venue's JSON. ``cap_next_fill(token, shares)``: the next order of that token matches at
most that many shares (0: a FOK or FAK is killed; a leg of a set going unfilled).
``overcharge_fees(factor)``: fees charged ``factor`` times the schedule's while the trades still
say the schedule's rate (an accounting error only reconciliation can see).

The user channel (``sim/user_channel.py``) hears each order matched (``order`` PLACEMENT,
status MATCHED) or killed (CANCELLATION, ``CANCELED_<reason>``) and each trade (``trade``),
again at every settlement step: MATCHED, then MINED and CONFIRMED ``settlement_step_s`` apart;
after ``fail_next_trades(n)`` the next n trades go RETRYING and FAILED instead (the funder's
cash and shares restored), after ``retry_next_trades(n)`` MINED, RETRYING, MINED, CONFIRMED.
``GET /data/trades`` shows the same statuses, prefixed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polyarb.clob.amounts import from_units, marketable_precision_error
from polyarb.clob.auth import ApiCreds, hmac_signature
from polyarb.clob.errors import (
    FAK_NO_MATCH,
    FOK_KILLED,
    INVALID_EXPIRATION,
    INVALID_L1,
    INVALID_SIGNATURE,
    NOT_CANCELED,
    NOT_ENOUGH_BALANCE,
    OWNER_MISMATCH,
    SIGNER_MISMATCH,
    UNAUTHORIZED,
    invalid_order,
    min_buy_error,
    tick_error,
    too_many_orders,
)
from polyarb.clob.orders import parse_order_body
from polyarb.clob.signing import (
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    POLYGON_CHAIN_ID,
    OrderV2,
    SignatureError,
    SignatureType,
    checksum_address,
    clob_auth_digest,
    order_digest,
    recover_signer,
)
from polyarb.domain.book import Side
from polyarb.domain.market import FeeSchedule, round_fee
from polyarb.domain.numbers import (
    ONE,
    canonical,
    decimal_to_price,
    decimal_to_size,
    price_to_decimal,
    size_to_decimal,
)
from polyarb.sim.catalog import SimMarket
from polyarb.sim.matching import Match, match
from polyarb.sim.venue import Frame, LevelChange, SimVenue

MAX_BATCH = 15
HEARTBEAT_TIMEOUT_S = 10.0  # a started heartbeat chain missed this long expires
AUTH_WINDOW_S = 30  # an L1/L2 timestamp further from the server clock is refused
DROP_HOLD_S = 60.0
FaultKind = Literal["500", "429", "425", "503", "drop", "garbled"]
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "429", "425", "503", "drop", "garbled")
_FAULT_BODIES: dict[str, dict[str, Any]] = {
    "500": {"error": "order timed out"},
    "429": {"error": "Too Many Requests"},
    "425": {"error": "Too Early: the matching engine is restarting"},
    "503": {"error": "Trading is in post-only mode", "code": "post_only_mode"},
}
_STATUS_OF = {"500": 500, "429": 429, "425": 425, "503": 503}
_BPS = Decimal(10_000)
_QUARTER = Decimal("0.25")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


# The counterparty of the simulator's trades: its books are anonymous liquidity.
BOOK_MAKER_ADDRESS = "0x5151515151515151515151515151515151515151"
BOOK_MAKER_OWNER = "51515151-5151-5151-5151-515151515151"
SETTLEMENT_STEP_S = 0.5  # MATCHED -> MINED -> CONFIRMED, one step each (``settlement_step_s``)


@dataclass(slots=True)
class SimTrade:
    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: Side
    price: int
    size: int
    outcome: str
    owner: str
    maker_address: str
    match_time: int
    status: str = "MATCHED"
    last_update: int = 0
    maker_order_id: str = ""
    maker_outcome: str = ""
    fee_rate_bps: int = 0  # the taker's rate, as the venue reports it
    fee: Decimal = Decimal(0)  # pUSD the taker was charged

    def _fields(self) -> dict[str, Any]:
        price = canonical(price_to_decimal(self.price))
        size = canonical(size_to_decimal(self.size))
        maker = {
            "order_id": self.maker_order_id,
            "owner": BOOK_MAKER_OWNER,
            "maker_address": BOOK_MAKER_ADDRESS,
            "matched_amount": size,
            "price": price,
            "fee_rate_bps": "0",
            "asset_id": self.asset_id,
            "outcome": self.outcome,
            "side": self.side.opposite.value,
        }
        return {
            "asset_id": self.asset_id,
            "bucket_index": 0,
            "fee_rate_bps": str(self.fee_rate_bps),
            "id": self.id,
            "last_update": str(self.last_update or self.match_time),
            "maker_address": self.maker_address,
            "maker_orders": [maker],
            "market": self.market,
            "match_time": str(self.match_time),
            "outcome": self.outcome,
            "owner": self.owner,
            "price": price,
            "side": self.side.value,
            "size": size,
            "status": self.status,
            "taker_order_id": self.taker_order_id,
            "trader_side": "TAKER",
            "transaction_hash": "0x" + hashlib.sha256(self.id.encode()).hexdigest(),
        }

    def wire(self) -> dict[str, Any]:
        """An item of ``GET /data/trades`` (prefixed status)."""
        return self._fields() | {"status": f"TRADE_STATUS_{self.status}"}

    def event(self, now_ms: int) -> dict[str, Any]:
        """The user channel's ``trade`` event (plain status)."""
        return self._fields() | {
            "event_type": "trade",
            "timestamp": str(now_ms),
            "trade_owner": self.owner,
            "type": "TRADE",
        }

    @property
    def usd(self) -> Decimal:
        return price_to_decimal(self.price) * size_to_decimal(self.size)


@dataclass(slots=True)
class SimOrder:
    id: str
    owner: str
    maker: str
    market: str
    asset_id: str
    side: Side
    original_size: Decimal
    price: Decimal
    outcome: str
    order_type: str
    created_at: int
    status: str = "CANCELED"
    size_matched: Decimal = Decimal(0)
    trades: list[str] = field(default_factory=list)

    def event(self, kind: str, status: str, now_ms: int) -> dict[str, Any]:
        """The user channel's ``order`` event."""
        return {
            "asset_id": self.asset_id,
            "associate_trades": list(self.trades),
            "created_at": str(self.created_at),
            "event_type": "order",
            "expiration": "0",
            "id": self.id,
            "maker_address": self.maker,
            "market": self.market,
            "order_owner": self.owner,
            "order_type": self.order_type,
            "original_size": canonical(self.original_size),
            "outcome": self.outcome,
            "owner": self.owner,
            "price": canonical(self.price),
            "side": self.side.value,
            "size_matched": canonical(self.size_matched),
            "status": status,
            "timestamp": str(now_ms),
            "type": kind,
        }

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "owner": self.owner,
            "maker_address": self.maker,
            "market": self.market,
            "asset_id": self.asset_id,
            "side": self.side.value,
            "original_size": canonical(self.original_size),
            "size_matched": canonical(self.size_matched),
            "price": canonical(self.price),
            "outcome": self.outcome,
            "expiration": "0",
            "order_type": self.order_type,
            "associate_trades": list(self.trades),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class _Placed:
    """An order that passed verification, with its limit price, as ``place`` matches it."""

    market: SimMarket
    order: OrderV2
    order_id: str
    order_type: str
    creds: ApiCreds
    price: Decimal


class Rejected(Exception):
    """An order refused with HTTP 400 and the venue's message."""


class SimExchange:
    """Accounts, orders and trades of the simulated CLOB; ``routes()`` serves them."""

    def __init__(
        self,
        venue: SimVenue,
        publish: Callable[[list[Frame]], None],
        *,
        chain_id: int = POLYGON_CHAIN_ID,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        starting_balance: Decimal = Decimal(10_000),
        publish_user: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.venue = venue
        self.publish = publish
        # (api key, condition id, event) -> the user channel
        self.publish_user = publish_user or (lambda key, market, event: None)
        self.settlement_step_s = SETTLEMENT_STEP_S
        self.fail_trades = 0  # the next trades matched go RETRYING, then FAILED (faults)
        self.retry_trades = 0  # the next trades go MINED, RETRYING, MINED again, CONFIRMED
        self._timers: set[asyncio.TimerHandle] = set()
        self.chain_id = chain_id
        self.now_ms = now_ms
        self._server_key = secrets.token_bytes(32)
        self.accounts: dict[str, tuple[str, ApiCreds]] = {}  # api key -> (address, creds)
        self.orders: dict[str, SimOrder] = {}
        self.trades: dict[str, SimTrade] = {}
        self.faults: deque[FaultKind] = deque()
        self.starting_balance = starting_balance
        self.cash: dict[str, Decimal] = {}  # maker (funder) address -> pUSD
        self.positions: dict[tuple[str, str], Decimal] = {}  # (maker, token) -> shares
        self.heartbeats: dict[str, tuple[str, float]] = {}  # api key -> (id, deadline s)
        self.heartbeat_faults: deque[FaultKind] = deque()
        self.heartbeat_timeout_s = HEARTBEAT_TIMEOUT_S
        self.requests = 0  # order requests received (placed or not), for tests
        # True: ``GET /data/order`` knows active (resting) orders only, as the venue is
        # reported to answer; a matched or canceled order comes back empty (null).
        self.order_lookup_active_only = False
        self.retry_after_s: float = 1.0  # what a 429 or 503 fault asks the client to wait
        self.fill_caps: dict[str, int] = {}  # token -> at most this size (1e-6) for its next order
        self.fee_factor = Decimal(1)  # a fault: fees charged this many times the schedule's
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Let held ("drop") requests finish, so the server can stop at once; stop settling."""
        self._closing.set()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def fail_next_trades(self, count: int = 1) -> None:
        """The next ``count`` trades are matched, then go RETRYING and FAILED on chain: the
        funder's cash and shares are restored as if they had never happened."""
        self.fail_trades += count

    def retry_next_trades(self, count: int = 1) -> None:
        """The next ``count`` trades are retried once on chain and then confirmed."""
        self.retry_trades += count

    def cap_next_fill(self, token_id: str, shares: Decimal = Decimal(0)) -> None:
        """The next order of ``token_id`` matches at most ``shares`` (0: killed, as if the
        book had moved between the legs of a set)."""
        self.fill_caps[token_id] = decimal_to_size(shares)

    def overcharge_fees(self, factor: Decimal) -> None:
        """Charge ``factor`` x the schedule's fee from now on, still reporting its rate."""
        self.fee_factor = factor

    def _settlement_path(self) -> list[str]:
        if self.fail_trades > 0:
            self.fail_trades -= 1
            return ["RETRYING", "FAILED"]
        if self.retry_trades > 0:
            self.retry_trades -= 1
            return ["MINED", "RETRYING", "MINED", "CONFIRMED"]
        return ["MINED", "CONFIRMED"]

    # --- settlement -----------------------------------------------------------------------

    def _settle_later(self, trade: SimTrade, path: list[str]) -> None:
        """Move ``trade`` along ``path`` (its next statuses), one every ``settlement_step_s``."""
        if not path:
            return

        def advance() -> None:
            self._timers.discard(handle)
            self._set_status(trade, path[0])
            self._settle_later(trade, path[1:])

        handle = asyncio.get_running_loop().call_later(self.settlement_step_s, advance)
        self._timers.add(handle)

    def _set_status(self, trade: SimTrade, status: str) -> None:
        now_ms = self.now_ms()
        trade.status, trade.last_update = status, now_ms // 1000
        if status == "FAILED":  # the transaction never happened: undo what it moved
            sign = 1 if trade.side == Side.BUY else -1
            restored = sign * trade.usd + trade.fee
            self.cash[trade.maker_address] = self.balance(trade.maker_address) + restored
            key = (trade.maker_address, trade.asset_id)
            self.positions[key] = self.position(*key) - sign * size_to_decimal(trade.size)
        self.publish_user(trade.owner, trade.market, trade.event(now_ms))

    def inject(self, kind: FaultKind, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        self.faults.extend([kind] * count)

    def routes(self) -> list[Route]:
        return [
            Route("/auth/api-key", self.create_api_key, methods=["POST"]),
            Route("/auth/derive-api-key", self.derive_api_key, methods=["GET"]),
            Route("/order", self.post_order, methods=["POST"]),
            Route("/order", self.cancel_order, methods=["DELETE"]),
            Route("/orders", self.post_orders, methods=["POST"]),
            Route("/cancel-all", self.cancel_all, methods=["DELETE"]),
            Route("/data/order/{order_id}", self.get_order, methods=["GET"]),
            Route("/data/orders", self.get_orders, methods=["GET"]),
            Route("/data/trades", self.get_trades, methods=["GET"]),
            Route("/balance-allowance", self.balance_allowance, methods=["GET"]),
            Route("/v1/heartbeats", self.heartbeat, methods=["POST"]),
        ]

    def balance(self, maker: str) -> Decimal:
        return self.cash.get(checksum_address(maker), self.starting_balance)

    def position(self, maker: str, token_id: str) -> Decimal:
        return self.positions.get((checksum_address(maker), token_id), Decimal(0))

    # --- L1: API keys ---------------------------------------------------------------------

    def _creds_for(self, address: str, nonce: int) -> ApiCreds:
        seed = hmac.new(self._server_key, f"{address}:{nonce}".encode(), hashlib.sha256).digest()
        return ApiCreds(
            api_key=str(uuid.UUID(bytes=seed[:16])),
            secret=base64.urlsafe_b64encode(hashlib.sha256(seed + b"s").digest()).decode(),
            passphrase=hashlib.sha256(seed + b"p").hexdigest(),
        )

    def _l1(self, request: Request) -> tuple[str, int] | Response:
        h = request.headers
        try:
            address = checksum_address(h["POLY_ADDRESS"])
            timestamp, nonce = h["POLY_TIMESTAMP"], int(h.get("POLY_NONCE", "0"))
            digest = clob_auth_digest(address, timestamp, nonce, self.chain_id)
            signer = recover_signer(digest, h["POLY_SIGNATURE"])
            fresh = abs(int(timestamp) - self.now_ms() // 1000) <= AUTH_WINDOW_S
        except (KeyError, ValueError):
            return _error(INVALID_L1, 401)
        if signer != address or not fresh:
            return _error(INVALID_L1, 401)
        return address, nonce

    def _creds_json(self, address: str, nonce: int) -> Response:
        creds = self._creds_for(address, nonce)
        self.accounts[creds.api_key] = (address, creds)
        return _json(
            {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
        )

    async def create_api_key(self, request: Request) -> Response:
        checked = self._l1(request)
        if isinstance(checked, Response):
            return checked
        if self._creds_for(*checked).api_key in self.accounts:
            return _error("Could not create api key", 400)
        return self._creds_json(*checked)

    async def derive_api_key(self, request: Request) -> Response:
        checked = self._l1(request)
        if isinstance(checked, Response):
            return checked
        if self._creds_for(*checked).api_key not in self.accounts:
            return _error("Could not derive api key!", 400)
        return self._creds_json(*checked)

    # --- L2 -------------------------------------------------------------------------------

    async def _l2(self, request: Request) -> tuple[str, ApiCreds, bytes] | Response:
        body = await request.body()
        h = request.headers
        account = self.accounts.get(h.get("POLY_API_KEY", ""))
        if account is None:
            return _error(UNAUTHORIZED, 401)
        address, creds = account
        try:
            timestamp = h["POLY_TIMESTAMP"]
            expected = hmac_signature(
                creds.secret, timestamp, request.method, request.url.path, body.decode()
            )
            fresh = abs(int(timestamp) - self.now_ms() // 1000) <= AUTH_WINDOW_S
        except (KeyError, ValueError, UnicodeDecodeError):
            return _error(UNAUTHORIZED, 401)
        if (
            not fresh
            or h.get("POLY_PASSPHRASE") != creds.passphrase
            or h.get("POLY_ADDRESS", "").lower() != address.lower()
            or not hmac.compare_digest(h.get("POLY_SIGNATURE", ""), expected)
        ):
            return _error(UNAUTHORIZED, 401)
        return address, creds, body

    def _fault_answer(self, fault: FaultKind) -> Response:
        """A 5xx/429/425 answer of a request not processed; 429 and 503 say when to retry."""
        body = dict(_FAULT_BODIES[fault])
        response = _json(body, _STATUS_OF[fault])
        if fault in ("429", "503"):
            body["retry_after_seconds"] = self.retry_after_s
            response = _json(body, _STATUS_OF[fault])
            response.headers["Retry-After"] = str(self.retry_after_s)
        return response

    def _fault(self) -> FaultKind | None:
        return self.faults.popleft() if self.faults else None

    async def _order_request(self, request: Request, batch: bool) -> Response:
        self.requests += 1
        fault = self._fault()
        if fault is not None and fault not in ("drop", "garbled"):
            return self._fault_answer(fault)
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        address, creds, body = checked
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error("Invalid order payload", 400)
        if batch:
            if not isinstance(payload, list):
                return _error("Invalid order payload", 400)
            if len(payload) > MAX_BATCH:
                return _error(too_many_orders(len(payload), MAX_BATCH), 400)
            answers: list[dict[str, Any]] = []
            for item in payload:
                try:
                    answers.append(self.place(address, creds, item))
                except Rejected as exc:
                    answers.append(_refusal(str(exc)))
            answer: Any = answers
        else:
            try:
                answer = self.place(address, creds, payload)
            except Rejected as exc:
                return _error(str(exc), 400)
        if fault == "garbled":  # processed, but a proxy mangled the answer
            return Response("<html>502 Bad Gateway</html>", media_type="text/html")
        if fault == "drop":
            # accepted, but the answer never arrives in time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), DROP_HOLD_S)
        return _json(answer)

    async def post_order(self, request: Request) -> Response:
        return await self._order_request(request, batch=False)

    async def post_orders(self, request: Request) -> Response:
        return await self._order_request(request, batch=True)

    async def cancel_order(self, request: Request) -> Response:
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        try:
            order_id = str(orjson.loads(checked[2])["orderID"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error("Invalid order payload", 400)
        # FOK/FAK orders never rest: there is never anything to cancel.
        return _json({"canceled": [], "not_canceled": {order_id: NOT_CANCELED}})

    async def cancel_all(self, request: Request) -> Response:
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        return _json({"canceled": [], "not_canceled": {}})

    async def get_order(self, request: Request) -> Response:
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        order = self.orders.get(request.path_params["order_id"])
        if order is None or order.owner != checked[1].api_key:
            return _json(None)
        if self.order_lookup_active_only and order.status != "LIVE":
            return _json(None)  # the venue answers an unknown id with an empty body: null
        return _json(order.wire())

    async def get_orders(self, request: Request) -> Response:
        """Our active (resting) orders, one page; FOK/FAK orders never rest here."""
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        q = request.query_params
        items = [
            o.wire()
            for o in self.orders.values()
            if o.owner == checked[1].api_key
            and o.status == "LIVE"
            and q.get("market", o.market) == o.market
            and q.get("asset_id", o.asset_id) == o.asset_id
        ]
        return _json({"limit": 100, "next_cursor": "LTE=", "count": len(items), "data": items})

    async def get_trades(self, request: Request) -> Response:
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        q = request.query_params
        try:
            after = int(q.get("after", "0"))  # unix seconds
        except ValueError:
            return _error("Invalid after", 400)
        items = [
            t.wire()
            for t in self.trades.values()
            if t.owner == checked[1].api_key
            and q.get("id", t.id) == t.id
            and q.get("market", t.market) == t.market
            and q.get("asset_id", t.asset_id) == t.asset_id
            and t.match_time >= after
        ]
        return _json({"limit": 100, "next_cursor": "LTE=", "count": len(items), "data": items})

    async def heartbeat(self, request: Request) -> Response:
        """Start ("" id) or continue a heartbeat chain; a chain missed for
        ``heartbeat_timeout_s`` expires (the venue then cancels every open order; FOK/FAK
        orders never rest here, so there is nothing to cancel) and its id is refused."""
        fault = self.heartbeat_faults.popleft() if self.heartbeat_faults else None
        if fault is not None and fault in _STATUS_OF:
            return self._fault_answer(fault)
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        api_key = checked[1].api_key
        try:
            given = str(orjson.loads(checked[2])["heartbeat_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error("Invalid payload", 400)
        now = self.now_ms() / 1000
        current = self.heartbeats.get(api_key)
        alive = current is not None and current[1] >= now
        if given == "" and not alive:
            current = (str(uuid.uuid4()), now)
        elif not alive or current is None or given != current[0]:
            self.heartbeats.pop(api_key, None)
            return _json({"error": "Invalid Heartbeat ID", "heartbeat_id": given}, 400)
        self.heartbeats[api_key] = (current[0], now + self.heartbeat_timeout_s)
        return _json({"heartbeat_id": current[0]})

    async def balance_allowance(self, request: Request) -> Response:
        """The funder's pUSD (COLLATERAL) or shares of ``token_id`` (CONDITIONAL), base units;
        the funder is ``maker`` in the query (the simulator knows no proxy wallets)."""
        checked = await self._l2(request)
        if isinstance(checked, Response):
            return checked
        q = request.query_params
        maker = q.get("maker", checked[0])
        try:
            if q.get("asset_type", "COLLATERAL") == "CONDITIONAL":
                amount = self.position(maker, q.get("token_id", ""))
            else:
                amount = self.balance(maker)
        except SignatureError:
            return _error("Invalid maker", 400)
        return _json({"balance": str(int(amount * 1_000_000)), "allowances": {}})

    # --- placing --------------------------------------------------------------------------

    def _verify(self, address: str, creds: ApiCreds, body: Any) -> tuple[OrderV2, str, str, str]:
        try:
            order, signature, envelope = parse_order_body(body)
        except SignatureError as exc:
            raise Rejected(invalid_order(str(exc))) from None
        if envelope["owner"] != creds.api_key:
            raise Rejected(OWNER_MISMATCH)
        if order.signer != address:
            raise Rejected(SIGNER_MISMATCH)
        if order.signature_type == SignatureType.EOA and order.maker != order.signer:
            raise Rejected(invalid_order("an EOA order's maker is its signer"))
        market = self.venue.market_of(str(order.token_id))
        if market is None or not market.live:
            raise Rejected(invalid_order("market not found or closed"))
        exchange = NEG_RISK_EXCHANGE_V2 if market.neg_risk else EXCHANGE_V2
        digest = order_digest(order, chain_id=self.chain_id, exchange=exchange)
        try:
            if recover_signer(digest, signature) != order.signer:
                raise Rejected(INVALID_SIGNATURE)
        except SignatureError:
            raise Rejected(INVALID_SIGNATURE) from None
        order_id = "0x" + digest.hex()
        if order_id in self.orders:
            raise Rejected(f"order {order_id} is invalid. Duplicated.")
        if order.expiration and order.expiration <= self.now_ms() // 1000 + 60:
            raise Rejected(INVALID_EXPIRATION)
        if envelope["orderType"] not in ("FOK", "FAK"):
            raise Rejected(invalid_order("the simulator matches FOK and FAK orders only"))
        return order, order_id, envelope["orderType"], exchange

    def place(self, address: str, creds: ApiCreds, body: Any) -> dict[str, Any]:
        """Verify and match one order; the venue's answer (Rejected for an HTTP 400)."""
        order, order_id, order_type, _ = self._verify(address, creds, body)
        market = self.venue.market_of(str(order.token_id))
        assert market is not None  # _verify checked it
        buy = order.side == Side.BUY
        shares_units = order.taker_amount if buy else order.maker_amount
        usd_units = order.maker_amount if buy else order.taker_amount
        if not shares_units or not usd_units:
            raise Rejected(invalid_order("amounts must be positive"))
        price = Decimal(usd_units) / Decimal(shares_units)
        tick = price_to_decimal(market.tick)
        if price % tick or price < tick or price > 1 - tick:
            raise Rejected(tick_error(order_id, price.normalize(), tick))
        precision = marketable_precision_error(order.side, order.maker_amount, order.taker_amount)
        if precision:
            raise Rejected(precision)
        if buy and from_units(usd_units) < 1:
            raise Rejected(min_buy_error(from_units(usd_units)))
        token = str(order.token_id)
        fees = market_fees(market)
        # the worst fee of any fill at or below the limit: p(1 - p) peaks at 0.5
        curve = _QUARTER if price >= _QUARTER * 2 else price * (1 - price)
        worst_fee = from_units(shares_units) * fees.rate * curve
        if buy and from_units(usd_units) + worst_fee > self.balance(order.maker):
            return _refusal(NOT_ENOUGH_BALANCE)
        if not buy and from_units(shares_units) > self.position(order.maker, token):
            return _refusal(NOT_ENOUGH_BALANCE)
        first = token == market.token_ids[0]
        cap = self.fill_caps.pop(token, None)
        result = match(
            self.venue.books[market.token_ids[0]],
            first=first,
            side=order.side,
            limit=decimal_to_price(price),
            size=shares_units if cap is None else min(cap, shares_units),
        )
        placed = _Placed(market, order, order_id, order_type, creds, price)
        if order_type == "FOK" and result.size < shares_units:
            return self._killed(placed, FOK_KILLED)
        if not result.size:
            return self._killed(placed, FAK_NO_MATCH)
        return self._execute(placed, result)

    def _record(self, placed: _Placed, status: str) -> SimOrder:
        market, order = placed.market, placed.order
        token = str(order.token_id)
        return SimOrder(
            placed.order_id,
            placed.creds.api_key,
            order.maker,
            market.condition_id,
            token,
            order.side,
            size_to_decimal(order.taker_amount if order.side == Side.BUY else order.maker_amount),
            placed.price.normalize(),
            market.outcomes[market.token_ids.index(token)],
            placed.order_type,
            self.now_ms() // 1000,
            status=status,
        )

    def _killed(self, placed: _Placed, message: str) -> dict[str, Any]:
        """A FOK/FAK that took nothing: refused, and the user channel hears the cancellation
        (status ``CANCELED_<reason>``, as the venue sends a FOK kill)."""
        record = self._record(placed, "CANCELED")
        event = record.event("CANCELLATION", f"CANCELED_{message}", self.now_ms())
        self.publish_user(placed.creds.api_key, placed.market.condition_id, event)
        return _refusal(message)

    def _execute(self, placed: _Placed, result: Match) -> dict[str, Any]:
        market, order, order_id, creds = placed.market, placed.order, placed.order_id, placed.creds
        now_ms = self.now_ms()
        token = str(order.token_id)
        outcome = market.outcomes[market.token_ids.index(token)]
        own, other = market.token_ids
        changes: list[LevelChange] = []
        for side, level, size in result.changes:
            changes.append((own, side, level, size))
            changes.append((other, Side.BUY if side == Side.SELL else Side.SELL, ONE - level, size))
        frames: list[Frame] = []
        frame = self.venue.price_change(market, changes, now_ms)
        if frame is not None:
            frames.append(frame)
        record = self._record(placed, "MATCHED")
        fees = market_fees(market)
        bps = int(fees.rate * _BPS)
        usd = charged = Decimal(0)
        for fill in result.fills:
            fill_price, fill_size = price_to_decimal(fill.price), size_to_decimal(fill.size)
            fee = round_fee(fees.taker_fee(fill_price, fill_size) * self.fee_factor)
            trade = SimTrade(
                str(uuid.uuid4()),
                order_id,
                market.condition_id,
                token,
                order.side,
                fill.price,
                fill.size,
                outcome,
                creds.api_key,
                order.maker,
                now_ms // 1000,
                maker_order_id="0x" + secrets.token_hex(32),
                fee_rate_bps=bps,
                fee=fee,
            )
            self.trades[trade.id] = trade
            record.trades.append(trade.id)
            usd += fill_price * fill_size
            charged += fee
            frames.append(
                self.venue.trade(market, token, fill.price, fill.size, order.side, now_ms)
            )
        shares = size_to_decimal(result.size)
        record.size_matched = shares
        key = (order.maker, token)
        sign = 1 if order.side == Side.BUY else -1
        self.cash[order.maker] = self.balance(order.maker) - sign * usd - charged
        self.positions[key] = self.position(order.maker, token) + sign * shares
        self.orders[order_id] = record
        self.publish(frames)
        self.publish_user(
            creds.api_key, market.condition_id, record.event("PLACEMENT", "MATCHED", now_ms)
        )
        for trade_id in record.trades:
            trade = self.trades[trade_id]
            self.publish_user(creds.api_key, market.condition_id, trade.event(now_ms))
            self._settle_later(trade, self._settlement_path())
        making, taking = (usd, shares) if order.side == Side.BUY else (shares, usd)
        return {
            "errorMsg": "",
            "makingAmount": canonical(making),
            "orderID": order_id,
            "status": "matched",
            "success": True,
            "takingAmount": canonical(taking),
            "tradeIDs": list(record.trades),
            "transactionsHashes": [],
        }


def market_fees(market: SimMarket) -> FeeSchedule:
    """The taker fee schedule the market's listings publish (``feeSchedule``, ``fd``)."""
    return FeeSchedule(rate=market.category.fee_rate)


def _refusal(message: str) -> dict[str, Any]:
    return {
        "errorMsg": message,
        "makingAmount": "",
        "orderID": "",
        "status": "unmatched",
        "success": False,
        "takingAmount": "",
        "tradeIDs": [],
        "transactionsHashes": [],
    }
