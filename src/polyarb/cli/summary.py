"""The end-of-run summary shared by `polyarb run` and `polyarb replay --signals-out`."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from polyarb.engine.runner import RunSummary


def print_summary(summary: RunSummary, as_json: bool) -> None:
    data: dict[str, Any] = {
        "elapsed_s": round(summary.elapsed_s, 3),
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
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    out = Console()
    table = Table("", "", title="polyarb run summary")
    for key in ("elapsed_s", "markets", "tokens", "frames", "signals", "taken", "denied", "fills"):
        table.add_row(key, str(data[key]))
    table.add_row("book agreement", summary.book_agreement.removeprefix("book agreement: "))
    table.add_row("torn views (not traded)", str(summary.torn_views))
    table.add_row("edge anomalies (not traded)", str(summary.anomalies))
    table.add_row("realized P&L ($)", data["realized_pnl"])
    table.add_row("unrealized P&L ($)", data["unrealized_pnl"])
    table.add_row("fees ($)", data["fees"])
    for strategy, pnl in data["realized_pnl_by_strategy"].items():
        table.add_row(f"realized P&L {strategy} ($)", pnl)
    for key, value in data["tick_to_decision_us"].items():
        table.add_row(f"tick-to-decision {key} (µs)", value)
    out.print(table)
    for strategy, report in summary.opportunities.items():
        out.print(f"[bold]{strategy}[/] opportunities: {json.dumps(report, default=str)}")
