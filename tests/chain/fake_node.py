"""A tiny Polygon JSON-RPC node for the submitter's tests (the venue's chain: simulated).

It shares no code with what it checks: raw transactions are decoded and their sender recovered
by eth-account, calldata is decoded by eth-abi against selectors computed here with
pycryptodome's Keccak. It checks the chain id and the sender's next nonce, refuses a hash it
already has ("already known"), and mines a transaction at once (or holds it, ``hold``) into a
receipt whose ``effectiveGasPrice`` is min(maxFee, baseFee + tip). Faults: an estimate that
reverts, a transaction reverting on chain, a send processed but answered with HTTP 500
(``drop_next_send``) or too late for the client (``send_delay_s``), and a nonce taken by
another transaction (``replace_held``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from Crypto.Hash import keccak
from eth_abi import decode
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GWEI = 10**9

SIGNATURES = (
    ("splitPosition", "address,bytes32,bytes32,uint256[],uint256"),
    ("mergePositions", "address,bytes32,bytes32,uint256[],uint256"),
    ("redeemPositions", "address,bytes32,bytes32,uint256[]"),
    ("convertPositions", "bytes32,uint256,uint256"),
    ("mergePositions", "bytes32,uint256"),  # the NegRiskAdapter's own forms
    ("redeemPositions", "bytes32,uint256[]"),
)
GAS_USED = {"splitPosition": 130_000, "mergePositions": 110_000, "redeemPositions": 90_000}
GAS_USED_CONVERT = 400_000


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


SELECTORS = {
    keccak256(f"{name}({args})".encode())[:4]: (name, args.split(",")) for name, args in SIGNATURES
}


@dataclass
class Mined:
    tx_hash: str
    sender: str
    nonce: int
    function: str
    args: tuple[Any, ...]
    to: str
    gas_limit: int
    max_fee: int
    tip: int
    status: int = 1
    receipt: dict[str, Any] | None = None


@dataclass
class FakeNode:
    chain_id: int = 137
    base_fee: int = 80 * GWEI
    reward: int = 35 * GWEI
    url: str = ""
    nonces: dict[str, int] = field(default_factory=dict)  # mined nonce count per sender
    txs: dict[str, Mined] = field(default_factory=dict)  # by hash, in arrival order
    block: int = 1000
    # faults
    hold: bool = False  # keep transactions pending (no receipt) until ``mine_held``
    estimate_revert: str = ""
    revert_on_chain: bool = False
    drop_next_send: bool = False
    send_delay_s: float = 0.0  # answer sends this late (after processing): a client timeout
    calls: list[str] = field(default_factory=list)  # every method called, in order
    sends: int = 0  # eth_sendRawTransaction calls

    def pending_count(self, sender: str) -> int:
        held = sum(1 for t in self.txs.values() if t.sender == sender and t.receipt is None)
        return self.nonces.get(sender, 0) + held

    def mine(self, tx: Mined) -> None:
        gas_used = GAS_USED_CONVERT if tx.function == "convertPositions" else GAS_USED[tx.function]
        self.block += 1
        tx.receipt = {
            "transactionHash": tx.tx_hash,
            "status": hex(tx.status),
            "gasUsed": hex(min(gas_used, tx.gas_limit)),
            "effectiveGasPrice": hex(min(tx.max_fee, self.base_fee + tx.tip)),
            "blockNumber": hex(self.block),
            "from": tx.sender,
            "to": tx.to,
        }
        self.nonces[tx.sender] = tx.nonce + 1

    def mine_held(self) -> None:
        for tx in self.txs.values():
            if tx.receipt is None:
                self.mine(tx)

    def replace_held(self) -> None:
        """Another transaction of the same sender and nonce is mined instead of the held ones."""
        for tx_hash, tx in list(self.txs.items()):
            if tx.receipt is None:
                del self.txs[tx_hash]
                self.nonces[tx.sender] = tx.nonce + 1

    def mined(self) -> list[Mined]:
        return [t for t in self.txs.values() if t.receipt is not None]

    async def rpc(self, request: Request) -> Response:
        body = await request.json()
        method, params = body["method"], body["params"]
        self.calls.append(method)
        try:
            result = getattr(self, "_" + method)(*params)
        except _RpcFault as fault:
            return JSONResponse(
                {
                    "jsonrpc": "2.0",
                    "id": body["id"],
                    "error": {"code": fault.code, "message": str(fault)},
                }
            )
        if method == "eth_sendRawTransaction" and self.send_delay_s:
            await asyncio.sleep(self.send_delay_s)
        if method == "eth_sendRawTransaction" and self.drop_next_send:
            self.drop_next_send = False
            return Response("upstream error", status_code=500)
        return JSONResponse({"jsonrpc": "2.0", "id": body["id"], "result": result})

    def _eth_chainId(self) -> str:
        return hex(self.chain_id)

    def _eth_getTransactionCount(self, address: str, tag: str) -> str:
        key = next((k for k in self.nonces if k.lower() == address.lower()), address)
        if tag == "pending":
            return hex(self.pending_count(key))
        return hex(self.nonces.get(key, 0))

    def _eth_estimateGas(self, call: dict[str, str]) -> str:
        if self.estimate_revert:
            raise _RpcFault(3, f"execution reverted: {self.estimate_revert}")
        name, _ = _decode_call(bytes.fromhex(call["data"][2:]))
        return hex(GAS_USED_CONVERT if name == "convertPositions" else GAS_USED[name])

    def _eth_feeHistory(self, count: str, newest: str, percentiles: list[int]) -> dict[str, Any]:
        blocks = int(count, 16)
        return {
            "oldestBlock": hex(self.block - blocks + 1),
            "baseFeePerGas": [hex(self.base_fee)] * (blocks + 1),
            "gasUsedRatio": [0.5] * blocks,
            "reward": [[hex(self.reward)] for _ in range(blocks)],
        }

    def _eth_sendRawTransaction(self, raw_hex: str) -> str:
        self.sends += 1
        raw = bytes.fromhex(raw_hex[2:])
        tx_hash = "0x" + keccak256(raw).hex()
        if tx_hash in self.txs:
            raise _RpcFault(-32000, "already known")
        fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        sender = Account.recover_transaction(raw)
        if fields["chainId"] != self.chain_id:
            raise _RpcFault(-32000, f"invalid chain id {fields['chainId']}")
        expected = self.pending_count(sender)
        if fields["nonce"] != expected:
            raise _RpcFault(-32000, f"nonce {fields['nonce']} is not the next ({expected})")
        if fields["maxFeePerGas"] < self.base_fee:
            raise _RpcFault(-32000, "max fee per gas less than block base fee")
        name, args = _decode_call(bytes(fields["data"]))
        tx = Mined(
            tx_hash=tx_hash,
            sender=sender,
            nonce=fields["nonce"],
            function=name,
            args=args,
            to="0x" + bytes(fields["to"]).hex(),
            gas_limit=fields["gas"],
            max_fee=fields["maxFeePerGas"],
            tip=fields["maxPriorityFeePerGas"],
            status=0 if self.revert_on_chain else 1,
        )
        self.txs[tx_hash] = tx
        if not self.hold:
            self.mine(tx)
        return tx_hash

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, Any] | None:
        tx = self.txs.get(tx_hash)
        return None if tx is None else tx.receipt


class _RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _decode_call(data: bytes) -> tuple[str, tuple[Any, ...]]:
    if data[:4] not in SELECTORS:
        raise _RpcFault(3, "execution reverted: unknown function")
    name, types = SELECTORS[data[:4]]
    return name, tuple(decode(types, data[4:]))


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def running_node(node: FakeNode) -> AsyncIterator[FakeNode]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The path stands for a provider's API key: it must never show in errors or reprs.
    node.url = f"http://127.0.0.1:{port}/v2/node-api-key-0123456789"
    app = Starlette(routes=[Route("/v2/node-api-key-0123456789", node.rpc, methods=["POST"])])
    server = _Embedded(uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield node
    finally:
        server.should_exit = True
        await task
