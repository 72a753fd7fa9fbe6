"""The daily report's figures against a recomputation from the raw rows.

A day of activity is written through the store (fills, a binary merge, a negRisk conversion, a
locked set, resolutions paying positions and the locked set, equity snapshots, opportunities
closed in every way), with activity the day before and after that must stay out. ``polyarb
report daily --json`` (the command, as a user runs it) is compared with figures recomputed from
the rows read back with plain SQL: P&L, fees and payouts by ``tests/store/ledger_oracle.Books``
(no code shared with ``polyarb.domain.ledger`` or ``polyarb.store``), counts and lifetime
percentiles (nearest rank) counted here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.envs import settings_free_env
from tests.store.helpers import make_fill, seeded
from tests.store.ledger_oracle import Books

from polyarb.domain.ledger import Ledger, Merge, Resolution
from polyarb.domain.trading import Mode, Side
from polyarb.store import Store, WriterConfig
from polyarb.store.records import EquitySnapshot, OpportunityRecord

WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)
DAY = "2026-12-01"
MS = 1_000_000
SENT = ("taken", "filled", "partial", "failed")


def ns(clock: str) -> int:
    return int(datetime.fromisoformat(clock).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


async def _seed(store: Store) -> None:
    ledger = Ledger()
    n = 0

    def fill(
        strategy: str, token: str, market: str, at: str, side: Side = Side.BUY, **kw: str
    ) -> None:
        nonlocal n
        n += 1
        f = make_fill(
            n, side=side, token=token, market=market, strategy=strategy, ts_ns=ns(at), **kw
        )
        ledger.apply(f)
        store.submit_fill(f, ledger)

    def merge(m: Merge) -> None:
        ledger.apply(m)
        store.submit_merge(m, ledger)

    def resolve(r: Resolution) -> None:
        ledger.apply(r)
        store.submit_resolution(r, ledger)

    # the day before: a position of "carry" that the day's resolution pays
    fill("carry", "x-yes", "m-x", "2026-11-30T20:00:00", price="0.40", size="10")
    # sum_to_100: both sides, 6 sets merged, the rest held to resolution (YES wins: 4 x $1)
    fill("sum_to_100", "m1-yes", "m1", f"{DAY}T01:00:00", price="0.45", size="10")
    fill("sum_to_100", "m1-no", "m1", f"{DAY}T01:00:00", price="0.50", size="10", fee="0.02")
    merge(Merge("mg-1", "m1", ("m1-yes", "m1-no"), Decimal(6), ns(f"{DAY}T01:00:01"), "sum_to_100"))
    # negrisk: a conversion of three NO tokens, and a locked YES set of two outcomes
    for token in ("n1-no", "n2-no", "n3-no"):
        fill("negrisk", token, f"m-{token}", f"{DAY}T02:00:00", price="0.70", size="5")
    merge(
        Merge(
            "cv-1",
            "ev-n",
            ("n1-no", "n2-no", "n3-no"),
            Decimal(2),
            ns(f"{DAY}T02:00:01"),
            "negrisk",
        )
    )
    for token in ("y1", "y2"):
        fill("negrisk", token, f"m-{token}", f"{DAY}T03:00:00", price="0.48", size="3")
    merge(
        Merge(
            "lk-1", "ev-y", ("y1", "y2"), Decimal(3), ns(f"{DAY}T03:00:01"), "negrisk", locked=True
        )
    )
    # a sale realized during the day
    fill("carry", "x-yes", "m-x", f"{DAY}T04:00:00", side=Side.SELL, price="0.55", size="4")
    # resolutions of the day: m1 (YES), m-x (carry's YES), the locked set's first outcome
    resolve(Resolution("r-1", "m1", "m1-yes", ns(f"{DAY}T18:00:00")))
    resolve(Resolution("r-2", "m-x", "x-yes", ns(f"{DAY}T19:00:00")))
    resolve(Resolution("r-3", "m-y1", "y1", ns(f"{DAY}T20:00:00")))
    # the day after: a resolution that must stay out (n1's market: NO loses, pays 0)
    fill("negrisk", "n1-no", "m-n1-no", "2026-12-02T01:00:00", price="0.30", size="2")
    resolve(Resolution("r-4", "m-n1-no", "n1-yes", ns("2026-12-02T02:00:00")))

    for at, unrealized in (
        (f"{DAY}T12:00:00", "1.5"),
        (f"{DAY}T23:59:00", "-0.25"),
        ("2026-12-02T00:01:00", "9"),
    ):
        store.submit(
            EquitySnapshot(
                mode=Mode.PAPER,
                ts_ns=ns(at),
                equity=Decimal(100),
                realized=Decimal(0),
                unrealized=Decimal(unrealized),
                fees=Decimal(0),
                exposure=Decimal(0),
            )
        )

    # opportunities: (strategy, first seen, lifetime ms, outcome; None = still open)
    opportunities: list[tuple[str, str, int, str | None]] = [
        ("sum_to_100", f"{DAY}T00:00:01", 40, "filled"),
        ("sum_to_100", f"{DAY}T00:10:00", 5, "missed"),
        ("sum_to_100", f"{DAY}T00:20:00", 120, "denied:exposure"),
        ("sum_to_100", f"{DAY}T00:30:00", 15, "partial"),
        ("sum_to_100", f"{DAY}T00:40:00", 900, None),
        ("negrisk", f"{DAY}T05:00:00", 250, "taken"),
        ("negrisk", f"{DAY}T05:10:00", 70, "missed"),
        ("negrisk", "2026-11-30T23:59:59", 3, "missed"),  # the day before
        ("negrisk", "2026-12-02T00:00:00", 4, "filled"),  # the day after
    ]
    for i, (strategy, first, life_ms, outcome) in enumerate(opportunities):
        first_ns = ns(first)
        store.submit(
            OpportunityRecord(
                opportunity_id=f"opp-{i}",
                mode=Mode.PAPER,
                strategy=strategy,
                market=f"m-{i}",
                first_seen_ns=first_ns,
                last_seen_ns=first_ns + life_ms * MS,
                best_edge=Decimal("0.01"),
                executable_size=Decimal(5),
                sightings=3,
                outcome=outcome,
                closed_ns=None if outcome is None else first_ns + life_ms * MS + MS,
            )
        )
    await store.flush()


async def _raw(url: str, table: str) -> list[dict[str, Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(f"SELECT * FROM {table} WHERE mode = 'paper'"))
            return [dict(r) for r in result.mappings()]
    finally:
        await engine.dispose()


def _tokens(raw: str) -> list[str]:
    value = json.loads(raw)
    return list(value["token_ids"] if isinstance(value, dict) else value)


class PaidBooks(Books):
    """``Books`` that also adds up what each strategy's holdings were paid at resolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.paid: dict[str, Fraction] = {}

    def _resolution(self, event: dict[str, Any]) -> None:
        winner = event["winning_token_id"]
        for (strategy, token), (shares, _) in self.positions.items():
            if (
                token in event["token_ids"]
                or token == winner
                or (self.markets.get((strategy, token)) == event["market"])
            ):
                won = shares if token == winner else Fraction(0)
                self.paid[strategy] = self.paid.get(strategy, Fraction(0)) + won
        for strategy, lock_tokens, qty, _ in self.locked.values():
            if winner in lock_tokens:
                self.paid[strategy] = self.paid.get(strategy, Fraction(0)) + qty
        super()._resolution(event)


def _nearest_rank(values: list[int], q: int) -> Fraction | None:
    if not values:
        return None
    rank = max(1, math.ceil(Fraction(q, 100) * len(values)))
    return Fraction(sorted(values)[rank - 1], MS)


async def _expected(url: str) -> dict[str, dict[str, Any]]:
    start, end = ns(f"{DAY}T00:00:00"), ns("2026-12-02T00:00:00")
    events = []
    for r in await _raw(url, "fills"):
        events.append((r["ts_ns"], 0, r["id"], {**r, "kind": "fill"}))
    for r in await _raw(url, "merges"):
        events.append(
            (r["ts_ns"], 1, r["id"], {**r, "kind": "merge", "token_ids": _tokens(r["token_ids"])})
        )
    for r in await _raw(url, "resolutions"):
        events.append(
            (
                r["ts_ns"],
                2,
                r["id"],
                {**r, "kind": "resolution", "token_ids": _tokens(r["token_ids"])},
            )
        )
    events.sort(key=lambda e: e[:3])
    before, after = PaidBooks(), PaidBooks()
    for ts, _, _, event in events:
        if ts < start:
            before.apply(event)
        if ts < end:
            after.apply(event)
    zero = Fraction(0)
    out: dict[str, dict[str, Any]] = {}

    def line(strategy: str) -> dict[str, Any]:
        return out.setdefault(
            strategy,
            {
                "realized": zero,
                "fees": zero,
                "payouts": zero,
                "trades": 0,
                "merges": 0,
                "merged_sets": zero,
                "conversions": 0,
                "converted_sets": zero,
                "seen": 0,
                "taken": 0,
                "missed": 0,
                "lives": [],
            },
        )

    for books_field in ("realized", "fees", "paid"):
        now, then = getattr(after, books_field), getattr(before, books_field)
        for strategy in now.keys() | then.keys():
            change = now.get(strategy, zero) - then.get(strategy, zero)
            if change or strategy in now.keys() - then.keys():
                line(strategy)["payouts" if books_field == "paid" else books_field] = change
    for _, rank, _, event in events:
        if not start <= event["ts_ns"] < end:
            continue
        a = line(event["strategy"]) if rank < 2 else None
        if rank == 0 and a is not None:
            a["trades"] += 1
        elif rank == 1 and a is not None:
            kind = "conversion" if len(event["token_ids"]) > 2 and not event["locked"] else "merge"
            a[f"{kind}s"] += 1
            a["converted_sets" if kind == "conversion" else "merged_sets"] += Fraction(
                Decimal(str(event["qty"]))
            )
    for o in await _raw(url, "opportunities"):
        if not start <= o["first_seen_ns"] < end:
            continue
        a = line(o["strategy"])
        a["seen"] += 1
        a["taken"] += o["outcome"] in SENT
        a["missed"] += o["outcome"] is not None and o["outcome"] not in SENT
        if o["closed_ns"] is not None:
            a["lives"].append(o["last_seen_ns"] - o["first_seen_ns"])
    total = line("")
    for strategy, a in out.items():
        if strategy:
            for key, value in a.items():
                total[key] = total[key] + value
    snapshots = [s for s in await _raw(url, "equity_snapshots") if start <= s["ts_ns"] < end]
    last = max(snapshots, key=lambda s: s["ts_ns"])
    for strategy, a in out.items():
        a["unrealized"] = Fraction(Decimal(str(last["unrealized"]))) if not strategy else None
        a["life_p50_ms"] = _nearest_rank(a["lives"], 50)
        a["life_p90_ms"] = _nearest_rank(a.pop("lives"), 90)
    return out


def _report(db_url: str, tmp_path: Path) -> dict[str, Any]:
    env = settings_free_env()
    env.update(DATABASE_URL=db_url, DATA_DIR=str(tmp_path), DRY_RUN="true")
    result = subprocess.run(
        [sys.executable, "-m", "polyarb", "report", "daily", "--date", DAY, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _exact(value: Any) -> Any:
    if isinstance(value, str):
        return Fraction(Decimal(value))
    return value


async def test_the_daily_figures_equal_a_recomputation_from_the_rows(
    db_url: str, tmp_path: Path
) -> None:
    await seeded(db_url, tmp_path / "spool", WRITER, _seed)

    expected = await _expected(db_url)
    report = _report(db_url, tmp_path)
    got = {
        x["strategy"]: {k: _exact(v) for k, v in x.items() if k != "strategy"}
        for x in report["lines"]
    }
    assert got == expected
    assert report["marked_ns"] == ns(f"{DAY}T23:59:00")

    # what was seeded, so the comparison above covers every column with something in it
    total = got[""]
    assert total["unrealized"] == Fraction(-1, 4)
    assert got["sum_to_100"]["payouts"] == 4  # 4 YES shares left after the merge
    assert got["carry"]["payouts"] == 6  # 10 bought the day before, 4 sold
    assert got["negrisk"]["payouts"] == 3  # the locked set's winning outcome, 3 sets
    assert (total["merges"], total["conversions"]) == (2, 1)  # the locked set counts as a merge
    assert (total["seen"], total["taken"], total["missed"]) == (7, 3, 3)
    assert got["sum_to_100"]["life_p50_ms"] == 15  # of 5, 15, 40, 120 (the open one left out)
    assert got["negrisk"]["life_p90_ms"] == 250
    assert total["trades"] == 8
