"""Cost of building and signing one merge transaction offline: ours (hand ABI + RLP,
libsecp256k1) against eth-abi + eth-account's ``sign_transaction``, in the same run on the same
calls. Not a hot path (a merge follows a filled set); the figure shows the hand encoding costs
nothing and lets nothing slow creep in.

    .venv/bin/python bench/bench_chain_tx.py [--txs 2000]
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from eth_abi import encode
from eth_account import Account
from eth_utils import to_checksum_address

from polyarb.chain.abi import selector
from polyarb.chain.calls import CTF_COLLATERAL_ADAPTER, PUSD, merge_call
from polyarb.chain.tx import GWEI, Eip1559Tx, sign_tx
from polyarb.clob.signing import Wallet

KEY = "0x" + "5e" * 32
MERGE = "mergePositions(address,bytes32,bytes32,uint256[],uint256)"


def _cases(n: int) -> list[tuple[bytes, int]]:
    rng = random.Random(7)
    return [(rng.randbytes(32), rng.randint(1, 10**12)) for _ in range(n)]


def ours(cases: list[tuple[bytes, int]]) -> float:
    wallet = Wallet(KEY)
    start = time.perf_counter()
    for nonce, (condition, units) in enumerate(cases):
        call = merge_call("0x" + condition.hex(), Decimal(units) / 10**6, neg_risk=False)
        tx = Eip1559Tx(137, nonce, 30 * GWEI, 200 * GWEI, 300_000, call.to, call.data)
        sign_tx(tx, wallet).raw_hex  # noqa: B018
    return (time.perf_counter() - start) / len(cases)


def reference(cases: list[tuple[bytes, int]]) -> float:
    account = Account.from_key(KEY)
    to = to_checksum_address(CTF_COLLATERAL_ADAPTER)
    types = ["address", "bytes32", "bytes32", "uint256[]", "uint256"]
    start = time.perf_counter()
    for nonce, (condition, units) in enumerate(cases):
        data = selector(MERGE) + encode(types, [PUSD, bytes(32), condition, [1, 2], units])
        signed = account.sign_transaction(
            {
                "type": 2,
                "chainId": 137,
                "nonce": nonce,
                "maxPriorityFeePerGas": 30 * GWEI,
                "maxFeePerGas": 200 * GWEI,
                "gas": 300_000,
                "to": to,
                "value": 0,
                "data": data,
                "accessList": [],
            }
        )
        signed.raw_transaction.hex()
    return (time.perf_counter() - start) / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000)
    args = parser.parse_args()
    cases = _cases(args.txs)
    ours(cases[:50])
    reference(cases[:50])  # warm both
    mine = ours(cases)
    theirs = reference(cases)
    print(f"merge transactions signed  {args.txs}")
    print(f"polyarb per transaction    {mine * 1e6:8.1f} us")
    print(f"eth-account per transaction{theirs * 1e6:8.1f} us")
    print(f"speed-up                   {theirs / mine:8.1f} x")


if __name__ == "__main__":
    main()
