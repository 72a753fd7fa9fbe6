"""The validation report as one self-contained HTML file: inline CSS, the equity curve as SVG."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyarb.store.reports import ValidationReport

WIDTH, HEIGHT, PAD = 720, 240, 30


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="seconds")


def equity_svg(points: tuple[tuple[int, object], ...]) -> str:
    """A polyline of the equity snapshots (float only for pixel positions, never for money)."""
    if not points:
        return "<p>No equity snapshots in the window.</p>"
    xs = [p[0] for p in points]
    ys = [float(str(p[1])) for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    xspan, yspan = (x1 - x0) or 1, (y1 - y0) or 1.0

    def px(x: int, y: float) -> str:
        left = PAD + (x - x0) / xspan * (WIDTH - 2 * PAD)
        top = HEIGHT - PAD - (y - y0) / yspan * (HEIGHT - 2 * PAD)
        return f"{left:.1f},{top:.1f}"

    line = " ".join(px(x, y) for x, y in zip(xs, ys, strict=True))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="equity curve">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafafa" stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{line}"/>'
        f'<text x="{PAD}" y="16" font-size="11">max {escape(str(points[ys.index(y1)][1]))}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="11">min '
        f"{escape(str(points[ys.index(y0)][1]))} · {escape(_iso(x0))} .. {escape(_iso(x1))}"
        "</text></svg>"
    )


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_validation_html(r: ValidationReport) -> str:
    criteria = _table(
        ("criterion", "result", "value", "target"),
        [(c.name, "MET" if c.met else "NOT MET", c.value, c.target) for c in r.criteria],
    )
    pnl = _table(
        ("strategy", "realized (net)", "fees", "fills", "volume"),
        [(p.strategy, p.realized, p.fees, p.fills, p.volume) for p in r.pnl]
        + [("TOTAL", r.total_realized, r.total_fees, sum(p.fills for p in r.pnl), "")],
    )
    ratios = _table(
        ("strategy", "signals", "submitted", "filled", "partial", "failed", "denied", "ratio"),
        [
            (
                f.strategy,
                f.signals,
                f.submitted,
                f.filled,
                f.partial,
                f.failed,
                f.denied,
                "n/a" if f.ratio is None else f"{f.ratio:.2%}",
            )
            for f in r.fill_ratios
        ],
    )
    slippage = _table(
        ("strategy", "leg fills", "shares", "vs VWAP (USD)", "vs limit (USD)", "other fills"),
        [(s.strategy, s.fills, s.shares, s.vs_vwap, s.vs_limit, s.other_fills) for s in r.slippage],
    )
    lifetimes = _table(
        ("strategy", "closed", "p50 ms", "p90 ms", "max ms", f">= {r.paper_latency_ms} ms"),
        [
            (x.strategy, x.closed, x.p50_ms, x.p90_ms, x.max_ms, x.outlive_latency)
            for x in r.lifetimes
        ],
    )
    missed = _table(
        ("strategy", "reason", "opportunities"),
        [(s, k, v) for s, reasons in sorted(r.missed.items()) for k, v in sorted(reasons.items())],
    )
    title = f"polyarb validation report ({r.mode})"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        "</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>{escape(_iso(r.since_ns))} .. {escape(_iso(r.until_ns))}; activity span "
        f"{escape(str(r.span_hours))} h; paper latency {r.paper_latency_ms} ms</p>"
        f"<h2>Criteria</h2>{criteria}"
        f"<h2>Equity</h2>{equity_svg(r.equity)}"
        f"<h2>P&amp;L per strategy</h2>{pnl}"
        f"<h2>Fill ratio</h2>{ratios}"
        f"<h2>Slippage</h2>{slippage}"
        f"<h2>Opportunity lifetimes</h2>{lifetimes}"
        f"<h2>Opportunities not traded</h2>{missed}"
        f"<p>Trade history: {r.orphan_fills} orphan fill(s), {r.order_mismatches} order(s) "
        "whose fills do not add up.</p></body></html>\n"
    )
