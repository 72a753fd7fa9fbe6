"""EIP-712 signing of CLOB V2 orders and of the L1 ``ClobAuth`` message, and signer recovery.

The struct hash and domain separator are encoded by hand (fixed-width ABI words, Keccak-256)
and the digest is signed with libsecp256k1 (coincurve): RFC 6979 nonces and low-s, so the
65-byte signature is the very one eth-account computes, in a fraction of the time (see
``bench/bench_signing.py``; tests prove byte equality against py-clob-client-v2).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak as _keccak_mod

from polyarb.domain.book import Side

POLYGON_CHAIN_ID = 137
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"
ZERO_BYTES32 = "0x" + "00" * 32

ORDER_TYPE = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
AUTH_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
AUTH_TYPE = "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
AUTH_DOMAIN_NAME = "ClobAuthDomain"
AUTH_DOMAIN_VERSION = "1"
AUTH_MESSAGE = "This message attests that I control the given wallet"


class SignatureType(IntEnum):
    """Who signs for whose funds: the EOA itself, a Polymarket proxy, or a Gnosis Safe."""

    EOA = 0
    POLY_PROXY = 1
    POLY_GNOSIS_SAFE = 2


class SignatureError(ValueError):
    """A signature or an address that does not parse."""


def keccak(data: bytes) -> bytes:
    return _keccak_mod.new(digest_bits=256, data=data).digest()


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_bytes(address: str) -> bytes:
    text = address.removeprefix("0x").removeprefix("0X")
    if len(text) != 40:
        raise SignatureError(f"not an address: {address!r}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SignatureError(f"not an address: {address!r}") from None


def _bytes32(value: str) -> bytes:
    text = value.removeprefix("0x")
    if len(text) != 64:
        raise SignatureError(f"not a bytes32: {value!r}")
    return bytes.fromhex(text)


def checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of ``address``."""
    lower = _address_bytes(address).hex()
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower)
    )


_ORDER_TYPE_HASH = keccak(ORDER_TYPE.encode())
_AUTH_TYPE_HASH = keccak(AUTH_TYPE.encode())


@lru_cache(maxsize=16)
def exchange_domain_separator(
    chain_id: int, exchange: str, version: str = EXCHANGE_DOMAIN_VERSION
) -> bytes:
    return keccak(
        keccak(DOMAIN_TYPE.encode())
        + keccak(EXCHANGE_DOMAIN_NAME.encode())
        + keccak(version.encode())
        + _word(chain_id)
        + _address_bytes(exchange).rjust(32, b"\0")
    )


@lru_cache(maxsize=4)
def _auth_domain_separator(chain_id: int) -> bytes:
    return keccak(
        keccak(AUTH_DOMAIN_TYPE.encode())
        + keccak(AUTH_DOMAIN_NAME.encode())
        + keccak(AUTH_DOMAIN_VERSION.encode())
        + _word(chain_id)
    )


@dataclass(frozen=True, slots=True)
class OrderV2:
    """The V2 order as signed (``expiration`` travels in the body but is not signed)."""

    salt: int
    maker: str  # the funder: proxy/safe address, or the EOA for SignatureType.EOA
    signer: str  # the EOA
    token_id: int
    maker_amount: int  # base units (1e-6): USD for a BUY, shares for a SELL
    taker_amount: int  # base units: shares for a BUY, USD for a SELL
    side: Side
    signature_type: SignatureType
    timestamp_ms: int
    metadata: str = ZERO_BYTES32
    builder: str = ZERO_BYTES32
    expiration: int = 0


def order_struct_hash(order: OrderV2) -> bytes:
    return keccak(
        _ORDER_TYPE_HASH
        + _word(order.salt)
        + _address_bytes(order.maker).rjust(32, b"\0")
        + _address_bytes(order.signer).rjust(32, b"\0")
        + _word(order.token_id)
        + _word(order.maker_amount)
        + _word(order.taker_amount)
        + _word(0 if order.side == Side.BUY else 1)
        + _word(int(order.signature_type))
        + _word(order.timestamp_ms)
        + _bytes32(order.metadata)
        + _bytes32(order.builder)
    )


def order_digest(order: OrderV2, *, chain_id: int, exchange: str) -> bytes:
    """The EIP-712 digest of ``order``; ``0x`` + its hex is the venue's order id."""
    return keccak(
        b"\x19\x01" + exchange_domain_separator(chain_id, exchange) + order_struct_hash(order)
    )


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """The EIP-712 digest of the L1 ``ClobAuth`` message (timestamp is a *string* there)."""
    struct = keccak(
        _AUTH_TYPE_HASH
        + _address_bytes(address).rjust(32, b"\0")
        + keccak(timestamp.encode())
        + _word(nonce)
        + keccak(AUTH_MESSAGE.encode())
    )
    return keccak(b"\x19\x01" + _auth_domain_separator(chain_id) + struct)


class Wallet:
    """A private key that signs digests; its repr never shows the key."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key_hex: str) -> None:
        text = private_key_hex.strip().removeprefix("0x")
        try:
            if len(text) != 64:
                raise ValueError("not 32 bytes")
            self._key = PrivateKey(bytes.fromhex(text))
        except ValueError:
            raise SignatureError("POLY_PRIVATE_KEY is not a 32-byte hex key") from None
        public = self._key.public_key.format(compressed=False)[1:]
        self.address = checksum_address("0x" + keccak(public)[-20:].hex())

    def __repr__(self) -> str:
        return f"Wallet({self.address})"

    def sign_digest(self, digest: bytes) -> str:
        """``0x`` + r || s || v (v = 27 + recovery id), as eth-account writes it."""
        raw = self._key.sign_recoverable(digest, hasher=None)
        return "0x" + raw[:64].hex() + f"{raw[64] + 27:02x}"


def recover_signer(digest: bytes, signature: str) -> str:
    """The checksummed address that produced ``signature`` over ``digest``."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise SignatureError("signature is not hex") from None
    if len(raw) != 65 or raw[64] not in (27, 28):
        raise SignatureError("signature is not 65 bytes r||s||v")
    try:
        public = PublicKey.from_signature_and_message(
            raw[:64] + bytes([raw[64] - 27]), digest, hasher=None
        )
    except ValueError:
        raise SignatureError("signature does not recover") from None
    return checksum_address("0x" + keccak(public.format(compressed=False)[1:])[-20:].hex())


def new_salt() -> int:
    """A random salt; the venue takes it as a JSON number, so keep it within 2^53."""
    return secrets.randbelow(2**53)
