"""Live on-chain operations: complete sets merged or converted once their trades are final, and
resolved markets redeemed.

After a trade of ours is CONFIRMED (``SettlementTracker.on_status``; never while a trade of the
same tokens is still MATCHED/MINED/RETRYING: it could still FAIL), the ledger's positions are
planned (``plan``), per strategy:

- both outcomes of a market held: ``min(YES, NO)`` pairs merged (``chain.calls.merge_call``,
  the collateral adapter of a standard or negRisk market): $1 a pair back;
- NO of every listed outcome of a negRisk event held: converted in one
  ``convertPositions`` (``execution.merge.set_calls``): n - 1 dollars a set.

A market we hold that resolves (``LiveExecution.on_resolved``: the market channel's
``market_resolved`` or Gamma's closed market on the universe refresh) is redeemed
(``chain.calls.redeem_call``) once its trades are final; the mined redeem books the market's
``Resolution`` (its payout less the redeem's gas, its ``tx_cost``; the resolution's id is the
market's: paid once).

Each goes through the ``ChainSubmitter`` one at a time. The signed transaction is journaled
(``chain-journal.jsonl`` next to the fills' journal, fsync) before it leaves, with what it will
book; its outcome is journaled after. A CONFIRMED transaction books a ``Merge`` (id from the
transaction hash: booked once, even across restarts) whose ``tx_cost`` is gasUsed x
effectiveGasPrice x ``CHAIN_POL_USD``: journal, ledger, store, risk, as a paper merge is.
REVERTED, REFUSED, REPLACED or UNKNOWN: an error event (an alert keyed ``chain:<status>``);
the gas of a reverted transaction is reported, not booked (the ledger has no cost-only event).

Restart: ``resume`` (before the start's reconciliation, so a merge mined but not booked does not
look like a position mismatch) reads the chain journal; every transaction without an outcome is
handed back to the submitter (``track``) and looked up by its hash (``resolve_all``): never
signed again with another nonce. One still UNKNOWN blocks new transactions until it resolves
(the loop looks again on every pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import structlog

from polyarb.chain.abi import AbiError
from polyarb.chain.calls import ContractCall, merge_call, redeem_call
from polyarb.chain.tx import Eip1559Tx, SignedTx
from polyarb.domain.ledger import Merge
from polyarb.domain.market import Market
from polyarb.domain.settlement import Settlement
from polyarb.engine.risk_link import sync_risk_positions
from polyarb.execution.chain import ChainSubmitter, ChainTxResult, ChainTxStatus, Record
from polyarb.execution.journal import SettlementRecord, journal_then_apply
from polyarb.execution.merge import market_resolution, set_calls

if TYPE_CHECKING:
    from polyarb.engine.core import Engine
    from polyarb.execution.live.client import LiveExecution
    from polyarb.store import Store

log = structlog.get_logger(__name__)

JOURNAL_NAME = "chain-journal.jsonl"
PlanKind = Literal["binary", "neg_risk_convert", "redeem"]
RETRY_AFTER_S = 60.0  # a plan refused or reverted is not tried again sooner
PASS_INTERVAL_S = 5.0  # a pass at least this often (a wake-up may have been missed)


@dataclass(frozen=True, slots=True)
class SetPlan:
    """A complete set to turn into collateral: ``qty`` of each of ``token_ids``."""

    kind: PlanKind  # "binary" (merge), "neg_risk_convert" or "redeem"
    market: str  # condition id (binary, redeem) or event id (negRisk conversion)
    token_ids: tuple[str, ...]
    qty: Decimal  # 0 for a redeem: the wallet's whole balance of the market
    strategy: str  # "" for a redeem: it pays every strategy holding the market
    winner: str = ""  # a redeem: the winning token ("" a 50/50)

    def encode(self) -> dict[str, Any]:
        return {
            "set_kind": self.kind,
            "market": self.market,
            "token_ids": list(self.token_ids),
            "qty": str(self.qty),
            "strategy": self.strategy,
            "winner": self.winner,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> SetPlan:
        return cls(
            data["set_kind"],
            str(data["market"]),
            tuple(str(t) for t in data["token_ids"]),
            Decimal(str(data["qty"])),
            str(data["strategy"]),
            str(data.get("winner", "")),
        )


def _encode_tx(signed: SignedTx, call: ContractCall, plan: SetPlan) -> dict[str, Any]:
    tx = signed.tx
    return {
        "kind": "tx",
        "tx_hash": signed.tx_hash,
        "sender": signed.sender,
        "tx": {
            "chain_id": tx.chain_id,
            "nonce": tx.nonce,
            "tip": tx.max_priority_fee_per_gas,
            "max_fee": tx.max_fee_per_gas,
            "gas": tx.gas,
            "to": tx.to,
            "data": tx.data.hex(),
        },
        "call": {
            "kind": call.kind,
            "to": call.to,
            "data": call.data.hex(),
            "market": call.market,
            "amount": call.amount,
        },
        "plan": plan.encode(),
    }


def _decode_tx(data: dict[str, Any]) -> tuple[SignedTx, ContractCall, SetPlan]:
    t, c = data["tx"], data["call"]
    tx = Eip1559Tx(
        chain_id=int(t["chain_id"]),
        nonce=int(t["nonce"]),
        max_priority_fee_per_gas=int(t["tip"]),
        max_fee_per_gas=int(t["max_fee"]),
        gas=int(t["gas"]),
        to=str(t["to"]),
        data=bytes.fromhex(t["data"]),
    )
    call = ContractCall(
        c["kind"], str(c["to"]), bytes.fromhex(c["data"]), str(c["market"]), int(c["amount"])
    )
    raw = bytes.fromhex(str(data["raw"]))
    signed = SignedTx(tx=tx, raw=raw, sender=str(data["sender"]))
    if signed.tx_hash != data["tx_hash"]:
        raise ValueError(f"chain journal: raw bytes do not hash to {data['tx_hash']}")
    return signed, call, SetPlan.decode(data["plan"])


class ChainJournal:
    """Append-only JSONL, one fsynced write per line: ``tx`` (signed, before it is sent) and
    ``done`` (its outcome)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def open_transactions(self) -> list[tuple[SignedTx, ContractCall, SetPlan]]:
        """The transactions journaled without an outcome (a torn last line is skipped)."""
        try:
            lines = self.path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        sent: dict[str, dict[str, Any]] = {}
        for line in lines:
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("chain journal: unreadable line skipped", path=str(self.path))
                continue
            if record.get("kind") == "tx":
                sent[record["tx_hash"]] = record
            elif record.get("kind") == "done":
                sent.pop(record.get("tx_hash"), None)
        return [_decode_tx(r) for r in sent.values()]


class ChainOps:
    """See the module docstring. ``run`` is the engine's task; ``resume`` runs before trading."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        live: LiveExecution,
        submitter: Callable[[Record], ChainSubmitter],
        journal_path: Path,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.store = store
        self.live = live
        self.submitter = submitter(self._record)  # it journals through us before sending
        self.journal = ChainJournal(journal_path)
        self._monotonic = monotonic
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._plans: dict[str, SetPlan] = {}  # tx hash -> what it books
        self._current: SetPlan | None = None
        self._backoff: dict[tuple[str, str], float] = {}  # (market, strategy) -> retry after
        self._resolved: dict[str, str] = {}  # condition id -> winning token, to redeem
        self.in_flight = False
        self.transactions: dict[str, int] = {}  # status -> transactions ended so (metrics)
        self.gas_usd = Decimal(0)  # the gas of every mined transaction, at CHAIN_POL_USD

    @property
    def busy(self) -> bool:
        """A transaction is being sent or is unresolved: the venue's positions may already
        differ from the ledger's (reconciliation waits)."""
        return self.in_flight or bool(self.submitter.unresolved)

    def on_status(self, record: SettlementRecord) -> None:
        """``SettlementTracker.on_status``: a CONFIRMED trade may complete a set."""
        if record.status == Settlement.CONFIRMED.value:
            self._wake.set()

    def on_resolved(self, market: str, winning_token_id: str) -> None:
        """``LiveExecution.on_resolved`` (the market channel's ``market_resolved``, or Gamma's
        closed market on the universe refresh, every refresh while it is held): redeem it."""
        if market not in self._resolved:
            log.info("market resolved: its positions will be redeemed", market=market)
        self._resolved[market] = winning_token_id
        self._wake.set()

    # --- planning -------------------------------------------------------------------------

    def _market(self, condition_id: str) -> Market | None:
        return next(
            (m for m in self.engine.markets_by_token.values() if m.condition_id == condition_id),
            None,
        )

    def redeems(self) -> list[SetPlan]:
        """The resolved markets the ledger holds, their trades final: one redeem each."""
        ledger, unsettled = self.engine.ledger, self._unsettled_tokens()
        held = {p.token_id for p in ledger.positions() if p.shares > 0}
        plans = []
        for condition_id, winner in list(self._resolved.items()):
            market = self._market(condition_id)
            if market is None or not held.intersection(market.token_ids):
                del self._resolved[condition_id]  # nothing (more) to redeem
                continue
            if unsettled.intersection(market.token_ids):
                continue
            token_ids = tuple(market.token_ids)
            plans.append(SetPlan("redeem", condition_id, token_ids, Decimal(0), "", winner))
        now = self._monotonic()
        return [p for p in plans if self._backoff.get((p.market, p.strategy), 0.0) <= now]

    def _unsettled_tokens(self) -> set[str]:
        tracker = self.live.settlement
        return {
            f.token_id
            for state in tracker.trades.values()
            if not state.status.is_final
            for f in state.fills
        }

    def plan(self) -> list[SetPlan]:
        """The complete sets held now whose trades are all final (module docstring)."""
        ledger, markets = self.engine.ledger, self.engine.markets_by_token
        unsettled = self._unsettled_tokens()
        held: dict[str, set[str]] = {}  # strategy -> tokens with shares
        for pos in ledger.positions():
            if pos.shares > 0 and pos.token_id not in unsettled:
                held.setdefault(pos.strategy, set()).add(pos.token_id)
        plans: list[SetPlan] = []
        for strategy, tokens in sorted(held.items()):
            seen: set[str] = set()
            events: dict[str, list[Market]] = {}
            for token in sorted(tokens):
                market = markets.get(token)
                if market is None or market.condition_id in seen:
                    continue
                seen.add(market.condition_id)
                pair = tuple(market.token_ids)
                if len(pair) == 2 and set(pair) <= tokens:
                    qty = min(ledger.shares(t, strategy) for t in pair)
                    plans.append(SetPlan("binary", market.condition_id, pair, qty, strategy))
                elif market.neg_risk and market.event_id and token == pair[-1]:
                    events.setdefault(market.event_id, []).append(market)
            for event_id, held_no in events.items():
                listed = [
                    m
                    for m in {m.condition_id: m for m in markets.values()}.values()
                    if m.event_id == event_id and m.neg_risk and not m.closed
                ]
                if len(listed) < 2 or len(held_no) != len(listed):
                    continue
                no_tokens = tuple(m.token_ids[-1] for m in held_no)
                qty = min(ledger.shares(t, strategy) for t in no_tokens)
                plans.append(SetPlan("neg_risk_convert", event_id, no_tokens, qty, strategy))
        now = self._monotonic()
        return [p for p in plans if self._backoff.get((p.market, p.strategy), 0.0) <= now]

    def _call(self, plan: SetPlan) -> ContractCall:
        markets = [self.engine.markets_by_token[t] for t in plan.token_ids]
        if plan.kind == "redeem":
            return redeem_call(plan.market, neg_risk=markets[0].neg_risk)
        if plan.kind == "binary":
            market = markets[0]
            return merge_call(market.condition_id, plan.qty, neg_risk=market.neg_risk)
        return set_calls(plan.kind, markets, plan.qty)[0]

    # --- sending and booking --------------------------------------------------------------

    async def _record(self, signed: SignedTx, call: ContractCall) -> None:
        plan = self._current
        if plan is None:  # a transaction that books nothing is not ours to send
            raise RuntimeError("chain transaction without a plan")
        record = _encode_tx(signed, call, plan) | {"raw": signed.raw.hex()}
        self.journal.append(record)
        self._plans[signed.tx_hash] = plan

    async def pass_once(self) -> list[ChainTxResult]:
        """Resolve what is unresolved, then send every plan (one transaction at a time)."""
        async with self._lock:
            results = await self._resolve()
            if self.submitter.unresolved:
                return results
            for plan in [*self.plan(), *self.redeems()]:
                try:
                    call = self._call(plan)
                except (AbiError, ValueError, KeyError) as exc:
                    self._hold_off(plan)
                    self.engine.emit_error("chain", "unplanned", f"{plan.market}: {exc}")
                    continue
                self._current, self.in_flight = plan, True
                try:
                    result = await self.submitter.submit(call)
                finally:
                    self._current, self.in_flight = None, False
                results.append(self._outcome(result, plan))
                if result.status == ChainTxStatus.UNKNOWN:
                    break
            return results

    async def _resolve(self) -> list[ChainTxResult]:
        if not self.submitter.unresolved:
            return []
        out = []
        for result in await self.submitter.resolve_all():
            plan = self._plans.get(result.tx_hash)
            if result.status == ChainTxStatus.UNKNOWN:  # said once already, when it went so
                log.warning("chain transaction still unresolved", tx_hash=result.tx_hash,
                            reason=result.reason)  # fmt: skip
            elif plan is not None:
                out.append(self._outcome(result, plan))
        return out

    async def resume(self) -> list[ChainTxResult]:
        """At start, before trading and reconciliation: the journal's transactions without an
        outcome are looked up by hash (never re-signed) and booked."""
        for signed, call, plan in self.journal.open_transactions():
            self._plans[signed.tx_hash] = plan
            self.submitter.track(signed, call)
        async with self._lock:
            results = await self._resolve()
        if self.submitter.unresolved:
            log.error(
                "chain transactions still unresolved at start: no new ones until they are",
                tx_hashes=list(self.submitter.unresolved),
            )
        return results

    def _hold_off(self, plan: SetPlan) -> None:
        self._backoff[(plan.market, plan.strategy)] = self._monotonic() + RETRY_AFTER_S

    def _outcome(self, result: ChainTxResult, plan: SetPlan) -> ChainTxResult:
        status = result.status
        self.transactions[status.value] = self.transactions.get(status.value, 0) + 1
        if status in (ChainTxStatus.CONFIRMED, ChainTxStatus.REVERTED):
            self.gas_usd += result.cost_usd
        if status == ChainTxStatus.CONFIRMED:
            # booked before its outcome is journaled: a crash in between finds it again at the
            # next start and the booking is skipped (its id is the transaction's)
            self._book(result, plan)
        if status != ChainTxStatus.UNKNOWN and result.tx_hash:
            self.journal.append(
                {
                    "kind": "done",
                    "tx_hash": result.tx_hash,
                    "status": status.value,
                    "gas_used": result.gas_used,
                    "effective_gas_price": result.effective_gas_price,
                    "block": result.block_number,
                }
            )
        details = {
            "tx_hash": result.tx_hash,
            "call": result.call.kind,
            "market": plan.market,
            "qty": str(plan.qty),
            "cost_pol": str(result.cost_pol),
        }
        if status == ChainTxStatus.CONFIRMED:
            return result
        if status != ChainTxStatus.UNKNOWN:
            self._hold_off(plan)
        what = "" if plan.kind == "redeem" else f" of {plan.qty} sets"
        message = f"{result.call.kind}{what} of {plan.market}: {status.value}"
        self.engine.emit_error("chain", status.value, f"{message}: {result.reason}", details)
        return result

    def _book(self, result: ChainTxResult, plan: SetPlan) -> None:
        if plan.kind == "redeem":
            self._book_redeem(result, plan)
            return
        prefix = "merge" if plan.kind == "binary" else "convert"
        merge = Merge(
            merge_id=f"{prefix}-{result.tx_hash}",
            market=plan.market,
            token_ids=plan.token_ids,
            qty=plan.qty,
            ts_ns=self.engine.clock.now_ns(),
            strategy=plan.strategy,
            tx_cost=result.cost_usd,
        )
        ledger = self.engine.ledger
        if ledger.seen(merge.merge_id):
            return
        realized = journal_then_apply(self.live.settlement.journal, ledger, [merge])
        self.store.submit_merge(merge, ledger, tx_hash=result.tx_hash)
        sync_risk_positions(self.engine.risk, ledger, list(plan.token_ids))
        counts = self.engine.counters.sets.setdefault(plan.strategy, {})
        what = "merged" if plan.kind == "binary" else "converted"
        counts[what] = counts.get(what, Decimal(0)) + plan.qty
        log.info(
            "complete sets merged on chain",
            kind=plan.kind,
            market=plan.market,
            qty=str(plan.qty),
            tx_hash=result.tx_hash,
            gas_used=result.gas_used,
            cost_usd=str(result.cost_usd),
            realized=str(realized),
        )

    def _book_redeem(self, result: ChainTxResult, plan: SetPlan) -> None:
        """The payout, as the paper engine books a resolution (once: its id is the market's),
        less the redeem's gas (the resolution's ``tx_cost``). By the plan's market and tokens:
        booked after a restart, the market may be one the universe no longer lists."""
        now = self.engine.clock.now_ns()
        resolution = market_resolution(
            plan.market, plan.token_ids, plan.winner, now, tx_cost=result.cost_usd
        )
        ledger = self.engine.ledger
        self._resolved.pop(plan.market, None)
        if ledger.seen(resolution.resolution_id):
            return
        realized = journal_then_apply(self.live.settlement.journal, ledger, [resolution])
        self.store.submit_resolution(resolution, ledger)
        sync_risk_positions(self.engine.risk, ledger, list(plan.token_ids))
        log.info(
            "resolved market redeemed on chain",
            market=plan.market,
            winner=plan.winner,
            tx_hash=result.tx_hash,
            gas_used=result.gas_used,
            cost_usd=str(result.cost_usd),
            realized=str(realized),
        )

    async def run(self) -> None:
        """The engine's task: a pass on every CONFIRMED trade, and every ``PASS_INTERVAL_S``."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PASS_INTERVAL_S)
            self._wake.clear()
            try:
                await self.pass_once()
            except Exception as exc:  # the loop must keep going; the operator hears of it
                log.exception("chain pass failed")
                with contextlib.suppress(Exception):
                    self.engine.emit_error("chain", "exception", f"{type(exc).__name__}: {exc}")
