"""Cost of signing one CLOB V2 order: ours (hand-encoded EIP-712 + libsecp256k1) against the
official client's (py-clob-client-v2: eth-account ``encode_typed_data`` + ``sign_message``),
measured in the same run on the same orders. The goal: at most 1 ms per order.

Each iteration builds the order from price and size (amounts), signs it and renders the
``POST /order`` body, as the live executor does before sending.

    .venv/bin/python bench/bench_signing.py [--orders 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from decimal import Decimal

from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyarb.clob.amounts import limit_amounts
from polyarb.clob.orders import order_body, sign_order
from polyarb.clob.signing import EXCHANGE_V2, OrderV2, SignatureType, Wallet
from polyarb.domain.book import Side

KEY = "0x" + "5e" * 32
TOKEN = 71321045679252212594626385532706912750332728571942532289631379312455583992563


def _cases(n: int) -> list[tuple[Side, Decimal, Decimal]]:
    rng = random.Random(7)
    return [
        (
            rng.choice([Side.BUY, Side.SELL]),
            Decimal(rng.randint(1, 99)) / 100,
            Decimal(rng.randint(500, 100_000)) / 100,
        )
        for _ in range(n)
    ]


def ours(cases: list[tuple[Side, Decimal, Decimal]]) -> float:
    wallet = Wallet(KEY)
    start = time.perf_counter()
    for i, (side, price, size) in enumerate(cases):
        maker, taker = limit_amounts(side, price, size, Decimal("0.01"))
        order = OrderV2(
            i,
            wallet.address,
            wallet.address,
            TOKEN,
            maker,
            taker,
            side,
            SignatureType.EOA,
            1_790_000_000_000 + i,
        )
        signed = sign_order(wallet, order, chain_id=137, exchange=EXCHANGE_V2)
        json.dumps(order_body(signed, owner="owner", order_type="FOK"))
    return (time.perf_counter() - start) / len(cases)


def reference(cases: list[tuple[Side, Decimal, Decimal]]) -> float:
    signer = Signer(KEY, 137)
    amounts = OrderBuilder(signer)
    builder = ExchangeOrderBuilderV2(EXCHANGE_V2, 137, signer)
    start = time.perf_counter()
    for i, (side, price, size) in enumerate(cases):
        ref_side, maker, taker = amounts.get_order_amounts(
            side.value, float(size), float(price), ROUNDING_CONFIG["0.01"]
        )
        signed = builder.build_signed_order(
            OrderDataV2(
                maker=signer.address(),
                tokenId=str(TOKEN),
                makerAmount=str(maker),
                takerAmount=str(taker),
                side=ref_side,
                signer=signer.address(),
                timestamp=str(1_790_000_000_000 + i),
            )
        )
        json.dumps(order_to_json_v2(signed, owner="owner", order_type="FOK"))
    return (time.perf_counter() - start) / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    args = parser.parse_args()
    cases = _cases(args.orders)
    ours(cases[:50])
    reference(cases[:50])  # warm both
    mine = ours(cases)
    theirs = reference(cases[: max(50, args.orders // 10)])
    print(f"orders signed              {args.orders} (reference: {max(50, args.orders // 10)})")
    print(f"polyarb per order          {mine * 1e6:8.1f} us   (goal <= 1000 us)")
    print(f"py-clob-client-v2 per order{theirs * 1e6:8.1f} us")
    print(f"speed-up                   {theirs / mine:8.1f} x")


if __name__ == "__main__":
    main()
