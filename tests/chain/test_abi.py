"""The calldata of the CTF / collateral-adapter / NegRiskAdapter calls.

Fixed vectors written word by word, selectors computed here with pycryptodome's Keccak (not the
code's helper) and pinned to the well-known ConditionalTokens selectors; then the hand encoder
against eth-abi over random arguments.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from Crypto.Hash import keccak
from eth_abi import decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.chain.abi import AbiError, encode_args
from polyarb.chain.calls import (
    CTF_COLLATERAL_ADAPTER,
    NEG_RISK_ADAPTER,
    NEG_RISK_CTF_COLLATERAL_ADAPTER,
    PUSD,
    convert_call,
    merge_call,
    neg_risk_merge_call,
    neg_risk_redeem_call,
    question_index,
    redeem_call,
    share_units,
    split_call,
)

CONDITION = "0x" + "c3" * 31 + "01"
MARKET_ID = "0x" + "9a" * 31 + "00"


def sel(signature: str) -> str:
    return keccak.new(digest_bits=256, data=signature.encode()).hexdigest()[:8]


def word(value: int | str) -> str:
    if isinstance(value, int):
        return f"{value:064x}"
    return value.removeprefix("0x").lower().rjust(64, "0")


def test_selectors_are_the_conditional_tokens_ones() -> None:
    # The ConditionalTokens contract's selectors, as Polygonscan shows them.
    assert sel("splitPosition(address,bytes32,bytes32,uint256[],uint256)") == "72ce4275"
    assert sel("mergePositions(address,bytes32,bytes32,uint256[],uint256)") == "9e7212ad"
    assert sel("redeemPositions(address,bytes32,bytes32,uint256[])") == "01b7037c"


def test_merge_vector() -> None:
    call = merge_call(CONDITION, Decimal("12.5"), neg_risk=False)
    expected = (
        sel("mergePositions(address,bytes32,bytes32,uint256[],uint256)")
        + word(PUSD)
        + word(0)
        + word(CONDITION)
        + word(5 * 32)  # the partition's offset: after the five head words
        + word(12_500_000)
        + word(2)
        + word(1)
        + word(2)
    )
    assert call.data.hex() == expected
    assert (call.to, call.kind, call.amount) == (CTF_COLLATERAL_ADAPTER, "merge", 12_500_000)


def test_split_vector_on_the_neg_risk_adapter() -> None:
    call = split_call(CONDITION, Decimal(3), neg_risk=True)
    expected = (
        sel("splitPosition(address,bytes32,bytes32,uint256[],uint256)")
        + word(PUSD)
        + word(0)
        + word(CONDITION)
        + word(160)
        + word(3_000_000)
        + word(2)
        + word(1)
        + word(2)
    )
    assert call.data.hex() == expected
    assert call.to == NEG_RISK_CTF_COLLATERAL_ADAPTER


def test_redeem_vector() -> None:
    call = redeem_call(CONDITION, neg_risk=False)
    expected = (
        sel("redeemPositions(address,bytes32,bytes32,uint256[])")
        + word(PUSD)
        + word(0)
        + word(CONDITION)
        + word(128)
        + word(2)
        + word(1)
        + word(2)
    )
    assert call.data.hex() == expected


def test_neg_risk_adapter_vectors() -> None:
    convert = convert_call(MARKET_ID, [0, 2, 5], Decimal("7.25"))
    assert convert.data.hex() == (
        sel("convertPositions(bytes32,uint256,uint256)")
        + word(MARKET_ID)
        + word(0b100101)
        + word(7_250_000)
    )
    assert convert.to == NEG_RISK_ADAPTER
    merge = neg_risk_merge_call(CONDITION, Decimal(1))
    assert merge.data.hex() == sel("mergePositions(bytes32,uint256)") + word(CONDITION) + word(
        1_000_000
    )
    redeem = neg_risk_redeem_call(CONDITION, Decimal("4.5"), Decimal(0))
    assert redeem.data.hex() == (
        sel("redeemPositions(bytes32,uint256[])")
        + word(CONDITION)
        + word(64)
        + word(2)
        + word(4_500_000)
        + word(0)
    )


def test_amounts_are_whole_units_and_indices_fit() -> None:
    assert share_units(Decimal("0.000001")) == 1
    with pytest.raises(AbiError):
        share_units(Decimal("0.0000001"))
    with pytest.raises(AbiError):
        share_units(Decimal(0))
    with pytest.raises(AbiError):
        convert_call(MARKET_ID, [256], Decimal(1))
    with pytest.raises(AbiError):
        merge_call("0x1234", Decimal(1), neg_risk=False)
    assert question_index(MARKET_ID[:-2] + "07") == 7


addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
bytes32s = st.binary(min_size=32, max_size=32)
uints = st.integers(min_value=0, max_value=2**256 - 1)
arg = st.one_of(
    addresses.map(lambda v: ("address", v)),
    bytes32s.map(lambda v: ("bytes32", v)),
    uints.map(lambda v: ("uint256", v)),
    st.lists(uints, max_size=6).map(lambda v: ("uint256[]", v)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(arg, max_size=7))
def test_encoder_equals_eth_abi(args: list[tuple[str, object]]) -> None:
    types = [t for t, _ in args]
    ours = encode_args(
        types,  # type: ignore[arg-type]
        ["0x" + v.hex() if isinstance(v, bytes) else v for _, v in args],
    )
    assert ours == encode(types, [v for _, v in args])
    assert len(decode(types, ours)) == len(args)


@settings(max_examples=100, deadline=None)
@given(bytes32s, st.integers(min_value=1, max_value=10**15), st.booleans())
def test_merge_decodes_with_eth_abi(condition: bytes, units: int, neg_risk: bool) -> None:
    call = merge_call("0x" + condition.hex(), Decimal(units) / 10**6, neg_risk=neg_risk)
    collateral, parent, cid, partition, amount = decode(
        ["address", "bytes32", "bytes32", "uint256[]", "uint256"], call.data[4:]
    )
    assert collateral.lower() == PUSD.lower()
    assert (parent, cid, list(partition), amount) == (bytes(32), condition, [1, 2], units)
