"""Complete sets after the fills: merge binary sets now, lock negRisk sets until resolution,
convert negRisk NO sets now.

Binary market: 1 YES + 1 NO = $1 of collateral, returned at once by the CTF ``mergePositions``
(paper: the ledger realizes qty x $1 - the legs' cost). NegRisk event: YES of every outcome pays
exactly $1 when the event resolves, so those shares are held as a locked set and paid by the
resolutions of its outcomes' markets. NO of every listed outcome of a negRisk event (n of them)
is converted at once by the negRisk adapter's ``convertPositions`` into n - 1 dollars a set (an
unlocked merge of n tokens: ``Merge.collateral_per_set``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from polyarb.domain.ledger import ZERO, Ledger, Merge, Resolution
from polyarb.domain.market import Market
from polyarb.execution.base import new_event_id

if TYPE_CHECKING:
    from polyarb.chain.calls import ContractCall

SetKind = Literal["binary", "neg_risk", "neg_risk_convert"]


def complete_set_kind(
    token_ids: Sequence[str], market_of: Callable[[str], Market | None]
) -> tuple[SetKind, str] | None:
    """(kind, market key) when ``token_ids`` form a complete set, else None.

    The key is the condition id of a binary market, or the event id of a negRisk event whose
    listed outcomes are all present by their YES token (the first outcome: a set to lock) or
    all by their NO token (the second outcome: a set to convert).
    """
    if len(token_ids) < 2 or len(set(token_ids)) != len(token_ids):
        return None
    markets = [market_of(t) for t in token_ids]
    if any(m is None for m in markets):
        return None
    known = [m for m in markets if m is not None]
    first = known[0]
    if (
        len(token_ids) == 2
        and all(m.condition_id == first.condition_id for m in known)
        and set(token_ids) == set(first.token_ids)
    ):
        return "binary", first.condition_id
    event_id = first.event_id
    if not (
        event_id
        and all(m.neg_risk and m.event_id == event_id for m in known)
        and len({m.condition_id for m in known}) == len(known)
    ):
        return None
    if all(
        m.outcomes and m.outcomes[0].token_id == t for m, t in zip(known, token_ids, strict=True)
    ):
        return "neg_risk", event_id
    if all(
        len(m.outcomes) == 2 and m.outcomes[1].token_id == t
        for m, t in zip(known, token_ids, strict=True)
    ):
        return "neg_risk_convert", event_id
    return None


def mergeable_sets(ledger: Ledger, token_ids: Sequence[str], strategy: str) -> Decimal:
    """How many complete sets the strategy's positions in ``token_ids`` form."""
    return min((ledger.shares(t, strategy) for t in token_ids), default=ZERO)


def plan_merge(
    ledger: Ledger,
    kind: SetKind,
    market_key: str,
    token_ids: Sequence[str],
    strategy: str,
    ts_ns: int,
    tx_cost: Decimal = ZERO,
) -> Merge | None:
    """The merge (binary), lock (negRisk YES) or conversion (negRisk NO) of every complete set
    held, or None if there is none; ``tx_cost`` is the on-chain transaction it needs (the merge or
    conversion, or the lock's later redeem)."""
    qty = mergeable_sets(ledger, token_ids, strategy)
    if qty <= 0:
        return None
    locked = kind == "neg_risk"
    prefix = {"binary": "merge", "neg_risk": "lock", "neg_risk_convert": "convert"}[kind]
    return Merge(
        merge_id=new_event_id(prefix),
        market=market_key,
        token_ids=tuple(token_ids),
        qty=qty,
        ts_ns=ts_ns,
        strategy=strategy,
        locked=locked,
        tx_cost=tx_cost,
    )


def resolution_for(market: Market, winning_token_id: str, ts_ns: int) -> Resolution:
    """The resolution of ``market``; its id is derived from the market, so a repeated
    resolution message is applied once. An empty ``winning_token_id`` is a 50/50 resolution
    (every token of the market pays an equal share)."""
    return market_resolution(market.condition_id, market.token_ids, winning_token_id, ts_ns)


def market_resolution(
    condition_id: str,
    token_ids: Sequence[str],
    winning_token_id: str,
    ts_ns: int,
    tx_cost: Decimal = ZERO,
) -> Resolution:
    """``resolution_for`` by the market's condition id and tokens (a redeem booked after a
    restart: the market may be one the universe no longer lists)."""
    return Resolution(
        resolution_id=f"resolution-{condition_id}",
        market=condition_id,
        winning_token_id=winning_token_id,
        ts_ns=ts_ns,
        token_ids=tuple(token_ids),
        tx_cost=tx_cost,
    )


def set_calls(kind: SetKind, markets: Sequence[Market], qty: Decimal) -> list[ContractCall]:
    """The on-chain call a complete set of ``qty`` needs now (live): the merge of a binary
    market, the conversion of a negRisk NO set (every listed question's NO in one
    ``convertPositions``), none for a locked negRisk YES set (redeemed after resolution:
    ``chain.calls.redeem_calls``). ``markets`` are the set's markets in leg order."""
    # Imported here: paper trading plans merges without loading the signing libraries.
    from polyarb.chain.calls import convert_call, merge_call, question_index

    if kind == "binary":
        market = markets[0]
        return [merge_call(market.condition_id, qty, neg_risk=market.neg_risk)]
    if kind == "neg_risk":
        return []
    market_ids = {m.neg_risk_market_id for m in markets}
    if len(market_ids) != 1 or None in market_ids:
        raise ValueError(f"a negRisk conversion needs one negRisk market id, got {market_ids}")
    indices = []
    for market in markets:
        question_id = market.raw.get("questionID") or market.raw.get("question_id")
        if not isinstance(question_id, str):
            raise ValueError(f"market {market.condition_id} has no question id to convert")
        indices.append(question_index(question_id))
    return [convert_call(str(market_ids.pop()), indices, qty)]
