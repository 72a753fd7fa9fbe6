"""The venue's chain side: a Polygon JSON-RPC node over the simulator's trading state.

``SimChain`` answers the eth_* methods the chain submitter calls (``execution/chain.py``):
``eth_chainId``, ``eth_blockNumber``, ``eth_estimateGas``, ``eth_feeHistory``,
``eth_getTransactionCount``, ``eth_sendRawTransaction``, ``eth_getTransactionReceipt`` and
``eth_getTransactionByHash``. A raw transaction is decoded (type-2 RLP), its sender recovered
from the signature over the EIP-1559 signing hash, and refused as a node would: a bad
signature, another chain id, a nonce that is not the sender's next, a max fee under the base
fee, a hash already known. Its calldata is decoded against the CTF collateral adapters' and the
NegRiskAdapter's selectors (``chain/calls.py``) and APPLIED to the exchange's per-wallet state
(``SimExchange.cash`` / ``positions``, what the trading endpoints and ``/balance-allowance``
use): a merge burns ``amount`` of both outcomes and credits ``amount`` pUSD, a split the
reverse, a redeem of a resolved market pays the winning outcome's balance (a 50/50 resolution
half of each) and burns both, a conversion burns NO of the listed questions and mints YES of
the others plus (k - 1) x amount pUSD. A call that would fail (not enough tokens, market not
resolved, unknown condition or function) reverts in ``eth_estimateGas``, as the contract
does; sent anyway, it is mined with status 0 and changes nothing but the gas.

Blocks: one per transaction, mined when it arrives (unless held: ``hold``); the receipt's
``effectiveGasPrice`` is min(maxFee, baseFee + tip). Gas is paid in POL, which the simulator
does not track (no pUSD moves for it). Faults (also scheduled by a scenario: ``chain_drop``,
``chain_revert``): ``hold`` / ``drop_receipts(s)`` (no receipt until ``mine_held`` / until the
time is up: a dropped receipt), ``estimate_revert``, ``revert_on_chain`` / ``revert_next(n)``,
``drop_next_send`` (processed, answered HTTP 500), ``send_delay_s`` (answered too late),
``replace_held`` (the nonce taken by another transaction).

Without an exchange (``exchange=None``) the node keeps no balances and every known call
succeeds: the submitter's own tests use it that way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polyarb.chain.abi import selector
from polyarb.chain.calls import UNITS_PER_SHARE
from polyarb.chain.tx import GWEI, TX_TYPE_EIP1559, rlp_encode
from polyarb.clob.signing import SignatureError, checksum_address, keccak, recover_signer

if TYPE_CHECKING:
    from polyarb.sim.catalog import SimMarket
    from polyarb.sim.trading import SimExchange

CHAIN_PATH = "/chain"
POLYGON = 137

_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("splitPosition", ("address", "bytes32", "bytes32", "uint256[]", "uint256")),
    ("mergePositions", ("address", "bytes32", "bytes32", "uint256[]", "uint256")),
    ("redeemPositions", ("address", "bytes32", "bytes32", "uint256[]")),
    ("convertPositions", ("bytes32", "uint256", "uint256")),
    ("mergePositions", ("bytes32", "uint256")),  # the NegRiskAdapter's own forms
    ("redeemPositions", ("bytes32", "uint256[]")),
)
SELECTORS = {selector(f"{name}({','.join(types)})"): (name, types) for name, types in _SIGNATURES}
GAS_USED = {"splitPosition": 130_000, "mergePositions": 110_000, "redeemPositions": 90_000}
GAS_USED_CONVERT = 400_000


class RpcFault(Exception):
    """A JSON-RPC error answer (code 3: execution reverted; -32000: the node refuses)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Revert(Exception):
    """The call would revert (its reason, as the contract says it)."""


# --- decoding -------------------------------------------------------------------------------


def rlp_decode(data: bytes) -> Any:
    """The item RLP-encoded in ``data`` (bytes or nested lists of bytes); ValueError if it is
    not exactly one well-formed item."""
    item, end = _rlp_item(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the RLP item")
    return item


def _rlp_length(data: bytes, start: int, size: int) -> int:
    if start + size > len(data):
        raise ValueError("truncated RLP length")
    return int.from_bytes(data[start : start + size], "big")


def _rlp_item(data: bytes, pos: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise ValueError("truncated RLP")
    head = data[pos]
    if head < 0x80:
        return data[pos : pos + 1], pos + 1
    if head < 0xB8:
        start, length = pos + 1, head - 0x80
    elif head < 0xC0:
        size = head - 0xB7
        start, length = pos + 1 + size, _rlp_length(data, pos + 1, size)
    else:
        if head < 0xF8:
            start, length = pos + 1, head - 0xC0
        else:
            size = head - 0xF7
            start, length = pos + 1 + size, _rlp_length(data, pos + 1, size)
        end = start + length
        if end > len(data):
            raise ValueError("truncated RLP list")
        items, cursor = [], start
        while cursor < end:
            item, cursor = _rlp_item(data, cursor)
            items.append(item)
        if cursor != end:
            raise ValueError("RLP list overruns its length")
        return items, end
    end = start + length
    if end > len(data):
        raise ValueError("truncated RLP string")
    return data[start:end], end


def _int(raw: Any) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\0":
        raise ValueError("not a canonical RLP integer")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class DecodedTx:
    chain_id: int
    nonce: int
    tip: int
    max_fee: int
    gas: int
    to: str
    value: int
    data: bytes
    sender: str


def decode_raw_tx(raw: bytes) -> DecodedTx:
    """A signed type-2 transaction and its sender; ValueError if it is not one or its
    signature does not recover."""
    if raw[:1] != bytes([TX_TYPE_EIP1559]):
        raise ValueError("not an EIP-1559 (type 2) transaction")
    fields = rlp_decode(raw[1:])
    if not isinstance(fields, list) or len(fields) != 12:
        raise ValueError("a type-2 transaction has 12 fields")
    chain_id, nonce, tip, max_fee, gas, to, value, data, access, y, r, s = fields
    if not isinstance(to, bytes) or len(to) != 20 or not isinstance(data, bytes):
        raise ValueError("bad destination or data")
    if access != []:
        raise ValueError("access lists are not used by the venue's calls")
    unsigned = rlp_encode(fields[:9])
    digest = keccak(bytes([TX_TYPE_EIP1559]) + unsigned)
    parity = _int(y)
    if parity not in (0, 1):
        raise ValueError("bad signature parity")
    signature = _int(r).to_bytes(32, "big") + _int(s).to_bytes(32, "big") + bytes([27 + parity])
    try:
        sender = recover_signer(digest, "0x" + signature.hex())
    except SignatureError as exc:
        raise ValueError(f"invalid signature: {exc}") from None
    return DecodedTx(
        _int(chain_id),
        _int(nonce),
        _int(tip),
        _int(max_fee),
        _int(gas),
        checksum_address("0x" + to.hex()),
        _int(value),
        data,
        sender,
    )


def _word(data: bytes, index: int) -> bytes:
    word = data[32 * index : 32 * index + 32]
    if len(word) != 32:
        raise Revert("calldata too short")
    return word


def decode_call(data: bytes) -> tuple[str, tuple[Any, ...]]:
    """(function name, arguments) of calldata for one of ``SELECTORS`` (Revert otherwise):
    address -> checksummed text, bytes32 -> bytes, uint256 -> int, uint256[] -> tuple."""
    known = SELECTORS.get(data[:4])
    if known is None:
        raise Revert("unknown function")
    name, types = known
    body = data[4:]
    args: list[Any] = []
    for index, kind in enumerate(types):
        word = _word(body, index)
        if kind == "address":
            args.append(checksum_address("0x" + word[12:].hex()))
        elif kind == "bytes32":
            args.append(word)
        elif kind == "uint256":
            args.append(int.from_bytes(word, "big"))
        else:
            offset = int.from_bytes(word, "big")
            if offset % 32:
                raise Revert("misaligned array")
            start = offset // 32
            length = int.from_bytes(_word(body, start), "big")
            args.append(
                tuple(int.from_bytes(_word(body, start + 1 + i), "big") for i in range(length))
            )
    return name, tuple(args)


# --- the node -------------------------------------------------------------------------------


@dataclass
class ChainTx:
    tx_hash: str
    sender: str
    nonce: int
    function: str
    args: tuple[Any, ...]
    to: str
    gas_limit: int
    max_fee: int
    tip: int
    raw: bytes = b""
    status: int = 1
    receipt: dict[str, Any] | None = None
    reason: str = ""  # why it reverted


@dataclass
class SimChain:
    """The node (module docstring). ``exchange``: whose wallets the calls move."""

    exchange: SimExchange | None = None
    chain_id: int = POLYGON
    base_fee: int = 80 * GWEI
    reward: int = 35 * GWEI
    block: int = 1000
    nonces: dict[str, int] = field(default_factory=dict)  # mined nonce count per sender
    txs: dict[str, ChainTx] = field(default_factory=dict)  # by hash, in arrival order
    resolved: dict[str, int | None] = field(default_factory=dict)  # condition -> winner index
    # faults
    hold: bool = False
    estimate_revert: str = ""
    revert_on_chain: bool = False
    reverts: int = 0  # the next n transactions revert on chain (``revert_next``)
    drop_next_send: bool = False
    send_delay_s: float = 0.0
    calls: list[str] = field(default_factory=list)  # every method called, in order
    sends: int = 0  # eth_sendRawTransaction calls

    def routes(self, path: str = CHAIN_PATH) -> list[Route]:
        return [Route(path, self.rpc, methods=["POST"])]

    # --- admin / test hooks ---------------------------------------------------------------

    def resolve_market(self, condition_id: str, winner_index: int | None) -> None:
        """Report the payouts of ``condition_id`` (the oracle): ``winner_index`` 0 or 1 wins,
        None is a 50/50. Redeems of it succeed from now on."""
        if winner_index not in (0, 1, None):
            raise ValueError(f"winner index must be 0, 1 or None, not {winner_index}")
        self.resolved[condition_id.lower()] = winner_index

    def revert_next(self, count: int = 1) -> None:
        """The next ``count`` transactions sent are mined reverted (their gas spent)."""
        self.reverts += count

    def drop_receipts(self, seconds: float) -> None:
        """Transactions sent in the next ``seconds`` get no receipt until then (held), and are
        mined when the time is up: a node that lost them for a while."""
        self.hold = True

        def release() -> None:
            self.hold = False
            self.mine_held()

        asyncio.get_running_loop().call_later(seconds, release)

    def pending_count(self, sender: str) -> int:
        held = sum(1 for t in self.txs.values() if t.sender == sender and t.receipt is None)
        return self.nonces.get(sender, 0) + held

    def mine(self, tx: ChainTx) -> None:
        if tx.status:
            try:
                self._apply(tx.sender, tx.function, tx.args, commit=True)
            except Revert as exc:  # the state moved since it was estimated
                tx.status, tx.reason = 0, str(exc)
        used = GAS_USED_CONVERT if tx.function == "convertPositions" else GAS_USED[tx.function]
        self.block += 1
        tx.receipt = {
            "transactionHash": tx.tx_hash,
            "status": hex(tx.status),
            "gasUsed": hex(min(used, tx.gas_limit)),
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

    def mined(self) -> list[ChainTx]:
        return [t for t in self.txs.values() if t.receipt is not None]

    # --- the contracts --------------------------------------------------------------------

    def _market(self, condition: bytes) -> SimMarket:
        if self.exchange is None:
            raise Revert("no market state")
        cid = "0x" + condition.hex()
        for market in self.exchange.venue.catalog.markets:
            if market.condition_id.lower() == cid:
                return market
        raise Revert("condition not prepared")

    def _apply(self, sender: str, name: str, args: tuple[Any, ...], *, commit: bool) -> None:
        """Run the call against the sender's balances (``commit``) or only check it."""
        exchange = self.exchange
        if exchange is None:
            return
        moves: dict[str, Decimal] = {}  # token -> shares (+ minted, - burned)
        cash = Decimal(0)
        if name in ("mergePositions", "splitPosition"):
            condition, amount = (args[2], args[4]) if len(args) == 5 else (args[0], args[1])
            if len(args) == 5 and tuple(args[3]) != (1, 2):
                raise Revert("the venue's conditions take the binary partition [1, 2]")
            market = self._market(condition)
            shares = Decimal(amount) / UNITS_PER_SHARE
            sign = -1 if name == "mergePositions" else 1
            moves = dict.fromkeys(market.token_ids, sign * shares)
            cash = -sign * shares
        elif name == "redeemPositions":
            market = self._market(args[2] if len(args) == 4 else args[0])
            key = market.condition_id.lower()
            if key not in self.resolved:
                raise Revert("result for condition not received yet")
            winner = self.resolved[key]
            for index, token in enumerate(market.token_ids):
                held = exchange.position(sender, token)
                if len(args) == 2:  # the NegRiskAdapter's form names the amounts
                    held = Decimal(args[1][index]) / UNITS_PER_SHARE
                moves[token] = -held
                share = 1 if winner == index else Decimal("0.5") if winner is None else 0
                cash += held * share
        else:  # convertPositions(marketId, indexSet, amount)
            cash, moves = self._convert(args[0], args[1], Decimal(args[2]) / UNITS_PER_SHARE)
        for token, change in moves.items():
            if exchange.position(sender, token) + change < 0:
                raise Revert("ERC1155: insufficient balance for transfer")
        if exchange.balance(sender) + cash < 0:
            raise Revert("ERC20: transfer amount exceeds balance")
        if not commit:
            return
        owner = checksum_address(sender)
        for token, change in moves.items():
            exchange.positions[(owner, token)] = exchange.position(owner, token) + change
        exchange.cash[owner] = exchange.balance(owner) + cash

    def _convert(
        self, market_id: bytes, index_set: int, shares: Decimal
    ) -> tuple[Decimal, dict[str, Decimal]]:
        assert self.exchange is not None
        wanted = "0x" + market_id.hex()
        event = next(
            (
                e
                for e in self.exchange.venue.catalog.events
                if e.neg_risk and e.neg_risk_market_id.lower() == wanted
            ),
            None,
        )
        if event is None:
            raise Revert("market not prepared")
        questions = {int(m.question_id[-2:], 16): m for m in event.markets}
        picked = [i for i in range(256) if index_set >> i & 1]
        if not picked or any(i not in questions for i in picked):
            raise Revert("invalid index set")
        moves: dict[str, Decimal] = {}
        for index, market in questions.items():
            yes, no = market.token_ids
            if index in picked:
                moves[no] = -shares
            else:
                moves[yes] = shares
        return shares * (len(picked) - 1), moves

    # --- JSON-RPC -------------------------------------------------------------------------

    async def rpc(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            method, params, rid = body["method"], list(body.get("params") or []), body.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _answer(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        self.calls.append(str(method))
        handler = getattr(self, "_" + str(method), None)
        if handler is None:
            error = {"code": -32601, "message": f"the method {method} does not exist"}
            return _answer({"jsonrpc": "2.0", "id": rid, "error": error})
        try:
            result = handler(*params)
        except RpcFault as fault:
            error = {"code": fault.code, "message": str(fault)}
            return _answer({"jsonrpc": "2.0", "id": rid, "error": error})
        except (TypeError, ValueError) as exc:
            error = {"code": -32602, "message": f"invalid params: {exc}"}
            return _answer({"jsonrpc": "2.0", "id": rid, "error": error})
        if method == "eth_sendRawTransaction":
            if self.send_delay_s:
                await asyncio.sleep(self.send_delay_s)
            if self.drop_next_send:
                self.drop_next_send = False
                return Response("upstream error", status_code=500)
        return _answer({"jsonrpc": "2.0", "id": rid, "result": result})

    def _eth_chainId(self) -> str:
        return hex(self.chain_id)

    def _eth_blockNumber(self) -> str:
        return hex(self.block)

    def _eth_getTransactionCount(self, address: str, tag: str = "latest") -> str:
        sender = checksum_address(address)
        if tag == "pending":
            return hex(self.pending_count(sender))
        return hex(self.nonces.get(sender, 0))

    def _eth_estimateGas(self, call: dict[str, str], *_: Any) -> str:
        if self.estimate_revert:
            raise RpcFault(3, f"execution reverted: {self.estimate_revert}")
        try:
            name, args = decode_call(bytes.fromhex(str(call.get("data", "0x"))[2:]))
            sender = call.get("from")
            if sender is not None:
                self._apply(checksum_address(sender), name, args, commit=False)
        except Revert as exc:
            raise RpcFault(3, f"execution reverted: {exc}") from None
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
        raw = bytes.fromhex(raw_hex.removeprefix("0x"))
        tx_hash = "0x" + keccak(raw).hex()
        if tx_hash in self.txs:
            raise RpcFault(-32000, "already known")
        try:
            tx = decode_raw_tx(raw)
        except ValueError as exc:
            raise RpcFault(-32000, f"invalid transaction: {exc}") from None
        if tx.chain_id != self.chain_id:
            raise RpcFault(-32000, f"invalid chain id {tx.chain_id}")
        expected = self.pending_count(tx.sender)
        if tx.nonce < self.nonces.get(tx.sender, 0):
            raise RpcFault(-32000, "nonce too low")
        if tx.nonce != expected:
            raise RpcFault(-32000, f"nonce {tx.nonce} is not the next ({expected})")
        if tx.max_fee < self.base_fee:
            raise RpcFault(-32000, "max fee per gas less than block base fee")
        try:
            name, args = decode_call(tx.data)
        except Revert as exc:
            raise RpcFault(3, f"execution reverted: {exc}") from None
        chain_tx = ChainTx(
            tx_hash=tx_hash,
            sender=tx.sender,
            nonce=tx.nonce,
            function=name,
            args=args,
            to=tx.to,
            gas_limit=tx.gas,
            max_fee=tx.max_fee,
            tip=tx.tip,
            raw=raw,
            status=0 if self.revert_on_chain or self.reverts > 0 else 1,
        )
        self.reverts = max(0, self.reverts - 1)
        self.txs[tx_hash] = chain_tx
        if not self.hold:
            self.mine(chain_tx)
        return tx_hash

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, Any] | None:
        tx = self.txs.get(tx_hash)
        return None if tx is None else tx.receipt

    def _eth_getTransactionByHash(self, tx_hash: str) -> dict[str, Any] | None:
        tx = self.txs.get(tx_hash)
        if tx is None:
            return None
        receipt = tx.receipt or {}
        return {
            "hash": tx.tx_hash,
            "from": tx.sender,
            "to": tx.to,
            "nonce": hex(tx.nonce),
            "gas": hex(tx.gas_limit),
            "maxFeePerGas": hex(tx.max_fee),
            "maxPriorityFeePerGas": hex(tx.tip),
            "type": "0x2",
            "blockNumber": receipt.get("blockNumber"),
        }


def _answer(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")
