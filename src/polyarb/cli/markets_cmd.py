"""`polyarb markets`: list the markets discovery would trade (Gamma + the MARKETS_* filters)."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError

if TYPE_CHECKING:
    from polyarb.domain.market import Market, MarketEvent
    from polyarb.marketdata.gamma import MarketFilter, Universe


class Venue(StrEnum):
    POLYMARKET = "polymarket"
    SIM = "sim"


def _dec(value: Decimal) -> str:
    from polyarb.domain.numbers import canonical

    return canonical(value)


def _market_json(market: Market) -> dict[str, Any]:
    return {
        "condition_id": market.condition_id,
        "gamma_id": market.gamma_id,
        "question": market.question,
        "slug": market.slug,
        "outcomes": [{"label": o.label, "token_id": o.token_id} for o in market.outcomes],
        "tick_size": _dec(market.tick_size),
        "min_order_size": _dec(market.min_order_size),
        "neg_risk": market.neg_risk,
        "event_id": market.event_id,
        "event_slug": market.event_slug,
        "neg_risk_market_id": market.neg_risk_market_id,
        "group_item_title": market.group_item_title,
        "fees": {
            "rate": _dec(market.fees.rate),
            "exponent": market.fees.exponent,
            "taker_only": market.fees.taker_only,
            "rebate_rate": _dec(market.fees.rebate_rate),
            "known": market.fees.known,  # false: no fee data, not traded without DEFAULT_FEE_RATE
        },
        "liquidity": _dec(market.liquidity),
        "volume_24h": _dec(market.volume_24h),
        "accepting_orders": market.accepting_orders,
        "end_date": market.end_date.isoformat() if market.end_date else None,
        "game_start_time": market.game_start_time.isoformat() if market.game_start_time else None,
        "sports_market_type": market.sports_market_type,
        "tags": list(market.tags),
    }


def _event_json(event: MarketEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "slug": event.slug,
        "title": event.title,
        "condition_ids": [m.condition_id for m in event.markets],
        "complete_set": event.is_complete_set,
        "augmented": event.augmented,
        "convertible": event.is_convertible,
    }


def _short(token_id: str) -> str:
    return token_id if len(token_id) <= 12 else f"{token_id[:6]}…{token_id[-4:]}"


def _print_table(universe: Universe, shown: tuple[Market, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "question",
        "slug",
        "outcomes (token)",
        "tick",
        "negRisk / event",
        "fee rate",
        "liquidity",
        title=(
            f"{len(universe.markets)} markets, {len(universe.events)} negRisk events"
            + (f", {universe.skipped} malformed skipped" if universe.skipped else "")
            + (f" (showing {len(shown)})" if len(shown) < len(universe.markets) else "")
        ),
    )
    for m in shown:
        outcomes = "\n".join(f"{o.label}: {_short(o.token_id)}" for o in m.outcomes)
        grouping = f"yes / {m.event_slug or m.event_id or '?'}" if m.neg_risk else "no"
        fee = "unknown" if not m.fees.known else "none" if m.fees.rate == 0 else _dec(m.fees.rate)
        table.add_row(
            m.question, m.slug, outcomes, _dec(m.tick_size), grouping, fee, _dec(m.liquidity)
        )
    Console().print(table)


async def _discover(gamma_url: str, flt: MarketFilter, timeout_s: float) -> Universe:
    from polyarb.marketdata.gamma import GammaClient, discover

    async with GammaClient(gamma_url, timeout_s=timeout_s) as gamma:
        return await discover(gamma, flt)


async def _discover_sim(flt: MarketFilter, timeout_s: float) -> Universe:
    try:
        from polyarb.sim.server import SimServer
    except ImportError as exc:
        raise PolyarbError(f"the simulator is not available in this build ({exc})") from None
    async with SimServer() as sim:
        return await _discover(sim.gamma_url, flt, timeout_s)


@app.command("markets")
def markets_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (full token ids) instead of a table.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Show at most N markets.")
    ] = None,
    venue: Annotated[
        Venue,
        typer.Option(
            "--venue",
            help="Discover on the real Gamma API (POLY_GAMMA_URL) or an in-process simulator.",
        ),
    ] = Venue.POLYMARKET,
) -> None:
    """List the markets discovery selects (Gamma + MARKETS_* filters), best volume first."""
    import asyncio

    from polyarb.marketdata.gamma import MarketFilter

    settings = settings_or_exit()
    flt = MarketFilter.from_settings(settings)
    timeout_s = settings.poly_http_timeout_s
    try:
        if venue is Venue.SIM:
            universe = asyncio.run(_discover_sim(flt, timeout_s))
        else:
            universe = asyncio.run(_discover(settings.poly_gamma_url, flt, timeout_s))
    except PolyarbError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    shown = universe.markets[:limit] if limit else universe.markets
    if as_json:
        shown_ids = {m.condition_id for m in shown}
        payload = {
            "markets": [_market_json(m) for m in shown],
            "events": [
                _event_json(e)
                for e in universe.events
                if any(m.condition_id in shown_ids for m in e.markets)
            ],
            "total_markets": len(universe.markets),
            "skipped_malformed": universe.skipped,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(universe, shown)
