"""Solidity ABI encoding of the few argument types the CTF and negRisk calls take.

``address``, ``bytes32``, ``uint256`` (static, one 32-byte word each) and ``uint256[]``
(dynamic: an offset word in the head, then the length and the items in the tail). Hand-written
because it is that small; tests prove it equal to eth-abi over random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from polyarb.clob.signing import keccak

AbiType = Literal["address", "bytes32", "uint256", "uint256[]"]
AbiValue = str | int | Sequence[int]

_WORD = 32
_UINT_MAX = 2**256


class AbiError(ValueError):
    """A value that does not fit its ABI type."""


def selector(signature: str) -> bytes:
    """The first 4 bytes of Keccak-256 of the canonical signature, e.g. ``f(uint256)``."""
    return keccak(signature.encode())[:4]


def _uint(value: object) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _UINT_MAX:
        raise AbiError(f"not a uint256: {value!r}")
    return value.to_bytes(_WORD, "big")


def _hex_bytes(value: object, size: int, name: str) -> bytes:
    if not isinstance(value, str):
        raise AbiError(f"not an {name}: {value!r}")
    text = value.removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise AbiError(f"not an {name}: {value!r}") from None
    if len(raw) != size:
        raise AbiError(f"not an {name} ({size} bytes): {value!r}")
    return raw


def _static(kind: AbiType, value: object) -> bytes:
    if kind == "uint256":
        return _uint(value)
    if kind == "address":
        return _hex_bytes(value, 20, "address").rjust(_WORD, b"\0")
    if kind == "bytes32":
        return _hex_bytes(value, 32, "bytes32")
    raise AbiError(f"unsupported ABI type {kind!r}")


def encode_args(types: Sequence[AbiType], values: Sequence[object]) -> bytes:
    """The ABI encoding of ``values`` as the tuple ``types`` (a call's arguments)."""
    if len(types) != len(values):
        raise AbiError(f"{len(types)} types for {len(values)} values")
    head: list[bytes] = []
    tail: list[bytes] = []
    tail_offset = _WORD * len(types)
    for kind, value in zip(types, values, strict=True):
        if kind == "uint256[]":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise AbiError(f"not a uint256[]: {value!r}")
            encoded = _uint(len(value)) + b"".join(_uint(item) for item in value)
            head.append(_uint(tail_offset))
            tail.append(encoded)
            tail_offset += len(encoded)
        else:
            head.append(_static(kind, value))
    return b"".join(head) + b"".join(tail)


def encode_call(name: str, types: Sequence[AbiType], values: Sequence[object]) -> bytes:
    """Calldata: the selector of ``name(types...)`` then the encoded arguments."""
    return selector(f"{name}({','.join(types)})") + encode_args(types, values)
