"""The end-of-run summary shared by `polyarb run` and `polyarb replay --signals-out`, and the
formatting the live table shares with it: one money format, names shortened at word ends."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from polyarb.engine.runner import RunSummary

_CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """``$1,234.56`` / ``-$0.25``: dollars and cents (half-even), for people; JSON keeps exact."""
    cents = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at the end of a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    if text[width - 1] != " ":  # the cut falls inside a word: back to the end of the last one
        space = cut.rfind(" ")
        if space >= width // 2:  # close enough; else a very long word is cut after all
            cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def summary_data(summary: RunSummary) -> dict[str, Any]:
    return {
        "elapsed_s": round(summary.elapsed_s, 3),
        "interrupted": summary.interrupted,
        "markets": summary.markets,
        "tokens": summary.tokens,
        "frames": summary.frames,
        "signals": summary.signals,
        "taken": summary.taken,
        "denied": summary.denied,
        "denials": summary.denials,
        "fills": summary.fills,
        "book_agreement": summary.book_agreement,
        "torn_views": summary.torn_views,
        "anomalies": summary.anomalies,
        "realized_pnl_by_strategy": {k: str(v) for k, v in summary.realized_by_strategy.items()},
        "realized_pnl": str(summary.realized_pnl),
        "unrealized_pnl": str(summary.unrealized_pnl),
        "fees": str(summary.fees),
        "tick_to_decision_us": {k: str(v) for k, v in summary.decision_us.items()},
        "opportunities": summary.opportunities,
        "strategies": summary.strategies,
        "damaged": list(summary.damaged),
        "notices": summary.notices,
        "halted_by_recovery": summary.halted_by_recovery,
    }


def print_summary(summary: RunSummary, as_json: bool, *, account: bool = False) -> None:
    """Print the summary on stdout. ``account``: the P&L figures are the account's (recovered
    from earlier runs), not this run's alone, and are labelled so."""
    data = summary_data(summary)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console()
    title = "polyarb run summary"
    if summary.interrupted:
        title += " (interrupted: the figures so far)"
    table = Table(title=title, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    run = "this run"
    table.add_row(f"elapsed ({run})", f"{summary.elapsed_s:,.1f} s")
    table.add_row("markets / tokens", f"{summary.markets:,} / {summary.tokens:,}")
    table.add_row(f"frames ({run})", f"{summary.frames:,}")
    table.add_row(f"signals ({run})", f"{summary.signals:,}")
    table.add_row(f"taken / denied ({run})", f"{summary.taken:,} / {summary.denied:,}")
    table.add_row(f"fills ({run})", f"{summary.fills:,}")
    table.add_row("book agreement", summary.book_agreement.removeprefix("book agreement: "))
    table.add_row("torn views (not traded)", f"{summary.torn_views:,}")
    table.add_row("edge anomalies (not traded)", f"{summary.anomalies:,}")
    scope = "account, all runs" if account else run
    table.add_row(f"realized P&L ({scope})", money(summary.realized_pnl))
    table.add_row(f"unrealized P&L ({scope})", money(summary.unrealized_pnl))
    table.add_row(f"fees ({scope})", money(summary.fees))
    for key, value in data["tick_to_decision_us"].items():
        table.add_row(f"tick-to-decision {key}", f"{value} µs")
    out.print(table)
    if summary.strategies:
        per = Table("strategy", "realized P&L", "fees", "sets", title=f"per strategy ({scope})")
        for name, row in summary.strategies.items():
            sets = ", ".join(
                f"{k.removeprefix('sets_')} {v}" for k, v in row.items() if k.startswith("sets_")
            )
            per.add_row(
                name, money(Decimal(row["realized_pnl"])), money(Decimal(row["fees"])), sets
            )
        out.print(per)
    if summary.opportunities:
        out.print(opportunity_table(summary.opportunities))
    for line in summary.damaged:
        out.print(line, markup=False, highlight=False)
    for notice in summary.notices:  # last, where the operator's eye lands
        out.print(Text.assemble(("! ", "bold red"), notice), highlight=False)


def opportunity_table(reports: dict[str, Any]) -> Table:
    """The opportunity statistics (``OpportunityReport.as_dict`` per strategy) as one table."""
    from rich.table import Table

    table = Table(
        "strategy",
        "opened",
        "closed",
        "open now",
        "outcomes",
        "lifetime ms p50 / p90 / max",
        "size p50 / max",
        "edge p50 / max",
        title="opportunities (this run)",
        caption="edge in $ per set, fees included; size in shares (sets)",
    )
    for strategy, report in sorted(reports.items()):
        life, size, edge = report["lifetime_ms"], report["size"], report["edge"]
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(report["by_outcome"].items()))
        table.add_row(
            strategy,
            f"{report['opened']:,}",
            f"{report['closed']:,}",
            f"{report['open_now']:,}",
            outcomes or "-",
            f"{life['p50']} / {life['p90']} / {life['max']}" if life["count"] else "-",
            f"{size['p50']} / {size['max']}" if size["count"] else "-",
            f"{edge['p50']} / {edge['max']}" if edge["count"] else "-",
        )
    return table
