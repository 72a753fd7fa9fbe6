"""The demo as users run it (`polyarb run --venue sim`, a process): a binary market is one book,
so the simulator's binary windows are torn views that SumTo100 and Clipper refuse (counted,
never traded, $0), and the new settings are validated with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

from .test_run_cli import error_lines, polyarb_run


def test_the_demo_trades_no_binary_torn_view(tmp_path: Path) -> None:
    # Windows every 4 s: negRisk, negRisk conversion, then binary: the binary one opens at
    # second 12.
    result = polyarb_run(tmp_path, "--venue", "sim", "--duration", "15", "--json", "--no-display")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["torn_views"] > 0
    opportunities = summary["opportunities"]
    for strategy in ("sumto100", "clipper"):
        by_outcome = opportunities[strategy]["by_outcome"]
        assert set(by_outcome) == {"torn_view"}, (strategy, by_outcome)
        assert strategy not in summary["realized_pnl_by_strategy"]
    assert summary["anomalies"] == 0
    assert summary["book_agreement"].endswith(", 0 repairs")


def test_the_new_settings_are_validated(tmp_path: Path) -> None:
    for name, value in (
        ("SUMTO100_MAX_EDGE", "0"),
        ("NEGRISK_MAX_EDGE", "1.5"),
        ("PAPER_LATENCY_SIGMA", "-1"),
        ("SIM_TAKER_MEDIAN_MS", "soon"),
    ):
        result = polyarb_run(tmp_path, "--venue", "sim", "--no-display", **{name: value})
        assert result.returncode == 2, (name, result.stderr[-500:])
        [line] = error_lines(result)
        assert name in line, line
        assert result.stdout == ""
    # A typo of the new prefix is an error too, not a default silently in force.
    result = polyarb_run(tmp_path, "--venue", "sim", "--no-display", SIM_TAKER_MEDIAN=" 0")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "SIM_TAKER_MEDIAN" in line
