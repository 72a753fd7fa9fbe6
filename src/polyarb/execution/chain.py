"""Submitting the venue's on-chain calls (merge, convert, redeem) through a Polygon JSON-RPC node.

``ChainSubmitter.submit(call)``: estimate the gas (a call that would revert, or needs more than
its configured limit, is refused), price it from ``eth_feeHistory`` (tip at least
``CHAIN_PRIORITY_FEE_GWEI``; refused when the base fee plus the tip exceeds
``CHAIN_MAX_FEE_GWEI``), take the account's pending nonce, sign offline (``chain/tx.py``), hand
the signed transaction to ``record`` (a journal: its hash is known before it leaves; if it
raises, nothing is sent), send it
with ``eth_sendRawTransaction`` and poll ``eth_getTransactionReceipt`` until
``CHAIN_RECEIPT_TIMEOUT_S``.

A send that gets no answer may still have reached the node: the receipt is polled anyway. No
receipt by the deadline is UNKNOWN: the transaction stays in ``unresolved`` and ``resolve``
looks it up by its hash; it is never signed again with another nonce. While one is unresolved,
``submit`` refuses new transactions (their nonces would queue behind it): the caller resolves
first (``resolve_all``) and books what each lookup found. ``resolve`` may
broadcast the *same* signed bytes again (same nonce, same hash: at most one of them is mined);
once the account's mined nonce has passed it without a receipt for its hash, another
transaction took that nonce (REPLACED).

The cost of a mined transaction, reverted or not, is ``gasUsed x effectiveGasPrice`` wei: kept
exact in POL and converted to USD at the configured ``CHAIN_POL_USD``; the USD figure is what
the ledger books (``Merge.tx_cost``), as ``CHAIN_TX_COST_USD`` is booked in paper.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import httpx
import orjson

from polyarb.chain.calls import ContractCall
from polyarb.chain.tx import GWEI, POL_DECIMALS, Eip1559Tx, SignedTx, sign_tx
from polyarb.clob.signing import Wallet
from polyarb.domain.secrets import mask_url, register_secret

FEE_HISTORY_BLOCKS = 5
FEE_HISTORY_PERCENTILE = 50
GAS_HEADROOM = Decimal("1.25")  # the limit set over the node's estimate (capped by settings)


class ChainTxStatus(StrEnum):
    CONFIRMED = "confirmed"  # mined, status 1
    REVERTED = "reverted"  # mined, status 0: the gas is spent, nothing else happened
    UNKNOWN = "unknown"  # sent (maybe), no receipt yet: look it up by hash
    REPLACED = "replaced"  # its nonce was mined by another transaction: it never will be
    REFUSED = "refused"  # not sent (would revert, over the gas or fee cap, node rejected it)


class RpcError(Exception):
    """The node answered with a JSON-RPC error: it decided."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


class RpcUnavailable(Exception):
    """No usable answer (timeout, connection, HTTP error, not JSON): the outcome is unknown."""


class JsonRpc:
    """A JSON-RPC 2.0 client over HTTP; the URL (a secret) never appears in errors."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        register_secret(url)
        self._url = url
        self._client = client
        self._id = 0

    def __repr__(self) -> str:
        return f"JsonRpc({mask_url(self._url).split('//')[0]}//***)"

    async def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = orjson.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        try:
            response = await self._client.post(
                self._url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise RpcUnavailable(f"{method}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise RpcUnavailable(f"{method}: HTTP {response.status_code}")
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RpcUnavailable(f"{method}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise RpcUnavailable(f"{method}: the answer is not a JSON-RPC object")
        error = answer.get("error")
        if isinstance(error, dict):
            raise RpcError(int(error.get("code", 0)), str(error.get("message", "")))
        if "result" not in answer:
            raise RpcUnavailable(f"{method}: no result in the answer")
        return answer["result"]


@dataclass(frozen=True, slots=True)
class ChainConfig:
    chain_id: int = 137
    pol_usd: Decimal = Decimal("0.25")
    gas_limit: int = 500_000
    gas_limit_convert: int = 3_000_000
    priority_fee_wei: int = 30 * GWEI
    max_fee_wei: int = 1000 * GWEI
    receipt_timeout_s: float = 120.0
    receipt_poll_s: float = 2.0

    def limit_for(self, call: ContractCall) -> int:
        return self.gas_limit_convert if call.kind == "convert" else self.gas_limit


@dataclass(frozen=True, slots=True)
class ChainTxResult:
    """What became of one call; ``cost_usd`` is what the ledger books."""

    call: ContractCall
    status: ChainTxStatus
    tx_hash: str = ""
    nonce: int | None = None
    gas_used: int = 0
    effective_gas_price: int = 0  # wei per gas
    block_number: int | None = None
    reason: str = ""
    pol_usd: Decimal = field(default=Decimal(0), repr=False)

    @property
    def cost_pol(self) -> Decimal:
        return Decimal(self.gas_used * self.effective_gas_price).scaleb(-POL_DECIMALS)

    @property
    def cost_usd(self) -> Decimal:
        return self.cost_pol * self.pol_usd


Record = Callable[[SignedTx, ContractCall], Awaitable[None]]


def _quantity(value: Any, name: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcUnavailable(f"{name}: not a hex quantity: {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise RpcUnavailable(f"{name}: not a hex quantity: {value!r}") from None


@dataclass(slots=True)
class _InFlight:
    signed: SignedTx
    call: ContractCall


class ChainSubmitter:
    """Signs and sends the wallet's transactions one at a time (an EOA: signature type 0)."""

    def __init__(
        self,
        rpc: JsonRpc,
        wallet: Wallet,
        config: ChainConfig,
        *,
        record: Record | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rpc = rpc
        self._wallet = wallet
        self._config = config
        self._record = record
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self.unresolved: dict[str, _InFlight] = {}

    @property
    def address(self) -> str:
        return self._wallet.address

    def _result(self, call: ContractCall, status: ChainTxStatus, **kw: Any) -> ChainTxResult:
        return ChainTxResult(call=call, status=status, pol_usd=self._config.pol_usd, **kw)

    async def submit(self, call: ContractCall) -> ChainTxResult:
        """Send ``call`` in a transaction of its own and wait for its receipt."""
        async with self._lock:
            if self.unresolved:
                pending = ", ".join(self.unresolved)
                return self._result(
                    call, ChainTxStatus.REFUSED, reason=f"earlier transaction unresolved: {pending}"
                )
            try:
                signed = await self._prepare(call)
            except RpcError as exc:
                return self._result(call, ChainTxStatus.REFUSED, reason=exc.message)
            except _Refused as exc:
                return self._result(call, ChainTxStatus.REFUSED, reason=str(exc))
            except RpcUnavailable as exc:
                return self._result(call, ChainTxStatus.REFUSED, reason=f"node unavailable: {exc}")
            if self._record is not None:
                await self._record(signed, call)
            try:
                await self._rpc.call("eth_sendRawTransaction", [signed.raw_hex])
            except RpcError as exc:
                if "already known" not in exc.message.lower():
                    return self._result(
                        call,
                        ChainTxStatus.REFUSED,
                        tx_hash=signed.tx_hash,
                        nonce=signed.tx.nonce,
                        reason=exc.message,
                    )
            except RpcUnavailable:
                pass  # it may have arrived: the receipt tells
            return await self._await_receipt(_InFlight(signed, call))

    def track(self, signed: SignedTx, call: ContractCall) -> None:
        """Take back a transaction ``record`` journaled in an earlier run whose outcome is not
        known: it is unresolved here until ``resolve`` finds it (a restart never re-signs it)."""
        self.unresolved[signed.tx_hash] = _InFlight(signed, call)

    async def resolve(self, tx_hash: str) -> ChainTxResult | None:
        """Look an unresolved transaction up again; None if ``tx_hash`` is not unresolved."""
        async with self._lock:
            return await self._resolve_locked(tx_hash)

    async def resolve_all(self) -> list[ChainTxResult]:
        """Look every unresolved transaction up again (what became of each, to be booked)."""
        async with self._lock:
            results = [await self._resolve_locked(h) for h in list(self.unresolved)]
        return [r for r in results if r is not None]

    async def _resolve_locked(self, tx_hash: str) -> ChainTxResult | None:
        flight = self.unresolved.get(tx_hash)
        if flight is None:
            return None
        try:
            receipt = await self._rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is None:
                mined = _quantity(
                    await self._rpc.call("eth_getTransactionCount", [self.address, "latest"]),
                    "eth_getTransactionCount",
                )
                if mined > flight.signed.tx.nonce:
                    # The nonce is spent; a receipt for our hash could have come in since.
                    receipt = await self._rpc.call("eth_getTransactionReceipt", [tx_hash])
                    if receipt is None:
                        del self.unresolved[tx_hash]
                        return self._result(
                            flight.call,
                            ChainTxStatus.REPLACED,
                            tx_hash=tx_hash,
                            nonce=flight.signed.tx.nonce,
                            reason="its nonce was mined by another transaction",
                        )
                else:
                    await self._rebroadcast(flight.signed)
        except (RpcError, RpcUnavailable) as exc:
            return self._unknown(flight, f"lookup failed: {exc}")
        if receipt is None:
            return self._unknown(flight, "no receipt yet")
        del self.unresolved[tx_hash]
        return self._from_receipt(flight, receipt)

    async def _rebroadcast(self, signed: SignedTx) -> None:
        # "already known", or the node still refuses: the receipt decides.
        with contextlib.suppress(RpcError):
            await self._rpc.call("eth_sendRawTransaction", [signed.raw_hex])

    def _unknown(self, flight: _InFlight, reason: str) -> ChainTxResult:
        self.unresolved[flight.signed.tx_hash] = flight
        return self._result(
            flight.call,
            ChainTxStatus.UNKNOWN,
            tx_hash=flight.signed.tx_hash,
            nonce=flight.signed.tx.nonce,
            reason=reason,
        )

    async def _prepare(self, call: ContractCall) -> SignedTx:
        config = self._config
        data_hex = "0x" + call.data.hex()
        estimate = _quantity(
            await self._rpc.call(
                "eth_estimateGas", [{"from": self.address, "to": call.to, "data": data_hex}]
            ),
            "eth_estimateGas",
        )
        limit = config.limit_for(call)
        if estimate > limit:
            raise _Refused(f"gas estimate {estimate} exceeds the {call.kind} limit {limit}")
        gas = min(limit, int((estimate * GAS_HEADROOM).to_integral_value()))
        history = await self._rpc.call(
            "eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [FEE_HISTORY_PERCENTILE]]
        )
        if not isinstance(history, dict) or not history.get("baseFeePerGas"):
            raise RpcUnavailable("eth_feeHistory: no baseFeePerGas")
        base_fee = _quantity(history["baseFeePerGas"][-1], "baseFeePerGas")  # the next block's
        rewards = [_quantity(r[0], "reward") for r in history.get("reward") or [] if r]
        tip = max(config.priority_fee_wei, int(statistics.median(rewards)) if rewards else 0)
        if base_fee + tip > config.max_fee_wei:
            raise _Refused(
                f"base fee {base_fee / GWEI:.1f} gwei + tip {tip / GWEI:.1f} gwei exceeds "
                f"CHAIN_MAX_FEE_GWEI {config.max_fee_wei / GWEI:.1f}"
            )
        max_fee = min(config.max_fee_wei, 2 * base_fee + tip)
        nonce = _quantity(
            await self._rpc.call("eth_getTransactionCount", [self.address, "pending"]),
            "eth_getTransactionCount",
        )
        tx = Eip1559Tx(
            chain_id=config.chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=tip,
            max_fee_per_gas=max_fee,
            gas=gas,
            to=call.to,
            data=call.data,
        )
        return sign_tx(tx, self._wallet)

    async def _await_receipt(self, flight: _InFlight) -> ChainTxResult:
        deadline = self._monotonic() + self._config.receipt_timeout_s
        tx_hash = flight.signed.tx_hash
        reason = "no receipt before CHAIN_RECEIPT_TIMEOUT_S"
        while True:
            try:
                receipt = await self._rpc.call("eth_getTransactionReceipt", [tx_hash])
            except (RpcError, RpcUnavailable) as exc:
                receipt, reason = None, f"receipt lookups failing: {exc}"
            if receipt is not None:
                return self._from_receipt(flight, receipt)
            if self._monotonic() >= deadline:
                return self._unknown(flight, reason)
            await asyncio.sleep(self._config.receipt_poll_s)

    def _from_receipt(self, flight: _InFlight, receipt: Any) -> ChainTxResult:
        if not isinstance(receipt, dict):
            return self._unknown(flight, f"receipt is not an object: {receipt!r}")
        try:
            ok = _quantity(receipt.get("status"), "status") == 1
            gas_used = _quantity(receipt.get("gasUsed"), "gasUsed")
            price = _quantity(receipt.get("effectiveGasPrice"), "effectiveGasPrice")
            block = _quantity(receipt.get("blockNumber"), "blockNumber")
        except RpcUnavailable as exc:
            return self._unknown(flight, f"receipt unreadable: {exc}")
        return self._result(
            flight.call,
            ChainTxStatus.CONFIRMED if ok else ChainTxStatus.REVERTED,
            tx_hash=flight.signed.tx_hash,
            nonce=flight.signed.tx.nonce,
            gas_used=gas_used,
            effective_gas_price=price,
            block_number=block,
            reason="" if ok else "reverted on chain",
        )


class _Refused(Exception):
    """A reason not to send, found before signing."""


async def submit_all(
    submitter: ChainSubmitter, calls: Iterable[ContractCall]
) -> list[ChainTxResult]:
    """Submit ``calls`` in order (e.g. ``chain.calls.redeem_calls`` after resolutions), stopping
    after the first UNKNOWN: the ones after it would be refused until it is resolved."""
    results: list[ChainTxResult] = []
    for call in calls:
        result = await submitter.submit(call)
        results.append(result)
        if result.status == ChainTxStatus.UNKNOWN:
            break
    return results
