"""The real negRisk election event of the fixtures, grown to more legs (for the tests of
issue 8, item 4: complete sets, closures, refreshes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from polyarb.marketdata.gamma import decode_json

GAMMA = Path(__file__).resolve().parent / "fixtures" / "polymarket" / "gamma"


def election_event(legs: int = 3, *, augmented: bool = False) -> dict[str, Any]:
    """The Democratic nominee event with ``legs`` open named legs (its two real ones plus
    copies named "Candidate Number n", condition ids 0x..e0, 0x..e1, tokens yN/nN)."""
    [event] = decode_json((GAMMA / "gamma_events_negrisk_election_2026-03.json").read_bytes())
    event = copy.deepcopy(event)
    assert isinstance(event, dict)
    event["negRiskAugmented"] = augmented
    markets = event["markets"]
    for n in range(legs - len(markets)):
        leg = copy.deepcopy(markets[0])
        leg.update(
            id=f"77{n}",
            conditionId=f"0x{0xE0 + n:064x}",
            slug=f"leg-{n}",
            groupItemTitle=f"Candidate Number {n}",
            clobTokenIds=json.dumps([f"y{n}", f"n{n}"]),
        )
        markets.append(leg)
    return event
