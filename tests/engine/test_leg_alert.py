"""A leg-risk resolution is an error only when it cost something (issue 9): an unwind that ends
flat at a gain is a warning saying "gain", never an error with a negative loss."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from structlog.testing import capture_logs

from polyarb.execution.base import LegRiskReport, Orphan

from .replaykit import bare_engine


def report(loss: str, remaining: tuple[Orphan, ...] = ()) -> LegRiskReport:
    orphan = Orphan("111222333444555", "0xm", Decimal(100), Decimal("0.45"))
    return LegRiskReport(
        signal_id="sig-1",
        strategy="sum_to_100",
        policy="unwind",
        detected=(orphan,),
        remaining=remaining,
        actions=("unwind",),
        loss=Decimal(loss),
        max_loss=Decimal(5),
    )


def test_profitable_unwind_is_a_warning_with_a_gain(tmp_path: Path) -> None:
    built, errors = bare_engine(tmp_path)
    with capture_logs() as logs:
        built.on_leg_alert(report("-0.75"))
    assert errors == []
    [entry] = [e for e in logs if e["event"] == "leg risk resolved"]
    assert entry["log_level"] == "warning"
    assert "gain 0.75" in entry["message"]
    assert "loss -" not in entry["message"]
    assert "flat again" in entry["message"]


def test_costly_or_unfinished_handling_is_an_error(tmp_path: Path) -> None:
    built, errors = bare_engine(tmp_path)
    built.on_leg_alert(report("1.20"))
    orphan = Orphan("111222333444555", "0xm", Decimal(40), Decimal("0.45"))
    built.on_leg_alert(report("-0.10", remaining=(orphan,)))
    assert [kind for _, kind, _ in errors] == ["leg_risk", "leg_risk"]
    assert "loss 1.20 (loss cap 5)" in errors[0][2]
    assert "gain 0.10" in errors[1][2]
    assert "still unhedged: 40 of 111222333444…" in errors[1][2]
