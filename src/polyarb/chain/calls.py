"""The venue's on-chain calls: split, merge and redeem of CTF positions, negRisk conversion.

CLOB V2 settles in pUSD. Its split/merge/redeem go through the collateral adapters, which take
the CTF's own signatures with ``collateralToken`` = pUSD, ``parentCollectionId`` = 0 and the
binary partition ``[1, 2]`` (YES = index set 1, NO = index set 2): ``CtfCollateralAdapter`` for
a standard market, ``NegRiskCtfCollateralAdapter`` for a negRisk one. The NegRiskAdapter keeps
its own ``convertPositions(marketId, indexSet, amount)`` (NO of the outcomes in ``indexSet``
into YES of the others and collateral) and the two-argument ``mergePositions`` /
``redeemPositions(conditionId, amounts[])`` forms. Amounts are in base units: 1 share = 10^6.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from polyarb.chain.abi import AbiError, AbiType, encode_call
from polyarb.domain.market import Market

CTF = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
PUSD = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
CTF_COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_CTF_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
NEG_RISK_ADAPTER = "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"

ZERO_BYTES32 = "0x" + "00" * 32
BINARY_PARTITION = (1, 2)
UNITS_PER_SHARE = 10**6

CallKind = Literal["split", "merge", "redeem", "convert"]

_CTF_SPLIT_MERGE: tuple[AbiType, ...] = ("address", "bytes32", "bytes32", "uint256[]", "uint256")
_CTF_REDEEM: tuple[AbiType, ...] = ("address", "bytes32", "bytes32", "uint256[]")


@dataclass(frozen=True, slots=True)
class ContractCall:
    """One transaction's call: where it goes, its calldata, and what it is for."""

    kind: CallKind
    to: str
    data: bytes
    market: str  # condition id (split/merge/redeem) or negRisk market id (convert)
    amount: int = 0  # base units moved (0 for a redeem: the whole balance)


def share_units(qty: Decimal) -> int:
    """``qty`` shares in base units (10^6 a share); refuses a fraction of a unit."""
    units = qty * UNITS_PER_SHARE
    if qty <= 0 or units != units.to_integral_value():
        raise AbiError(f"not a positive whole number of share units: {qty}")
    return int(units)


def _units_or_zero(qty: Decimal) -> int:
    return 0 if qty == 0 else share_units(qty)


def _adapter(neg_risk: bool) -> str:
    return NEG_RISK_CTF_COLLATERAL_ADAPTER if neg_risk else CTF_COLLATERAL_ADAPTER


def _split_merge(
    kind: Literal["split", "merge"], method: str, condition_id: str, qty: Decimal, neg_risk: bool
) -> ContractCall:
    """The collateral adapter's split or merge: the CTF's signature, binary partition."""
    amount = share_units(qty)
    data = encode_call(
        method,
        _CTF_SPLIT_MERGE,
        [PUSD, ZERO_BYTES32, condition_id, BINARY_PARTITION, amount],
    )
    return ContractCall(kind, _adapter(neg_risk), data, condition_id, amount)


def split_call(condition_id: str, qty: Decimal, *, neg_risk: bool) -> ContractCall:
    """pUSD into ``qty`` YES + ``qty`` NO of a binary condition."""
    return _split_merge("split", "splitPosition", condition_id, qty, neg_risk)


def merge_call(condition_id: str, qty: Decimal, *, neg_risk: bool) -> ContractCall:
    """``qty`` YES + ``qty`` NO of a binary condition back into ``qty`` pUSD."""
    return _split_merge("merge", "mergePositions", condition_id, qty, neg_risk)


def redeem_call(condition_id: str, *, neg_risk: bool) -> ContractCall:
    """Both outcome balances of a resolved condition into their payout in pUSD."""
    data = encode_call(
        "redeemPositions", _CTF_REDEEM, [PUSD, ZERO_BYTES32, condition_id, BINARY_PARTITION]
    )
    return ContractCall("redeem", _adapter(neg_risk), data, condition_id)


def neg_risk_merge_call(condition_id: str, qty: Decimal) -> ContractCall:
    """NegRiskAdapter ``mergePositions(conditionId, amount)``."""
    amount = share_units(qty)
    data = encode_call("mergePositions", ("bytes32", "uint256"), [condition_id, amount])
    return ContractCall("merge", NEG_RISK_ADAPTER, data, condition_id, amount)


def neg_risk_redeem_call(condition_id: str, yes: Decimal, no: Decimal) -> ContractCall:
    """NegRiskAdapter ``redeemPositions(conditionId, [yes, no])`` (amounts held, in shares)."""
    amounts = [_units_or_zero(yes), _units_or_zero(no)]
    data = encode_call("redeemPositions", ("bytes32", "uint256[]"), [condition_id, amounts])
    return ContractCall("redeem", NEG_RISK_ADAPTER, data, condition_id)


def convert_call(market_id: str, question_indices: Iterable[int], qty: Decimal) -> ContractCall:
    """NegRiskAdapter ``convertPositions``: ``qty`` NO of each listed question (by its index in
    the negRisk market) into ``qty`` YES of every other question plus ``(k - 1) x qty`` pUSD."""
    indices = sorted(set(question_indices))
    if len(indices) < 1 or any(not 0 <= i < 256 for i in indices):
        raise AbiError(f"question indices must be in 0..255: {indices}")
    index_set = sum(1 << i for i in indices)
    amount = share_units(qty)
    data = encode_call(
        "convertPositions", ("bytes32", "uint256", "uint256"), [market_id, index_set, amount]
    )
    return ContractCall("convert", NEG_RISK_ADAPTER, data, market_id, amount)


def question_index(question_id: str) -> int:
    """A negRisk question's index in its market: the last byte of its question id (the
    NegRiskAdapter derives question ids as the market id with the index in the last byte)."""
    text = question_id.removeprefix("0x")
    if len(text) != 64:
        raise AbiError(f"not a question id: {question_id!r}")
    return int(text[-2:], 16)


def redeem_calls(markets: Iterable[Market], positions: Mapping[str, Decimal]) -> list[ContractCall]:
    """Auto-redeem: the redeem of every resolved market (closed, payouts known) in which a token
    is held (``positions``: token id to shares), one per condition. Losing tokens are redeemed
    too: the call burns both balances, and paying nothing it still clears the position."""
    holding = {token for token, shares in positions.items() if shares > 0}
    calls: list[ContractCall] = []
    seen: set[str] = set()
    for market in markets:
        if market.condition_id in seen or market.payouts is None:
            continue
        if not holding.intersection(market.token_ids):
            continue
        seen.add(market.condition_id)
        calls.append(redeem_call(market.condition_id, neg_risk=market.neg_risk))
    return calls
