"""The venue's own error wording (polymarket_protocol.md 3.3), shared by every execution mode
and the simulator so a rejection reads the same in paper, live and tests."""

from __future__ import annotations

from decimal import Decimal

FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NO_MATCH = (
    "no orders found to match with FAK order. "
    "FAK orders are partially filled or killed if no match is found."
)
NOT_ENOUGH_BALANCE = "not enough balance / allowance"


def tick_error(client_id: str, price: Decimal, tick: Decimal) -> str:
    return (
        f"order {client_id} is invalid. Price ({price}) breaks minimum tick size rule: "
        f"{tick.normalize()}"
    )


def min_size_error(client_id: str, size: Decimal, minimum: Decimal) -> str:
    return (
        f"order {client_id} is invalid. Size ({size}) lower than the minimum: {minimum.normalize()}"
    )


def size_precision_error(client_id: str, size: Decimal) -> str:
    return f"order {client_id} is invalid. Size ({size}) supports a max accuracy of 2 decimals"


def min_buy_error(amount: Decimal) -> str:
    return f"invalid amount for a marketable BUY order (${amount.normalize()}), min size: $1"


def invalid_order(reason: str) -> str:
    return f"invalid order: {reason}"


OWNER_MISMATCH = "the order owner has to be the owner of the API KEY"
SIGNER_MISMATCH = "the order signer address has to be the address of the API KEY"
INVALID_SIGNATURE = "invalid signature"
INVALID_EXPIRATION = "invalid expiration"
UNAUTHORIZED = "Unauthorized/Invalid api key"
INVALID_L1 = "Invalid L1 Request headers"
NOT_CANCELED = "Order not found or already canceled"


def too_many_orders(count: int, limit: int) -> str:
    return f"Too many orders in payload: {count}, max allowed: {limit}"
