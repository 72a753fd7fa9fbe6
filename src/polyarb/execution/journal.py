"""Append-only JSONL journal of fills, merges, resolutions and (live) the settlement status of
trades, durable per write.

One line per event, written with a single ``write`` and made durable with ``fsync`` before the
ledger applies it: after a crash the journal holds at least every event the ledger (and so the
database) could have seen, and crash recovery compares the two. A crash mid-write leaves a torn
last line; readers skip it, and reopening the journal moves it to a side file (kept, never
deleted) so the next record starts on a clean line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import structlog

from polyarb.domain.book import Side
from polyarb.domain.errors import FatalError
from polyarb.domain.ledger import Ledger, LedgerEvent, Merge, Resolution
from polyarb.domain.trading import Fill, Mode

log = structlog.get_logger(__name__)
JOURNAL_VERSION = 1


class JournalError(FatalError):
    """The journal cannot be read (a corrupt line that is not the torn last one) or written."""


def encode_event(event: LedgerEvent) -> dict[str, Any]:
    if isinstance(event, Fill):
        return {
            "v": JOURNAL_VERSION,
            "kind": "fill",
            "fill_id": event.fill_id,
            "order_id": event.client_order_id,
            "token_id": event.token_id,
            "market": event.market,
            "side": event.side.value,
            "price": str(event.price),
            "size": str(event.size),
            "fee": str(event.fee),
            "ts_ns": event.ts_ns,
            "strategy": event.strategy,
            "mode": event.mode.value,
            "liquidity": event.liquidity,
        }
    if isinstance(event, Merge):
        record: dict[str, Any] = {
            "v": JOURNAL_VERSION,
            "kind": "merge",
            "merge_id": event.merge_id,
            "market": event.market,
            "token_ids": list(event.token_ids),
            "qty": str(event.qty),
            "ts_ns": event.ts_ns,
            "strategy": event.strategy,
            "locked": event.locked,
            "tx_cost": str(event.tx_cost),
        }
        if event.collateral_per_set > 1:  # a negRisk conversion: say what it returned
            record["op"] = "convert"
            record["collateral_per_set"] = event.collateral_per_set
        return record
    return {
        "v": JOURNAL_VERSION,
        "kind": "resolution",
        "resolution_id": event.resolution_id,
        "market": event.market,
        "winning_token_id": event.winning_token_id,
        "token_ids": list(event.token_ids),
        "ts_ns": event.ts_ns,
        "tx_cost": str(event.tx_cost),
    }


def decode_event(data: dict[str, Any]) -> LedgerEvent:
    """Inverse of ``encode_event``; raises ``ValueError`` on anything malformed."""
    try:
        kind = data["kind"]
        if kind == "fill":
            return Fill(
                fill_id=str(data["fill_id"]),
                client_order_id=str(data["order_id"]),
                token_id=str(data["token_id"]),
                market=str(data["market"]),
                side=Side(data["side"]),
                price=Decimal(data["price"]),
                size=Decimal(data["size"]),
                fee=Decimal(data["fee"]),
                ts_ns=int(data["ts_ns"]),
                strategy=str(data["strategy"]),
                mode=Mode(data["mode"]),
                liquidity=str(data.get("liquidity", "taker")),
            )
        if kind == "merge":
            tokens = data["token_ids"]
            if "collateral_per_set" in data and int(data["collateral_per_set"]) != len(tokens) - 1:
                raise ValueError(
                    f"conversion of {len(tokens)} tokens cannot pay {data['collateral_per_set']}"
                )
            return Merge(
                merge_id=str(data["merge_id"]),
                market=str(data["market"]),
                token_ids=tuple(str(t) for t in data["token_ids"]),
                qty=Decimal(data["qty"]),
                ts_ns=int(data["ts_ns"]),
                strategy=str(data["strategy"]),
                locked=bool(data["locked"]),
                tx_cost=Decimal(data.get("tx_cost", "0")),  # absent in older journals
            )
        if kind == "resolution":
            return Resolution(
                resolution_id=str(data["resolution_id"]),
                market=str(data["market"]),
                winning_token_id=str(data["winning_token_id"]),
                ts_ns=int(data["ts_ns"]),
                token_ids=tuple(str(t) for t in data.get("token_ids", ())),
                tx_cost=Decimal(data.get("tx_cost", "0")),  # absent in older journals
            )
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise ValueError(f"malformed journal record: {exc!r}") from None
    raise ValueError(f"unknown journal record kind {data.get('kind')!r}")


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """A trade's settlement status changed (live): ``fill_ids`` are the fills it booked."""

    trade_id: str
    status: str
    fill_ids: tuple[str, ...]
    ts_ns: int
    reason: str = ""


def encode_settlement(record: SettlementRecord) -> dict[str, Any]:
    return {
        "v": JOURNAL_VERSION,
        "kind": "settlement",
        "trade_id": record.trade_id,
        "status": record.status,
        "fill_ids": list(record.fill_ids),
        "ts_ns": record.ts_ns,
        "reason": record.reason,
    }


def decode_settlement(data: dict[str, Any]) -> SettlementRecord:
    try:
        return SettlementRecord(
            trade_id=str(data["trade_id"]),
            status=str(data["status"]),
            fill_ids=tuple(str(f) for f in data["fill_ids"]),
            ts_ns=int(data["ts_ns"]),
            reason=str(data.get("reason", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed settlement record: {exc!r}") from None


@dataclass(slots=True)
class JournalContents:
    """What a journal holds. ``events`` are in journal order, without the fills of trades that
    FAILED on chain (those are in ``reversed_fills``): the history that happened."""

    events: list[LedgerEvent] = field(default_factory=list)
    torn_tail: bool = False  # the last line was incomplete and was skipped
    settlements: dict[str, SettlementRecord] = field(default_factory=dict)  # trade id -> last
    reversed_fills: list[Fill] = field(default_factory=list)

    @property
    def fills(self) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill)]

    @property
    def merges(self) -> list[Merge]:
        return [e for e in self.events if isinstance(e, Merge)]

    @property
    def resolutions(self) -> list[Resolution]:
        return [e for e in self.events if isinstance(e, Resolution)]


def read_journal(path: Path) -> JournalContents:
    """Read every event back; a torn last line is skipped, a corrupt earlier line raises."""
    out = JournalContents()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    lines = data.split(b"\n")
    # split() leaves b"" after a final newline; anything else there is an unterminated line.
    last = lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            _read_line(out, orjson.loads(line))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise JournalError(f"{path}: line {number} is corrupt: {exc}") from None
    if last.strip():
        try:
            _read_line(out, orjson.loads(last))
        except (orjson.JSONDecodeError, ValueError):
            out.torn_tail = True
    failed = {
        fill_id
        for record in out.settlements.values()
        if record.status == "FAILED"
        for fill_id in record.fill_ids
    }
    if failed:
        out.reversed_fills = [e for e in out.fills if e.fill_id in failed]
        out.events = [e for e in out.events if not (isinstance(e, Fill) and e.fill_id in failed)]
    return out


def _read_line(out: JournalContents, data: Any) -> None:
    if isinstance(data, dict) and data.get("kind") == "settlement":
        record = decode_settlement(data)
        out.settlements[record.trade_id] = record
    elif isinstance(data, dict):
        out.events.append(decode_event(data))
    else:
        raise ValueError("a journal record is an object")


class Journal:
    """Appends events to ``path``; each ``append`` is one write followed by fsync."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self._set_aside_torn_tail()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created and fsync:
            _fsync_dir(path.parent)

    def append(self, events: Iterable[LedgerEvent]) -> None:
        payload = b"".join(
            orjson.dumps(encode_event(e), option=orjson.OPT_APPEND_NEWLINE) for e in events
        )
        self._write(payload)

    def _write(self, payload: bytes) -> None:
        if not payload:
            return
        if self._fd < 0:
            raise JournalError(f"{self.path}: journal is closed")
        view = memoryview(payload)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(f"{self.path}: write failed: {exc}") from exc

    def append_settlement(self, record: SettlementRecord) -> None:
        self._write(orjson.dumps(encode_settlement(record), option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _set_aside_torn_tail(self) -> None:
        """Move an unterminated last line to ``<path>.torn-<ns>`` so appends stay line-aligned."""
        try:
            with self.path.open("rb+") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                fh.seek(size - 1)
                if fh.read(1) == b"\n":
                    return
                fh.seek(0)
                data = fh.read()
                cut = data.rfind(b"\n") + 1
                if _is_record(data[cut:]):
                    # Complete record, only its newline was lost: terminate it, keep it.
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                    return
                side = self.path.with_name(f"{self.path.name}.torn-{time.time_ns()}")
                side.write_bytes(data[cut:])
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
                log.warning("journal torn tail set aside", path=str(self.path), side=str(side))
        except FileNotFoundError:
            return


def _is_record(line: bytes) -> bool:
    try:
        _read_line(JournalContents(), orjson.loads(line))
    except (orjson.JSONDecodeError, ValueError):
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def journal_then_apply(
    journal: Journal | None, ledger: Ledger, events: Sequence[LedgerEvent]
) -> Decimal:
    """Journal ``events`` (durably) first, then apply them to ``ledger``; the P&L realized."""
    if journal is not None:
        journal.append(events)
    return sum((ledger.apply(e).realized for e in events), Decimal(0))
