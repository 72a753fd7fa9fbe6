"""The crash tests' oracle, checked against figures worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge
from polyarb.execution.journal import Journal

from .helpers import T0, make_fill
from .ledger_oracle import books_from_journal


def test_the_oracle_books_a_bought_merged_and_sold_set_as_worked_out_by_hand(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append(
            [
                make_fill(1, token="yes", price="0.40", size="10", fee="0.01"),  # cost 4.01
                make_fill(2, token="no", price="0.55", size="10", fee="0.01"),  # cost 5.51
                make_fill(2, token="no", price="0.55", size="10", fee="0.01"),  # a duplicate
                # 6 sets merged: 2.406 + 3.306 of cost out, 6 in: +0.288
                Merge("m-1", "mkt-1", ("yes", "no"), Decimal(6), T0 + 3_000_000, "sum_to_100"),
                # 2 of the 4 YES left sold: 1.24 - 0.002 - 0.802 = +0.436
                make_fill(4, token="yes", side=Side.SELL, price="0.62", size="2", fee="0.002"),
            ]
        )
    path.write_bytes(path.read_bytes() + b'{"v": 1, "kind": "fi')  # a torn last line

    books = books_from_journal(path)

    assert books.positions == {
        ("sum_to_100", "yes"): [Fraction(2), Fraction("0.802")],
        ("sum_to_100", "no"): [Fraction(4), Fraction("2.204")],
    }
    day = date(2026, 1, 1)
    assert books.daily == {
        (day, ""): (Fraction("0.724"), Fraction("0.022")),
        (day, "sum_to_100"): (Fraction("0.724"), Fraction("0.022")),
    }
