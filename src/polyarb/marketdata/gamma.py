"""Gamma API: market discovery (which markets exist, their tokens, ticks, fees, events).

Gamma speaks camelCase JSON with three traps: ``clobTokenIds``, ``outcomes`` and
``outcomePrices`` are JSON strings inside the JSON; numbers such as ``orderPriceMinTickSize`` are
JSON numbers (decoded here straight to ``Decimal``, never through a float); dates come in RFC3339
with variable fractions or as ``"2026-09-09 10:30:00+00"``. Outcomes are paired with token ids by
position in those two lists and then addressed by label only: index 0 is not "Yes".

Discovery never dies of one bad market: it is skipped with a warning and counted.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import msgspec
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from polyarb.domain.errors import ConfigError, MalformedMessage, PolyarbError, Transient
from polyarb.domain.market import (
    NO_FEES,
    UNKNOWN_FEES,
    FeeSchedule,
    Market,
    MarketEvent,
    Outcome,
)
from polyarb.marketdata.guard import CallGuard
from polyarb.marketdata.http_source import HttpSource

log = structlog.get_logger(__name__)

GAMMA_URL = "https://gamma-api.polymarket.com"
MAX_OFFSET = 2000  # Gamma answers 422 beyond this offset ("use /markets/keyset")
USER_AGENT = "polyarb/0.1"

# --------------------------------------------------------------------------------------------
# JSON with exact numbers


_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def decode_json(data: bytes | str) -> Any:
    """Decode JSON keeping every non-integer number as an exact ``Decimal``."""
    return _DECODER.decode(data)


def encode_json(obj: object) -> bytes:
    """Encode JSON writing ``Decimal`` values back as JSON numbers (round-trips ``decode_json``)."""
    return _ENCODER.encode(obj)


def to_decimal(value: object, what: str) -> Decimal:
    """An exact Decimal from a wire value: decimal string, int or Decimal.

    A float (from a caller that decoded with the stdlib) is taken through its shortest repr,
    which reproduces the wire text for any value of wire precision.
    """
    if isinstance(value, bool):
        raise MalformedMessage(f"{what}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MalformedMessage(f"{what}: not a number: {value!r}") from None
    else:
        raise MalformedMessage(f"{what}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise MalformedMessage(f"{what}: not a finite number: {value!r}")
    return result


def parse_timestamp(value: object, what: str) -> datetime | None:
    """Parse a venue date (RFC3339 with any fraction, ``"2026-09-09 10:30:00+00"``, or a bare
    date) into an aware UTC datetime; None/empty gives None, anything else unparseable raises."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"{what}: expected a date string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MalformedMessage(f"{what}: not a date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Category taker rates for a market that says fees are on but sends no schedule (older Gamma
# objects carry only ``feeType``). Where sources disagree the higher rate is used, and an unknown
# category gets the highest known rate: overestimating a fee only costs a missed trade.
_CATEGORY_FEE_RATES: tuple[tuple[str, Decimal], ...] = (
    ("geopolitic", Decimal(0)),
    ("crypto", Decimal("0.072")),
    ("sport", Decimal("0.05")),
    ("esport", Decimal("0.05")),
    ("politic", Decimal("0.04")),
    ("financ", Decimal("0.04")),
    ("tech", Decimal("0.04")),
    ("mention", Decimal("0.04")),
    ("econom", Decimal("0.05")),
    ("cultur", Decimal("0.05")),
    ("weather", Decimal("0.05")),
    ("other", Decimal("0.05")),
)
MAX_CATEGORY_FEE_RATE = max(rate for _, rate in _CATEGORY_FEE_RATES)


def fallback_fee_schedule(fee_type: str | None) -> FeeSchedule:
    """A conservative schedule for a fee-enabled market without an explicit ``feeSchedule``."""
    text = (fee_type or "").casefold()
    for prefix, rate in _CATEGORY_FEE_RATES:
        if text.startswith(prefix):
            return FeeSchedule(rate=rate)
    return FeeSchedule(rate=MAX_CATEGORY_FEE_RATE)


# --------------------------------------------------------------------------------------------
# HTTP with retries


class VenueRequestError(PolyarbError):
    """The venue refused a request (4xx other than 429): retrying will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.status = response.status_code
        self.retry_after = _retry_after_s(response.headers.get("retry-after"))
        self.snippet = _snippet(response.text)


def _retry_after_s(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _snippet(text: str, limit: int = 160) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _describe_transport_error(exc: httpx.TransportError) -> str:
    detail = _snippet(str(exc)) if str(exc) else "no details"
    return f"{type(exc).__name__}: {detail}"


def _backoff(base_s: float, cap_s: float) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, cap_s)
        exp: float = base_s * 2 ** (state.attempt_number - 1)
        return float(min(cap_s, exp * random.uniform(0.5, 1.0)))

    return wait


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.UnsupportedProtocol):
        return False  # a URL without http(s)://: retrying cannot help
    return isinstance(exc, httpx.TransportError | _RetryableStatus)


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    params: Sequence[tuple[str, str]] | None = None,
    max_attempts: int = 4,
    backoff_s: float = 0.5,
    max_wait_s: float = 30.0,
    guard: CallGuard | None = None,
) -> Any:
    """GET ``url`` and decode its JSON body (exact Decimals).

    Transport errors, timeouts, 5xx and 429 are retried ``max_attempts`` times in all, with
    jittered exponential backoff or the server's ``Retry-After`` (capped at ``max_wait_s``).
    Raises ``Transient`` when the venue stays unreachable or failing, ``VenueRequestError`` on
    another 4xx, ``MalformedMessage`` when the body is not JSON and ``ConfigError`` for a URL
    that cannot work; every message is one line naming ``what`` and the URL. ``guard`` (a
    circuit breaker) is asked first and told the outcome of the call, retries included.
    """
    if guard is None:
        return await _get_json(client, url, what, params, max_attempts, backoff_s, max_wait_s)
    guard.check()
    try:
        body = await _get_json(client, url, what, params, max_attempts, backoff_s, max_wait_s)
    except (Transient, MalformedMessage) as exc:
        guard.record_failure(str(exc))
        raise
    except VenueRequestError:
        guard.record_success()  # a business 4xx: the dependency works
        raise
    guard.record_success()
    return body


async def _get_json(
    client: httpx.AsyncClient,
    url: str,
    what: str,
    params: Sequence[tuple[str, str]] | None,
    max_attempts: int,
    backoff_s: float,
    max_wait_s: float,
) -> Any:
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, max_attempts)),
        wait=_backoff(backoff_s, max_wait_s),
        retry=retry_if_exception(_is_retryable),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "http_retry",
            what=what,
            url=url,
            attempt=state.attempt_number,
            error=str(state.outcome.exception()) if state.outcome is not None else "",
        ),
    )
    try:
        async for attempt in retrying:
            with attempt:
                response = await client.get(url, params=tuple(params or ()))
                if response.status_code == 429 or response.status_code >= 500:
                    raise _RetryableStatus(response)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConfigError(f"{what} URL {url!r} is not usable: {_snippet(str(exc))}") from None
    except httpx.TransportError as exc:
        raise Transient(
            f"{what} unreachable at {url} after {max_attempts} attempts "
            f"({_describe_transport_error(exc)})"
        ) from None
    except _RetryableStatus as exc:
        raise Transient(
            f"{what} {url} answered HTTP {exc.status} after {max_attempts} attempts"
            + (f": {exc.snippet}" if exc.snippet else "")
        ) from None
    if response.status_code >= 400:
        raise VenueRequestError(
            f"{what} {url} answered HTTP {response.status_code}: {_snippet(response.text)}",
            response.status_code,
        )
    try:
        return decode_json(response.content)
    except msgspec.DecodeError:
        raise MalformedMessage(
            f"{what} {url}: the response is not JSON: {_snippet(response.text)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Client


class GammaClient(HttpSource):
    """Pages through Gamma's ``/markets`` and ``/events``; returns the raw objects with exact
    Decimal numbers (see ``decode_json``); ``base_url`` as in ``HttpSource``."""

    def __init__(
        self,
        base_url: str = GAMMA_URL,
        *,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_wait_s: float = 30.0,
        guard: CallGuard | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout_s=timeout_s,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            client=client,
            guard=guard,
        )
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s

    async def markets(
        self,
        *,
        active_only: bool = True,
        page_size: int = 100,
        max_pages: int = 20,
        order: str = "volume24hr",
        slugs: Sequence[str] = (),
        condition_ids: Sequence[str] = (),
    ) -> list[dict[str, object]]:
        """Market objects, highest 24 h volume first; ``slugs`` / ``condition_ids`` restrict
        to those (with ``active_only=False``: closed and resolved ones too)."""
        extra = [("condition_ids", c) for c in condition_ids]
        return await self._paged("/markets", active_only, page_size, max_pages, order, slugs, extra)

    async def events(
        self,
        *,
        active_only: bool = True,
        page_size: int = 100,
        max_pages: int = 20,
        order: str = "volume24hr",
        slugs: Sequence[str] = (),
    ) -> list[dict[str, object]]:
        """Event objects (each with its ``markets[]`` and ``tags[]``), by 24 h volume."""
        return await self._paged("/events", active_only, page_size, max_pages, order, slugs)

    async def _paged(
        self,
        route: str,
        active_only: bool,
        page_size: int,
        max_pages: int,
        order: str,
        slugs: Sequence[str],
        extra: Sequence[tuple[str, str]] = (),
    ) -> list[dict[str, object]]:
        url = self.base_url + route
        base: list[tuple[str, str]] = []
        if active_only:
            base += [("closed", "false"), ("active", "true")]
        base += [("order", order), ("ascending", "false")]
        base += [("slug", s) for s in slugs]
        base += extra
        out: list[dict[str, object]] = []
        seen: set[str] = set()
        offset = 0
        for _ in range(max(1, max_pages)):
            params = [*base, ("limit", str(page_size)), ("offset", str(offset))]
            page = await get_json(
                self._client,
                url,
                what="Gamma API",
                params=params,
                max_attempts=self._max_attempts,
                backoff_s=self._backoff_s,
                max_wait_s=self._max_wait_s,
                guard=self.guard,
            )
            if not isinstance(page, list):
                raise MalformedMessage(
                    f"Gamma API {url}: expected a JSON array, got {type(page).__name__}"
                )
            for item in page:
                if not isinstance(item, dict):
                    log.warning("gamma_item_not_object", url=url, item=_snippet(repr(item), 80))
                    continue
                # Volume order shifts between page requests: the same object can show up twice.
                key = str(item.get("id") or item.get("conditionId") or item.get("slug") or "")
                if key and key in seen:
                    continue
                seen.add(key)
                out.append(item)
            offset += page_size
            if len(page) < page_size or offset > MAX_OFFSET:
                break
        return out


# --------------------------------------------------------------------------------------------
# Parsing


def _context(raw: Mapping[str, object]) -> str:
    ident = raw.get("id") or raw.get("conditionId") or "?"
    slug = raw.get("slug")
    return f"gamma market {ident}" + (f" ({slug})" if slug else "")


def _text(raw: Mapping[str, object], key: str, ctx: str, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise MalformedMessage(f"{ctx}: missing {key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedMessage(f"{ctx}: {key} is not a string: {value!r}")
    return str(value)


def _flag(raw: Mapping[str, object], key: str, ctx: str, default: bool) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedMessage(f"{ctx}: {key} is not a boolean: {value!r}")
    return value


def _string_list(raw: Mapping[str, object], key: str, ctx: str) -> list[str]:
    """A list of strings sent as a JSON-encoded string (or, on some routes, a real array)."""
    value = raw.get(key)
    if value is None or value == "":
        raise MalformedMessage(f"{ctx}: missing {key}")
    if isinstance(value, str):
        try:
            value = decode_json(value)
        except msgspec.DecodeError:
            raise MalformedMessage(
                f"{ctx}: {key} is not valid JSON: {_snippet(str(value), 80)}"
            ) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedMessage(
            f"{ctx}: {key} is not a list of strings: {_snippet(repr(value), 80)}"
        )
    return value


def _decimal_field(
    raw: Mapping[str, object], keys: Iterable[str], ctx: str, default: Decimal
) -> Decimal:
    for key in keys:
        value = raw.get(key)
        if value is not None and value != "":
            return to_decimal(value, f"{ctx}: {key}")
    return default


def _tags(*sources: object) -> tuple[str, ...]:
    """Tag labels and slugs from Gamma tag lists (objects or plain strings), de-duplicated."""
    out: list[str] = []
    seen: set[str] = set()
    for source in sources:
        if not isinstance(source, list):
            continue
        for tag in source:
            names = [tag.get("label"), tag.get("slug")] if isinstance(tag, dict) else [tag]
            for name in names:
                if isinstance(name, str) and name.strip() and name.casefold() not in seen:
                    seen.add(name.casefold())
                    out.append(name.strip())
    return tuple(out)


def _parent_event(raw: Mapping[str, object]) -> Mapping[str, object] | None:
    events = raw.get("events")
    if isinstance(events, list) and events and isinstance(events[0], dict):
        return events[0]
    return None


def _nested_markets(event: Mapping[str, object]) -> list[Mapping[str, object]]:
    markets = event.get("markets")
    if not isinstance(markets, list):
        return []
    return [m for m in markets if isinstance(m, Mapping)]


def _fees(raw: Mapping[str, object], ctx: str) -> FeeSchedule:
    enabled = raw.get("feesEnabled")
    schedule = raw.get("feeSchedule")
    if enabled is False:
        return NO_FEES
    if isinstance(schedule, dict):
        rate = to_decimal(schedule.get("rate", 0), f"{ctx}: feeSchedule.rate")
        exponent = to_decimal(schedule.get("exponent", 1), f"{ctx}: feeSchedule.exponent")
        rebate = to_decimal(schedule.get("rebateRate", 0), f"{ctx}: feeSchedule.rebateRate")
        if not 0 <= rate <= 1 or exponent != exponent.to_integral_value() or exponent < 1:
            raise MalformedMessage(f"{ctx}: implausible feeSchedule {schedule!r}")
        if rate == 0:
            return NO_FEES
        return FeeSchedule(
            rate=rate,
            exponent=int(exponent),
            taker_only=_flag(schedule, "takerOnly", ctx, True),
            rebate_rate=rebate,
        )
    if enabled is True:
        fee_type = raw.get("feeType")
        return fallback_fee_schedule(fee_type if isinstance(fee_type, str) else None)
    return UNKNOWN_FEES  # no fee data at all: not "free" (fail closed; issue 8 item 6)


def parse_market(raw: Mapping[str, object], *, event: Mapping[str, object] | None = None) -> Market:
    """Build a domain ``Market`` from a Gamma market object.

    ``event`` is the parent event when the market came nested in one (``/events``), or a richer
    copy of it (with tags); otherwise ``raw["events"][0]`` is used. Raises ``MalformedMessage``
    naming the market when the object cannot be trusted (bad JSON-in-JSON, outcome and token
    lists of different lengths, duplicate labels, missing ids, bad numbers or dates).
    """
    if not isinstance(raw, Mapping):
        raise MalformedMessage(f"gamma market: expected an object, got {type(raw).__name__}")
    ctx = _context(raw)
    condition_id = _text(raw, "conditionId", ctx, required=True)
    labels = _string_list(raw, "outcomes", ctx)
    token_ids = _string_list(raw, "clobTokenIds", ctx)
    if len(labels) != len(token_ids):
        raise MalformedMessage(f"{ctx}: {len(token_ids)} clobTokenIds for {len(labels)} outcomes")
    if len(labels) < 2:
        raise MalformedMessage(f"{ctx}: fewer than two outcomes: {labels!r}")
    if any(not t.strip() for t in token_ids) or len(set(token_ids)) != len(token_ids):
        raise MalformedMessage(f"{ctx}: empty or repeated token id in clobTokenIds")
    if any(not label.strip() for label in labels) or len({x.casefold() for x in labels}) != len(
        labels
    ):
        raise MalformedMessage(f"{ctx}: empty or repeated outcome label in {labels!r}")
    outcomes = tuple(Outcome(label=lb, token_id=t) for lb, t in zip(labels, token_ids, strict=True))

    tick = _decimal_field(raw, ("orderPriceMinTickSize",), ctx, Decimal("0.01"))
    if not Decimal(0) < tick < 1:
        raise MalformedMessage(f"{ctx}: implausible orderPriceMinTickSize {tick}")
    min_size = _decimal_field(raw, ("orderMinSize",), ctx, Decimal(5))
    if min_size < 0:
        raise MalformedMessage(f"{ctx}: negative orderMinSize {min_size}")

    parent = event if event is not None else _parent_event(raw)
    event_id = _text(parent, "id", ctx) if parent is not None else ""
    event_slug = _text(parent, "slug", ctx) if parent is not None else ""
    neg_risk_market_id = _text(raw, "negRiskMarketID", ctx) or (
        _text(parent, "negRiskMarketID", ctx) if parent is not None else ""
    )

    return Market(
        condition_id=condition_id,
        question=_text(raw, "question", ctx),
        slug=_text(raw, "slug", ctx),
        outcomes=outcomes,
        tick_size=tick,
        min_order_size=min_size,
        neg_risk=_flag(raw, "negRisk", ctx, False),
        event_id=event_id or None,
        event_slug=event_slug or None,
        neg_risk_market_id=neg_risk_market_id or None,
        neg_risk_other=_flag(raw, "negRiskOther", ctx, False),
        group_item_title=_text(raw, "groupItemTitle", ctx),
        end_date=parse_timestamp(raw.get("endDate"), f"{ctx}: endDate"),
        fees=_fees(raw, ctx),
        # Absent flags mean "not known to be tradable": discovery then leaves the market out.
        accepting_orders=_flag(raw, "acceptingOrders", ctx, False),
        active=_flag(raw, "active", ctx, False),
        closed=_flag(raw, "closed", ctx, False),
        liquidity=_decimal_field(raw, ("liquidityNum", "liquidity"), ctx, Decimal(0)),
        volume_24h=_decimal_field(raw, ("volume24hr",), ctx, Decimal(0)),
        tags=_tags(raw.get("tags"), parent.get("tags") if parent is not None else None),
        gamma_id=_text(raw, "id", ctx),
        sports_market_type=_text(raw, "sportsMarketType", ctx),
        game_start_time=parse_timestamp(raw.get("gameStartTime"), f"{ctx}: gameStartTime"),
        raw=dict(raw),
        enable_order_book=_flag(raw, "enableOrderBook", ctx, False),
        outcome_prices=_outcome_prices(raw, len(outcomes)),
        resolution_status=_text(raw, "umaResolutionStatus", ctx),
    )


def _outcome_prices(raw: Mapping[str, object], count: int) -> tuple[Decimal, ...]:
    """``outcomePrices`` as exact decimals, or () when absent or unreadable: they only matter
    for a closed market's resolution, which is then unknown (never assumed)."""
    try:
        texts = _string_list(raw, "outcomePrices", "")
        prices = tuple(to_decimal(t, "outcomePrices") for t in texts)
    except MalformedMessage:
        return ()
    return prices if len(prices) == count else ()


def parse_event(raw: Mapping[str, object]) -> MarketEvent:
    """Build a ``MarketEvent`` from a Gamma event object with its nested ``markets``.

    Strict: any malformed market raises (a negRisk set with an unreadable leg is unknowable).
    Discovery uses ``parse_market`` per leg instead, so the readable legs stay usable.
    """
    if not isinstance(raw, Mapping):
        raise MalformedMessage(f"gamma event: expected an object, got {type(raw).__name__}")
    ctx = f"gamma event {raw.get('id') or '?'}" + (f" ({raw['slug']})" if raw.get("slug") else "")
    event_id = _text(raw, "id", ctx, required=True)
    markets_raw = raw.get("markets")
    if not isinstance(markets_raw, list):
        raise MalformedMessage(f"{ctx}: missing markets")
    markets = tuple(parse_market(m, event=raw) for m in markets_raw)
    return MarketEvent(
        event_id=event_id,
        slug=_text(raw, "slug", ctx),
        title=_text(raw, "title", ctx),
        neg_risk=_flag(raw, "negRisk", ctx, False),
        markets=markets,
        tags=_tags(raw.get("tags")),
        augmented=_flag(raw, "negRiskAugmented", ctx, False),
    )


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class MarketFilter:
    """Which markets to trade. ``slugs`` and ``tags`` are allowlists (a market passes when it
    matches either; both empty = everything); a slug matches the market's or its event's slug,
    a tag matches a tag label or slug, all case-insensitively."""

    slugs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclude_slugs: tuple[str, ...] = ()
    min_liquidity: Decimal = Decimal(0)
    max_markets: int = 200
    include_neg_risk: bool = True

    @classmethod
    def from_settings(cls, settings: object) -> MarketFilter:
        """Read the ``MARKETS_*`` settings (duck-typed: marketdata sits below config)."""
        return cls(
            slugs=tuple(getattr(settings, "markets_slugs", ())),
            tags=tuple(getattr(settings, "markets_tags", ())),
            exclude_slugs=tuple(getattr(settings, "markets_exclude_slugs", ())),
            min_liquidity=Decimal(getattr(settings, "markets_min_liquidity", Decimal(0))),
            max_markets=int(getattr(settings, "markets_max", 200)),
            include_neg_risk=bool(getattr(settings, "markets_include_neg_risk", True)),
        )

    def allows(self, market: Market) -> bool:
        """Allowlists, exclusions and the negRisk switch (not liquidity, not tradability)."""
        if market.neg_risk and not self.include_neg_risk:
            return False
        slugs = {s.casefold() for s in (market.slug, market.event_slug or "") if s}
        if slugs & {s.casefold() for s in self.exclude_slugs}:
            return False
        if not self.slugs and not self.tags:
            return True
        if slugs & {s.casefold() for s in self.slugs}:
            return True
        return bool({t.casefold() for t in market.tags} & {t.casefold() for t in self.tags})


def is_tradable(market: Market) -> bool:
    """Open, accepting orders, with an order book."""
    return (
        market.active and not market.closed and market.accepting_orders and market.enable_order_book
    )


@dataclass(frozen=True)
class Universe:
    """The markets to trade: binary markets and the legs of complete negRisk events.

    ``events`` holds only negRisk events whose every open leg is selected and tradable; the legs
    of an event that could not be completed stay in ``markets`` as plain binary markets.
    ``raw`` holds the selected Gamma market objects (for the recorder's ``markets.json``).
    """

    markets: tuple[Market, ...]
    events: tuple[MarketEvent, ...]
    raw: list[dict[str, object]]
    skipped: int = 0  # malformed Gamma market objects left out
    _by_token: dict[str, Market] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        index = {token: m for m in self.markets for token in m.token_ids}
        object.__setattr__(self, "_by_token", index)

    def token_ids(self) -> list[str]:
        return [token for m in self.markets for token in m.token_ids]

    def market_of(self, token_id: str) -> Market | None:
        return self._by_token.get(token_id)

    def event_of(self, market: Market) -> MarketEvent | None:
        for event in self.events:
            if market.event_id == event.event_id:
                return event
        return None

    def event_objects(self) -> list[dict[str, object]]:
        """The complete negRisk events as Gamma-shaped objects with their legs' raw objects
        (``events.json`` of a recording: a replay regroups exactly these sets)."""
        raw_by_condition = {str(r.get("conditionId")): r for r in self.raw}
        return [
            {
                "id": event.event_id,
                "slug": event.slug,
                "title": event.title,
                "negRisk": True,
                "negRiskAugmented": event.augmented,
                "markets": [raw_by_condition[m.condition_id] for m in event.markets],
            }
            for event in self.events
            if all(m.condition_id in raw_by_condition for m in event.markets)
        ]


def events_from_markets(raw_markets: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Rebuild negRisk events from the markets' own ``events`` back-references, treating the
    listed legs as the whole event. Only for recordings without ``events.json`` (synthetic ones,
    whose every leg is present); a live recording carries its complete sets explicitly."""
    grouped: dict[str, dict[str, object]] = {}
    for raw in raw_markets:
        if raw.get("negRisk") is not True:
            continue
        parent = _parent_event(raw)
        if parent is None or not parent.get("id"):
            continue
        event = grouped.setdefault(str(parent["id"]), {**parent, "markets": []})
        legs = event["markets"]
        assert isinstance(legs, list)
        legs.append(raw)
    return list(grouped.values())


@dataclass
class _Unit:
    """What the market cap counts: one binary market, or one negRisk event with all its legs."""

    markets: list[Market]
    event: MarketEvent | None = None

    @property
    def volume(self) -> Decimal:
        return sum((m.volume_24h for m in self.markets), Decimal(0))


def _compact_event(event: Mapping[str, object]) -> dict[str, object]:
    keys = ("id", "slug", "title", "negRisk", "negRiskMarketID", "negRiskAugmented", "tags")
    return {k: event[k] for k in keys if k in event}


def _with_event(raw: Mapping[str, object], event: Mapping[str, object] | None) -> dict[str, object]:
    """The raw object as served, plus what a replay of ``markets.json`` needs to parse it the
    same way: an ``events`` back-reference when it came nested in an event, or the event's tags
    when the market's own copy of its event lacked them."""
    out = dict(raw)
    parent = _parent_event(raw)
    if event is None or event is parent:
        return out
    if parent is None:
        out["events"] = [_compact_event(event)]
    elif "tags" not in parent and "tags" in event:
        events = raw.get("events")
        rest = events[1:] if isinstance(events, list) else []
        out["events"] = [{**parent, "tags": event["tags"]}, *rest]
    return out


_MAX_SKIP_WARNINGS = 20


async def discover(
    gamma: GammaClient, flt: MarketFilter, *, page_size: int = 100, max_pages: int = 20
) -> Universe:
    """Fetch active markets and events, parse them (skipping malformed ones) and select the
    tradable universe per ``flt``, highest 24 h volume first, up to ``flt.max_markets`` markets
    (a negRisk event counts all its legs and is taken whole or not at all)."""
    fetches = [
        gamma.markets(page_size=page_size, max_pages=max_pages),
        gamma.events(page_size=page_size, max_pages=max_pages),
    ]
    if flt.slugs:  # listed slugs may rank below the volume pages: ask for them directly too
        fetches.append(gamma.markets(slugs=flt.slugs, page_size=page_size, max_pages=1))
        fetches.append(gamma.events(slugs=flt.slugs, page_size=page_size, max_pages=1))
    try:
        # A TaskGroup cancels the other fetches when one fails (gather would leave them running).
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fetch) for fetch in fetches]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None  # callers expect the plain one-line error
    results = [task.result() for task in tasks]
    raw_markets = [m for result in results[0::2] for m in result]
    raw_events = [e for result in results[1::2] for e in result]
    return select_universe(raw_markets, raw_events, flt)


def select_universe(
    raw_markets: Sequence[Mapping[str, object]],
    raw_events: Sequence[Mapping[str, object]],
    flt: MarketFilter,
) -> Universe:
    """The pure part of ``discover``: parse, group negRisk events, filter and cap."""
    events_by_id: dict[str, Mapping[str, object]] = {}
    event_of_condition: dict[str, Mapping[str, object]] = {}
    for ev in raw_events:
        if not isinstance(ev, Mapping) or not ev.get("id"):
            continue
        events_by_id.setdefault(str(ev["id"]), ev)
        for m in _nested_markets(ev):
            if isinstance(m.get("conditionId"), str):
                event_of_condition.setdefault(str(m["conditionId"]), ev)

    # Candidates in volume order: the /markets objects first, then legs only seen in events.
    candidates: dict[str, tuple[Mapping[str, object], Mapping[str, object] | None]] = {}
    nested = [m for ev in raw_events for m in _nested_markets(ev)]
    for raw in [*raw_markets, *nested]:
        cid = raw.get("conditionId") if isinstance(raw, Mapping) else None
        key = cid if isinstance(cid, str) and cid else f"#{len(candidates)}"
        if key in candidates:
            continue
        parent = _parent_event(raw)
        event = (
            events_by_id.get(str(parent.get("id"))) if parent is not None else None
        ) or event_of_condition.get(key)
        candidates[key] = (raw, event if event is not None else parent)

    parsed: dict[str, Market] = {}
    raw_of: dict[str, dict[str, object]] = {}
    skipped = 0
    for key, (raw, event) in candidates.items():
        try:
            market = parse_market(raw, event=event)
        except MalformedMessage as exc:
            skipped += 1
            if skipped <= _MAX_SKIP_WARNINGS:
                log.warning("gamma_market_skipped", reason=str(exc))
            continue
        parsed[key] = market
        raw_of[key] = _with_event(raw, event)
    if skipped:
        log.warning("gamma_markets_skipped", count=skipped, parsed=len(parsed))

    units = _units(parsed, events_by_id, flt)
    units.sort(key=lambda u: u.volume, reverse=True)
    chosen: list[_Unit] = []
    count = 0
    for unit in units:
        if count + len(unit.markets) > flt.max_markets:
            continue
        chosen.append(unit)
        count += len(unit.markets)
    markets = tuple(m for u in chosen for m in u.markets)
    events = tuple(u.event for u in chosen if u.event is not None)
    raw_out = [raw_of[m.condition_id] for m in markets]
    return Universe(markets=markets, events=events, raw=raw_out, skipped=skipped)


def _units(
    parsed: Mapping[str, Market],
    events_by_id: Mapping[str, Mapping[str, object]],
    flt: MarketFilter,
) -> list[_Unit]:
    units: list[_Unit] = []
    groups: dict[str, list[Market]] = {}
    for market in parsed.values():
        if not flt.allows(market):
            continue
        group = market.event_id or market.neg_risk_market_id
        if market.neg_risk and group:
            groups.setdefault(group, []).append(market)
        elif is_tradable(market) and market.liquidity >= flt.min_liquidity:
            units.append(_Unit([market]))

    for group_id, legs in groups.items():
        event = _complete_event(group_id, legs, parsed, events_by_id)
        open_legs = [m for m in legs if not m.closed]
        if event is not None:
            total = sum((m.liquidity for m in event.markets), Decimal(0))
            if total >= flt.min_liquidity:
                units.append(_Unit(list(event.markets), event))
            continue
        units.extend(
            _Unit([m]) for m in open_legs if is_tradable(m) and m.liquidity >= flt.min_liquidity
        )
    return units


def _complete_event(
    event_id: str,
    selected: list[Market],
    parsed: Mapping[str, Market],
    events_by_id: Mapping[str, Mapping[str, object]],
) -> MarketEvent | None:
    """The negRisk event if every one of its open legs (per the event object) was parsed,
    passed the filter and is tradable, and no other leg of it is known; else None (a partial set
    is not a complete set).

    A closed leg is out of the set only when the data says it resolved NO (it cannot win);
    a closed leg that resolved YES, split, or whose resolution is unknown leaves no complete set.
    In an augmented event (``negRiskAugmented``) placeholder outcomes ("Other", "Person A")
    are left out of the legs and the event is marked ``augmented`` (never a YES complete set).
    """
    raw_event = events_by_id.get(event_id)
    if raw_event is None:
        return None
    augmented = raw_event.get("negRiskAugmented") is True
    selected_ids = {m.condition_id for m in selected}
    listed_ids = {m.get("conditionId") for m in _nested_markets(raw_event)}
    if selected_ids - listed_ids:
        return None  # a leg the event does not list: the event object is stale or partial
    legs: list[Market] = []
    resolved_no: list[str] = []
    for raw in _nested_markets(raw_event):
        cid = raw.get("conditionId")
        market = parsed.get(cid) if isinstance(cid, str) else None
        if market is None:
            if raw.get("closed") is True and _raw_resolved_no(raw):
                resolved_no.append(str(cid))
                continue  # a leg that resolved NO, even if otherwise unreadable
            if augmented and _raw_placeholder(raw):
                continue
            return None
        if market.closed:
            if not market.resolved_no:
                return None  # resolved YES, split or unknown: the listed set may not pay
            resolved_no.append(market.condition_id)
            continue
        if augmented and market.is_placeholder:
            continue
        if market.condition_id not in selected_ids or not is_tradable(market):
            return None
        legs.append(market)
    if len(legs) < 2:
        return None
    ctx_tags = _tags(raw_event.get("tags"))
    return MarketEvent(
        event_id=event_id,
        slug=str(raw_event.get("slug") or ""),
        title=str(raw_event.get("title") or ""),
        neg_risk=True,
        markets=tuple(legs),
        tags=ctx_tags,
        augmented=augmented,
        resolved_no=tuple(resolved_no),
    )


def _raw_resolved_no(raw: Mapping[str, object]) -> bool:
    """A leg's resolution read from its raw object alone (it could not be parsed whole)."""
    try:
        labels = _string_list(raw, "outcomes", "")
    except MalformedMessage:
        return False
    status = raw.get("umaResolutionStatus")
    market = Market(
        condition_id=str(raw.get("conditionId") or ""),
        question="",
        slug="",
        outcomes=tuple(Outcome(label, str(i)) for i, label in enumerate(labels)),
        closed=True,
        outcome_prices=_outcome_prices(raw, len(labels)),
        resolution_status=status if isinstance(status, str) else "",
    )
    return market.resolved_no


def _raw_placeholder(raw: Mapping[str, object]) -> bool:
    title = raw.get("groupItemTitle")
    market = Market(
        condition_id="",
        question="",
        slug="",
        outcomes=(),
        neg_risk_other=raw.get("negRiskOther") is True,
        group_item_title=title if isinstance(title, str) else "",
    )
    return market.is_placeholder
