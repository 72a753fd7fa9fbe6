"""CLOB REST market objects (``GET /markets``, ``/markets/{condition_id}``) -> domain ``Market``.

Unlike Gamma these are snake_case with real arrays: ``tokens[{token_id, outcome, price, winner}]``
pairs each token with its outcome label directly. ``minimum_tick_size``, ``minimum_order_size``
and token prices are JSON numbers: decode the body with ``gamma.decode_json`` so they arrive as
exact Decimals. The CLOB object carries no fee schedule; a market whose legacy
``taker_base_fee`` is set gets the conservative category fallback (see ``fallback_fee_schedule``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from polyarb.domain.errors import MalformedMessage
from polyarb.domain.market import NO_FEES, UNKNOWN_FEES, FeeSchedule, Market, Outcome
from polyarb.marketdata.gamma import fallback_fee_schedule, parse_timestamp, to_decimal

log = structlog.get_logger(__name__)

START_CURSOR = "MA=="
END_CURSOR = "LTE="  # the last page's next_cursor; never send it back


def _text(raw: Mapping[str, object], key: str, ctx: str, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise MalformedMessage(f"{ctx}: missing {key}")
        return ""
    if not isinstance(value, str):
        raise MalformedMessage(f"{ctx}: {key} is not a string: {value!r}")
    return value


def _flag(raw: Mapping[str, object], key: str, ctx: str) -> bool:
    value = raw.get(key)
    if value is None:
        return False  # unknown means "not known to be tradable"
    if not isinstance(value, bool):
        raise MalformedMessage(f"{ctx}: {key} is not a boolean: {value!r}")
    return value


def _number(raw: Mapping[str, object], key: str, ctx: str, default: Decimal) -> Decimal:
    value = raw.get(key)
    if value is None or value == "":
        return default
    return to_decimal(value, f"{ctx}: {key}")


def parse_clob_market(raw: Mapping[str, object]) -> Market:
    """Build a ``Market`` from a CLOB market object; ``MalformedMessage`` names the market when
    ids are missing, tokens are empty/repeated, or numbers and dates do not parse."""
    if not isinstance(raw, Mapping):
        raise MalformedMessage(f"clob market: expected an object, got {type(raw).__name__}")
    ctx = f"clob market {raw.get('condition_id') or '?'}"
    condition_id = _text(raw, "condition_id", ctx, required=True)
    tokens = raw.get("tokens")
    if not isinstance(tokens, list) or len(tokens) < 2:
        raise MalformedMessage(f"{ctx}: expected at least two tokens")
    outcomes: list[Outcome] = []
    for token in tokens:
        if not isinstance(token, Mapping):
            raise MalformedMessage(f"{ctx}: token is not an object")
        outcomes.append(
            Outcome(
                label=_text(token, "outcome", ctx, required=True),
                token_id=_text(token, "token_id", ctx, required=True),
            )
        )
    if len({o.token_id for o in outcomes}) != len(outcomes) or len(
        {o.label.casefold() for o in outcomes}
    ) != len(outcomes):
        raise MalformedMessage(f"{ctx}: repeated token id or outcome label")
    tick = _number(raw, "minimum_tick_size", ctx, Decimal("0.01"))
    if not Decimal(0) < tick < 1:
        raise MalformedMessage(f"{ctx}: implausible minimum_tick_size {tick}")
    min_size = _number(raw, "minimum_order_size", ctx, Decimal(5))
    if min_size < 0:
        raise MalformedMessage(f"{ctx}: negative minimum_order_size {min_size}")
    taker_fee_bps = _number(raw, "taker_base_fee", ctx, Decimal(-1))  # -1: not sent
    tags = raw.get("tags")
    return Market(
        condition_id=condition_id,
        question=_text(raw, "question", ctx),
        slug=_text(raw, "market_slug", ctx),
        outcomes=tuple(outcomes),
        tick_size=tick,
        min_order_size=min_size,
        neg_risk=_flag(raw, "neg_risk", ctx),
        neg_risk_market_id=_text(raw, "neg_risk_market_id", ctx) or None,
        end_date=parse_timestamp(raw.get("end_date_iso"), f"{ctx}: end_date_iso"),
        fees=_clob_fees(taker_fee_bps),
        accepting_orders=_flag(raw, "accepting_orders", ctx),
        active=_flag(raw, "active", ctx),
        closed=_flag(raw, "closed", ctx),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        game_start_time=parse_timestamp(raw.get("game_start_time"), f"{ctx}: game_start_time"),
        raw=dict(raw),
        enable_order_book=_flag(raw, "enable_order_book", ctx),
    )


def winning_outcome(raw: Mapping[str, object]) -> str | None:
    """The label of the token flagged ``winner`` in a resolved CLOB market, if exactly one."""
    tokens = raw.get("tokens")
    if not isinstance(tokens, list):
        return None
    winners = [
        t.get("outcome") for t in tokens if isinstance(t, Mapping) and t.get("winner") is True
    ]
    if len(winners) == 1 and isinstance(winners[0], str):
        return winners[0]
    return None


@dataclass(frozen=True)
class ClobMarketsPage:
    """One page of ``GET /markets``: the readable markets, the cursor of the next page and how
    many objects were skipped as malformed."""

    markets: tuple[Market, ...]
    next_cursor: str
    skipped: int = 0

    @property
    def is_last(self) -> bool:
        return self.next_cursor in ("", END_CURSOR)


def parse_clob_markets_page(raw: Mapping[str, object]) -> ClobMarketsPage:
    """Parse a ``{limit, count, next_cursor, data[]}`` page; bad items are skipped and counted."""
    data = raw.get("data") if isinstance(raw, Mapping) else None
    if not isinstance(data, list):
        raise MalformedMessage("clob markets page: expected an object with a data array")
    markets: list[Market] = []
    skipped = 0
    for item in data:
        try:
            markets.append(parse_clob_market(item))
        except MalformedMessage as exc:
            skipped += 1
            log.warning("clob_market_skipped", reason=str(exc))
    cursor = raw.get("next_cursor")
    return ClobMarketsPage(
        markets=tuple(markets),
        next_cursor=cursor if isinstance(cursor, str) else "",
        skipped=skipped,
    )


def _clob_fees(taker_fee_bps: Decimal) -> FeeSchedule:
    """No ``taker_base_fee`` at all is no fee data (fail closed), 0 is fee-free, and a legacy
    non-zero value gets the conservative category fallback."""
    if taker_fee_bps < 0:
        return UNKNOWN_FEES
    return fallback_fee_schedule(None) if taker_fee_bps > 0 else NO_FEES
