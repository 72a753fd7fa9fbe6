"""EIP-1559 (type 2) transactions, RLP-encoded and signed offline.

The signing hash is ``keccak(0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
gas, to, value, data, accessList]))``; the raw transaction appends ``yParity, r, s`` to that list
and its hash (the transaction id) is the Keccak-256 of the raw bytes. The signature comes from
the same ``Wallet`` that signs orders (libsecp256k1, RFC 6979, low-s); tests recover the sender
with eth-account and prove the raw bytes equal to its own signing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polyarb.chain.abi import AbiError
from polyarb.clob.signing import Wallet, keccak

TX_TYPE_EIP1559 = 0x02
GWEI = 10**9
POL_DECIMALS = 18  # 1 POL = 10^18 wei

Rlp = bytes | int | Sequence["Rlp"]


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def rlp_encode(item: Rlp) -> bytes:
    """RLP of bytes, non-negative integers (big-endian, minimal, 0 = empty) and lists."""
    if isinstance(item, int):
        if item < 0:
            raise AbiError(f"RLP cannot encode a negative integer: {item}")
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    payload = b"".join(rlp_encode(part) for part in item)
    return _length_prefix(len(payload), 0xC0) + payload


@dataclass(frozen=True, slots=True)
class Eip1559Tx:
    """An unsigned type-2 transaction (no access list)."""

    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int  # wei
    max_fee_per_gas: int  # wei
    gas: int
    to: str
    data: bytes
    value: int = 0

    def _fields(self) -> list[Rlp]:
        try:
            to = bytes.fromhex(self.to.removeprefix("0x"))
        except ValueError:
            raise AbiError(f"not an address: {self.to!r}") from None
        if len(to) != 20:
            raise AbiError(f"not an address: {self.to!r}")
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas,
            to,
            self.value,
            self.data,
            [],
        ]

    def signing_hash(self) -> bytes:
        return keccak(bytes([TX_TYPE_EIP1559]) + rlp_encode(self._fields()))


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction ready for ``eth_sendRawTransaction``."""

    tx: Eip1559Tx
    raw: bytes
    sender: str

    @property
    def tx_hash(self) -> str:
        return "0x" + keccak(self.raw).hex()

    @property
    def raw_hex(self) -> str:
        return "0x" + self.raw.hex()


def sign_tx(tx: Eip1559Tx, wallet: Wallet) -> SignedTx:
    """Sign ``tx`` with ``wallet``; the result is byte-equal to eth-account's signing."""
    signature = bytes.fromhex(wallet.sign_digest(tx.signing_hash()).removeprefix("0x"))
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    y_parity = signature[64] - 27
    raw = bytes([TX_TYPE_EIP1559]) + rlp_encode([*tx._fields(), y_parity, r, s])
    return SignedTx(tx=tx, raw=raw, sender=wallet.address)
