"""Signed V2 orders and their ``POST /order`` wire form (the body py-clob-client-v2 sends).

``sign_order`` builds and signs; ``order_body`` is the JSON object of one order in a
``POST /order`` body or a ``POST /orders`` array; ``parse_order_body`` reads it back (the
simulator verifies what it receives with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polyarb.clob.signing import (
    OrderV2,
    SignatureError,
    SignatureType,
    Wallet,
    checksum_address,
    order_digest,
)
from polyarb.domain.book import Side


@dataclass(frozen=True, slots=True)
class SignedOrder:
    order: OrderV2
    signature: str
    order_id: str  # 0x + the EIP-712 digest: the venue's order id


def sign_order(wallet: Wallet, order: OrderV2, *, chain_id: int, exchange: str) -> SignedOrder:
    digest = order_digest(order, chain_id=chain_id, exchange=exchange)
    return SignedOrder(order, wallet.sign_digest(digest), "0x" + digest.hex())


def order_body(
    signed: SignedOrder,
    *,
    owner: str,
    order_type: str,
    post_only: bool = False,
    defer_exec: bool = False,
) -> dict[str, Any]:
    o = signed.order
    return {
        "order": {
            "salt": o.salt,
            "maker": o.maker,
            "signer": o.signer,
            "tokenId": str(o.token_id),
            "makerAmount": str(o.maker_amount),
            "takerAmount": str(o.taker_amount),
            "side": o.side.value,
            "expiration": str(o.expiration),
            "signatureType": int(o.signature_type),
            "timestamp": str(o.timestamp_ms),
            "metadata": o.metadata,
            "builder": o.builder,
            "signature": signed.signature,
        },
        "owner": owner,
        "orderType": order_type,
        "deferExec": defer_exec,
        "postOnly": post_only,
    }


def parse_order_body(body: Any) -> tuple[OrderV2, str, dict[str, Any]]:
    """(order, signature, envelope) of one order object; SignatureError if malformed."""
    try:
        raw = body["order"]
        salt = raw["salt"]
        if not isinstance(salt, int) or isinstance(salt, bool):
            raise SignatureError("salt must be a JSON integer")
        order = OrderV2(
            salt=salt,
            maker=checksum_address(raw["maker"]),
            signer=checksum_address(raw["signer"]),
            token_id=int(raw["tokenId"]),
            maker_amount=int(raw["makerAmount"]),
            taker_amount=int(raw["takerAmount"]),
            side=Side(raw["side"]),
            signature_type=SignatureType(int(raw["signatureType"])),
            timestamp_ms=int(raw["timestamp"]),
            metadata=str(raw["metadata"]),
            builder=str(raw["builder"]),
            expiration=int(raw["expiration"]),
        )
        signature = str(raw["signature"])
        envelope = {
            "owner": str(body["owner"]),
            "orderType": str(body["orderType"]),
            "postOnly": bool(body.get("postOnly", False)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"malformed order: {exc}") from None
    return order, signature, envelope
