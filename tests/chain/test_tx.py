"""EIP-1559 transactions signed offline: byte-equal to eth-account's signing, the sender
recovered by eth-account, the fields read back by the ``rlp`` library."""

from __future__ import annotations

from decimal import Decimal

import rlp
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.chain.calls import merge_call
from polyarb.chain.tx import GWEI, Eip1559Tx, rlp_encode, sign_tx
from polyarb.clob.signing import Wallet

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: f"0x{k:064x}")
amounts = st.integers(min_value=0, max_value=2**80)


@settings(max_examples=40, deadline=None)
@given(
    keys,
    st.integers(min_value=0, max_value=2**32),
    amounts,
    amounts,
    st.integers(min_value=21_000, max_value=30_000_000),
    st.binary(min_size=20, max_size=20),
    st.binary(max_size=300),
    st.sampled_from([137, 80002, 1]),
)
def test_signed_tx_equals_eth_account(
    key: str,
    nonce: int,
    tip: int,
    max_fee: int,
    gas: int,
    to: bytes,
    data: bytes,
    chain_id: int,
) -> None:
    wallet = Wallet(key)
    tx = Eip1559Tx(chain_id, nonce, tip, max_fee, gas, "0x" + to.hex(), data)
    ours = sign_tx(tx, wallet)
    theirs = Account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": max_fee,
            "gas": gas,
            "to": to_checksum_address(to),
            "value": 0,
            "data": data,
            "accessList": [],
        },
        key,
    )
    assert ours.raw == bytes(theirs.raw_transaction)
    assert ours.tx_hash == "0x" + theirs.hash.hex()
    assert Account.recover_transaction(ours.raw) == wallet.address == ours.sender


def test_fields_read_back_and_the_key_never_shows() -> None:
    key = "0x" + "4c" * 32
    wallet = Wallet(key)
    call = merge_call("0x" + "11" * 32, Decimal(5), neg_risk=False)
    signed = sign_tx(Eip1559Tx(137, 7, 30 * GWEI, 190 * GWEI, 137_500, call.to, call.data), wallet)
    assert signed.raw[0] == 2
    fields = rlp.decode(signed.raw[1:])
    assert [rlp.sedes.big_endian_int.deserialize(f) for f in fields[:5]] == [
        137,
        7,
        30 * GWEI,
        190 * GWEI,
        137_500,
    ]
    assert fields[5] == bytes.fromhex(call.to[2:])
    assert fields[7] == call.data
    assert fields[8] == []
    assert len(fields) == 12
    assert key[2:] not in repr(signed)
    assert key[2:] not in repr(wallet)


def test_rlp_equals_the_rlp_library() -> None:
    items: list[object] = [b"", b"\x00", b"\x7f", b"\x80", b"a" * 55, b"b" * 56, b"c" * 300]
    for item in items:
        assert rlp_encode(item) == rlp.encode(item)  # type: ignore[arg-type]
    for number in (0, 1, 127, 128, 255, 256, 2**64, 2**255):
        assert rlp_encode(number) == rlp.encode(number)
    nested = [b"x" * 60, [1, 2, [b""]], [], 0]
    assert rlp_encode(nested) == rlp.encode(nested)  # type: ignore[arg-type]
