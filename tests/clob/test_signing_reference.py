"""Our signing is byte-equal to the official client's (py-clob-client-v2) over random orders:
signature, order id and the POST /order body; likewise the L1 and L2 headers."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import ApiCreds as RefCreds
from py_clob_client_v2.clob_types import RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils import Side as RefSide
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

from polyarb.clob.amounts import limit_amounts
from polyarb.clob.auth import ApiCreds, l1_headers, l2_headers
from polyarb.clob.orders import order_body, parse_order_body, sign_order
from polyarb.clob.signing import (
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    OrderV2,
    SignatureType,
    Wallet,
    checksum_address,
    order_digest,
    recover_signer,
)
from polyarb.domain.book import Side

CHAIN = 137
keys = st.integers(min_value=1, max_value=2**255).map(lambda k: "0x" + f"{k:064x}")
addresses = st.binary(min_size=20, max_size=20).map(lambda b: checksum_address("0x" + b.hex()))
bytes32 = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
ticks = st.sampled_from(sorted(ROUNDING_CONFIG))


@st.composite
def orders(draw: st.DrawFn) -> tuple[str, OrderV2, str]:
    key = draw(keys)
    wallet = Wallet(key)
    sig_type = draw(st.sampled_from(list(SignatureType)))
    funder = wallet.address if sig_type == SignatureType.EOA else draw(addresses)
    order = OrderV2(
        salt=draw(st.integers(min_value=0, max_value=2**53)),
        maker=funder,
        signer=wallet.address,
        token_id=draw(st.integers(min_value=0, max_value=2**256 - 1)),
        maker_amount=draw(st.integers(min_value=1, max_value=10**15)),
        taker_amount=draw(st.integers(min_value=1, max_value=10**15)),
        side=draw(st.sampled_from(list(Side))),
        signature_type=sig_type,
        timestamp_ms=draw(st.integers(min_value=1_600_000_000_000, max_value=2_000_000_000_000)),
        metadata=draw(bytes32),
        builder=draw(bytes32),
        expiration=draw(st.sampled_from([0, 1_900_000_000])),
    )
    return key, order, draw(st.sampled_from([EXCHANGE_V2, NEG_RISK_EXCHANGE_V2]))


def _reference(key: str, order: OrderV2, exchange: str) -> tuple[str, str, str]:
    builder = ExchangeOrderBuilderV2(exchange, CHAIN, Signer(key, CHAIN), lambda: str(order.salt))
    ref = builder.build_order(
        OrderDataV2(
            maker=order.maker,
            tokenId=str(order.token_id),
            makerAmount=str(order.maker_amount),
            takerAmount=str(order.taker_amount),
            side=RefSide.BUY if order.side == Side.BUY else RefSide.SELL,
            signer=order.signer,
            signatureType=SignatureTypeV2(int(order.signature_type)),
            timestamp=str(order.timestamp_ms),
            metadata=order.metadata,
            builder=order.builder,
            expiration=str(order.expiration),
        )
    )
    typed = builder.build_order_typed_data(ref)
    signed = builder.build_signed_order(ref)  # salt is fixed by the generator above
    body = order_to_json_v2(signed, owner="owner-uuid", order_type="FOK")
    return builder.build_order_signature(typed), builder.build_order_hash(typed), json.dumps(body)


@settings(max_examples=150, deadline=None)
@given(orders())
def test_signature_order_id_and_body_equal_the_reference(case: tuple[str, OrderV2, str]) -> None:
    key, order, exchange = case
    signed = sign_order(Wallet(key), order, chain_id=CHAIN, exchange=exchange)
    ref_sig, ref_hash, ref_body = _reference(key, order, exchange)
    assert signed.signature == ref_sig
    assert signed.order_id == ref_hash
    assert json.dumps(order_body(signed, owner="owner-uuid", order_type="FOK")) == ref_body
    # and the simulator's reading of the body recovers the signer
    parsed, signature, _ = parse_order_body(json.loads(ref_body))
    assert parsed == order
    digest = order_digest(parsed, chain_id=CHAIN, exchange=exchange)
    assert recover_signer(digest, signature) == Wallet(key).address


def test_a_changed_field_or_domain_recovers_someone_else() -> None:
    wallet = Wallet("0x" + "42" * 32)
    order = OrderV2(
        1,
        wallet.address,
        wallet.address,
        7,
        5_200_000,
        10_000_000,
        Side.BUY,
        SignatureType.EOA,
        1_713_398_400_000,
    )
    signed = sign_order(wallet, order, chain_id=CHAIN, exchange=EXCHANGE_V2)
    assert recover_signer(bytes.fromhex(signed.order_id[2:]), signed.signature) == wallet.address
    other = order_digest(order, chain_id=CHAIN, exchange=NEG_RISK_EXCHANGE_V2)
    assert recover_signer(other, signed.signature) != wallet.address


@st.composite
def priced(draw: st.DrawFn) -> tuple[str, Decimal, Decimal, Side]:
    tick = draw(ticks)
    step = Decimal(tick)
    n = draw(st.integers(min_value=1, max_value=int((1 - step) / step)))
    size = Decimal(draw(st.integers(min_value=1, max_value=10_000_000))) / 100
    return tick, step * n, size, draw(st.sampled_from(list(Side)))


@settings(max_examples=300, deadline=None)
@given(priced())
def test_limit_amounts_equal_the_reference(case: tuple[str, Decimal, Decimal, Side]) -> None:
    tick, price, size, side = case
    wallet_key = "0x" + "11" * 32
    ref = OrderBuilder(Signer(wallet_key, CHAIN))
    _, maker, taker = ref.get_order_amounts(
        side.value, float(size), float(price), ROUNDING_CONFIG[tick]
    )
    ours = limit_amounts(side, price, size, Decimal(tick))
    if math.floor(float(size) * 100) == size * 100:
        assert ours == (maker, taker)
    else:  # the reference floors 523.17 * 100 = 52316.99999... in floats and drops a cent
        shares = size - Decimal("0.01")
        assert (maker, taker) == limit_amounts(side, price, shares, Decimal(tick))


@settings(max_examples=60, deadline=None)
@given(
    keys,
    st.integers(min_value=1_600_000_000, max_value=2_000_000_000),
    st.integers(min_value=0, max_value=2**64),
)
def test_l1_headers_equal_the_reference(key: str, timestamp: int, nonce: int) -> None:
    ours = l1_headers(Wallet(key), chain_id=CHAIN, timestamp=timestamp, nonce=nonce)
    theirs = create_level_1_headers(Signer(key, CHAIN), nonce=nonce, timestamp=timestamp)
    assert ours == theirs


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=16, max_size=48),
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.sampled_from(["/order", "/orders", "/data/order/0xabc", "/cancel-all"]),
    st.one_of(
        st.just(""),
        st.dictionaries(st.text(max_size=8), st.text(max_size=8)).map(
            lambda d: json.dumps(d, separators=(",", ":"))
        ),
    ),
    st.integers(min_value=1_600_000_000, max_value=2_000_000_000),
)
def test_l2_headers_equal_the_reference(
    raw_secret: bytes, method: str, path: str, body: str, timestamp: int
) -> None:
    import base64

    secret = base64.urlsafe_b64encode(raw_secret).decode()
    key = "0x" + "22" * 32
    wallet = Wallet(key)
    ours = l2_headers(
        ApiCreds("k", secret, "p"),
        wallet.address,
        method=method,
        path=path,
        body=body,
        timestamp=timestamp,
    )
    theirs = create_level_2_headers(
        Signer(key, CHAIN),
        RefCreds("k", secret, "p"),
        RequestArgs(
            method=method, request_path=path, body=body or None, serialized_body=body or None
        ),
        timestamp=timestamp,
    )
    if "'" not in body:  # the reference rewrites ' to " in bodies; JSON bodies carry none
        assert ours == theirs


def test_secrets_stay_out_of_reprs() -> None:
    creds = ApiCreds("key-id", "c2VjcmV0LXNlY3JldA==", "pass-phrase")
    wallet = Wallet("0x" + "33" * 32)
    assert "c2VjcmV0" not in repr(creds)
    assert "pass-phrase" not in repr(creds)
    assert "33" * 8 not in repr(wallet)
