"""A live trader for the kill -9 tests: one FOK buy on the simulator, killed (SIGKILL, by
itself) at a labelled point; or, with ``recover``, a restart that settles what the last run
left in flight. Prints one JSON line with what it saw.

    python live_crash_child.py CLOB_URL DATA_DIR TOKEN PRICE SIZE POINT
    POINT: before_send | after_send | after_fill | none | recover

before_send: the intent is committed, the request has not left;
after_send:  the venue processed POST /order, its answer is not read;
after_fill:  the venue's trade was read, the fill is not journaled.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import httpx

from polyarb.clob.signing import SignatureType, Wallet
from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market, Outcome
from polyarb.domain.trading import Fill, Leg, Mode, Order, Signal
from polyarb.execution.journal import read_journal
from polyarb.execution.live.client import LiveConfig, LiveExecution
from polyarb.execution.live.venue import ClobRest
from polyarb.store import Store, WriterConfig

KEY = "0x" + "9d" * 32


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingTransport(httpx.AsyncBaseTransport):
    """The real transport, and SIGKILL once the response to ``path`` has arrived."""

    def __init__(self, path: str | None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.path = path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.path is not None and request.url.path == self.path:
            await response.aread()
            _die()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Intents:
    def __init__(self, store: Store, point: str) -> None:
        self.store, self.point = store, point

    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        await self.store.record_order_intent(order, signed_payload=signed_payload)
        if self.point == "before_send":
            _die()


async def main(
    url: str, data_dir: Path, token: str, price: Decimal, size: Decimal, point: str
) -> None:
    kill_at = {"after_send": "/order", "after_fill": "/data/trades"}.get(point)
    rest = ClobRest(
        url, Wallet(KEY), None, chain_id=137, timeout_s=5, transport=KillingTransport(kill_at)
    )
    rest.creds = await rest.api_key()
    store = await Store.open(
        f"sqlite+aiosqlite:///{data_dir / 'live.db'}",
        mode=Mode.LIVE,
        spool_dir=data_dir / "spool",
        writer=WriterConfig(process=False, flush_interval_s=0.01),
    )
    journal = data_dir / "journal.jsonl"
    ledger = Ledger(Decimal(1000))
    for event in read_journal(journal).events if journal.exists() else []:
        ledger.apply(event)
    market = Market("0xcond", "?", "m", (Outcome("Yes", token), Outcome("No", "1")))
    live = LiveExecution(
        rest,
        {token: market},
        LiveConfig(chain_id=137, funder="", signature_type=SignatureType.EOA, slippage=Decimal(0)),
        Intents(store, point),
        ledger,
        journal,
        on_order_update=lambda order, fills: store.submit_order(order),
    )
    fills: list[Fill] = []
    if point == "recover":
        state = await store.load_state()
        fills = await live.resolve_in_flight(state.open_orders)
        statuses = [(o.client_id, o.status.value, o.reason) for o in state.open_orders]
    else:
        leg = Leg(token, Side.BUY, size, price, price, "0xcond")
        report = await live.execute(
            Signal("sniper", "0xcond", 0, Decimal("0.1"), size, (leg,), kind="directional")
        )
        fills = report.fills
        statuses = [(o.client_id, o.status.value, o.reason) for o in report.orders]
    await store.flush()
    print(
        json.dumps(
            {
                "statuses": statuses,
                "fills": [[f.fill_id, str(f.size)] for f in fills],
                "shares": str(ledger.shares(token)),
                "journaled": len(read_journal(journal).events) if journal.exists() else 0,
            }
        ),
        flush=True,
    )
    await live.aclose()
    await store.close()


if __name__ == "__main__":
    url, data_dir, token, price, size, point = sys.argv[1:7]
    asyncio.run(main(url, Path(data_dir), token, Decimal(price), Decimal(size), point))
