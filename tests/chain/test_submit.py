"""``ChainSubmitter`` against the fake JSON-RPC node over real HTTP (uvicorn on loopback).

Asserted: a merge mined with the pending nonce, fee and gas within the settings, and its cost
(gasUsed x effectiveGasPrice, POL then USD) exact; a call that would revert or exceed the fee
cap is refused without sending; a transaction reverted on chain still costs its gas; a send
answered with HTTP 500 after the node took it is found by its receipt; no receipt in time is
UNKNOWN, blocks new submissions, and resolves by hash without a new nonce (mined later, or
REPLACED when another transaction took its nonce); the wrong chain id is refused by the node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from polyarb.chain.calls import convert_call, merge_call, redeem_call
from polyarb.chain.tx import GWEI, SignedTx
from polyarb.clob.signing import Wallet
from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.errors import ConfigError
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Mode
from polyarb.engine.chain import chain_submitter
from polyarb.execution.chain import ChainConfig, ChainSubmitter, ChainTxStatus, JsonRpc
from polyarb.execution.merge import plan_merge

from .fake_node import FakeNode, running_node

KEY = "0x" + "5e" * 32
CONDITION = "0x" + "c3" * 32
FAST = ChainConfig(receipt_timeout_s=0.3, receipt_poll_s=0.02, pol_usd=Decimal("0.40"))


@pytest.fixture
async def node() -> AsyncIterator[FakeNode]:
    async with running_node(FakeNode()) as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield http


def submitter(
    node: FakeNode, client: httpx.AsyncClient, config: ChainConfig = FAST, **kw: object
) -> ChainSubmitter:
    return ChainSubmitter(JsonRpc(node.url, client), Wallet(KEY), config, **kw)  # type: ignore[arg-type]


async def test_merge_mined_and_its_cost_exact(node: FakeNode, client: httpx.AsyncClient) -> None:
    recorded: list[str] = []

    async def record(signed: SignedTx, _call: object) -> None:
        assert node.sends == len(recorded)  # journaled before it leaves
        recorded.append(signed.tx_hash)

    chain = submitter(node, client, record=record)
    first = await chain.submit(merge_call(CONDITION, Decimal("12.5"), neg_risk=False))
    second = await chain.submit(redeem_call(CONDITION, neg_risk=True))
    assert [first.status, second.status] == [ChainTxStatus.CONFIRMED] * 2
    assert [first.nonce, second.nonce] == [0, 1]
    assert recorded == [first.tx_hash, second.tx_hash] == list(node.txs)
    mined = node.txs[first.tx_hash]
    assert mined.sender == Wallet(KEY).address
    assert mined.function == "mergePositions"
    assert mined.args[2:] == (bytes.fromhex(CONDITION[2:]), (1, 2), 12_500_000)
    assert mined.gas_limit == 137_500  # the estimate (110000) plus a quarter
    assert mined.tip == 35 * GWEI  # the node's median tip, above CHAIN_PRIORITY_FEE_GWEI
    assert mined.max_fee == 2 * 80 * GWEI + 35 * GWEI
    # 110000 gas x 115 gwei = 0.01265 POL, at $0.40 = $0.00506
    assert first.gas_used == 110_000
    assert first.effective_gas_price == 115 * GWEI
    assert first.cost_pol == Decimal("0.01265")
    assert first.cost_usd == Decimal("0.005060")
    assert node.txs[second.tx_hash].function == "redeemPositions"


async def test_refused_before_sending(node: FakeNode, client: httpx.AsyncClient) -> None:
    node.estimate_revert = "SafeMath: subtraction overflow"
    chain = submitter(node, client)
    result = await chain.submit(merge_call(CONDITION, Decimal(1), neg_risk=False))
    assert result.status == ChainTxStatus.REFUSED
    assert "subtraction overflow" in result.reason
    node.estimate_revert = ""
    capped = ChainConfig(max_fee_wei=100 * GWEI, receipt_timeout_s=0.3)
    result = await submitter(node, client, capped).submit(
        merge_call(CONDITION, Decimal(1), neg_risk=False)
    )
    assert result.status == ChainTxStatus.REFUSED
    assert "CHAIN_MAX_FEE_GWEI" in result.reason
    small = ChainConfig(gas_limit_convert=300_000, receipt_timeout_s=0.3)
    result = await submitter(node, client, small).submit(
        convert_call("0x" + "9a" * 32, [0, 1], Decimal(2))
    )
    assert result.status == ChainTxStatus.REFUSED
    assert "exceeds the convert limit" in result.reason
    assert node.sends == 0
    assert result.cost_usd == 0


async def test_reverted_on_chain_costs_its_gas(node: FakeNode, client: httpx.AsyncClient) -> None:
    node.revert_on_chain = True
    result = await submitter(node, client).submit(redeem_call(CONDITION, neg_risk=False))
    assert result.status == ChainTxStatus.REVERTED
    assert result.cost_pol == Decimal(90_000 * 115 * GWEI) / 10**18 > 0


async def test_dropped_answer_found_by_receipt(node: FakeNode, client: httpx.AsyncClient) -> None:
    node.drop_next_send = True
    result = await submitter(node, client).submit(merge_call(CONDITION, Decimal(2), neg_risk=False))
    assert result.status == ChainTxStatus.CONFIRMED
    assert node.sends == 1
    assert len(node.mined()) == 1


async def test_send_timing_out_found_by_receipt(node: FakeNode) -> None:
    node.send_delay_s = 0.5
    async with httpx.AsyncClient(timeout=0.1) as impatient:
        result = await submitter(node, impatient).submit(
            merge_call(CONDITION, Decimal(2), neg_risk=False)
        )
    assert result.status == ChainTxStatus.CONFIRMED
    assert node.sends == 1


async def test_nothing_sent_when_the_record_fails(
    node: FakeNode, client: httpx.AsyncClient
) -> None:
    async def record(_signed: SignedTx, _call: object) -> None:
        raise OSError("journal full")

    chain = submitter(node, client, record=record)
    with pytest.raises(OSError, match="journal full"):
        await chain.submit(merge_call(CONDITION, Decimal(2), neg_risk=False))
    assert node.sends == 0
    assert chain.unresolved == {}


async def test_unknown_then_mined_never_a_new_nonce(
    node: FakeNode, client: httpx.AsyncClient
) -> None:
    node.hold = True
    chain = submitter(node, client)
    unknown = await chain.submit(merge_call(CONDITION, Decimal(3), neg_risk=False))
    assert unknown.status == ChainTxStatus.UNKNOWN
    assert list(chain.unresolved) == [unknown.tx_hash]
    blocked = await chain.submit(merge_call(CONDITION, Decimal(1), neg_risk=False))
    assert blocked.status == ChainTxStatus.REFUSED
    assert unknown.tx_hash in blocked.reason
    assert list(node.txs) == [unknown.tx_hash]  # nothing else signed and sent
    node.mine_held()
    node.hold = False
    assert await chain.submit(merge_call(CONDITION, Decimal(1), neg_risk=False)) == blocked
    [found] = await chain.resolve_all()
    assert found.status == ChainTxStatus.CONFIRMED
    assert found.cost_usd > 0
    assert found.nonce == unknown.nonce == 0
    assert chain.unresolved == {}
    after = await chain.submit(merge_call(CONDITION, Decimal(1), neg_risk=False))
    assert (after.status, after.nonce) == (ChainTxStatus.CONFIRMED, 1)


async def test_a_restart_takes_back_the_journaled_tx(
    node: FakeNode, client: httpx.AsyncClient
) -> None:
    journal: list[tuple[SignedTx, object]] = []

    async def record(signed: SignedTx, call: object) -> None:
        journal.append((signed, call))

    node.drop_next_send = True
    node.hold = True
    first_run = submitter(node, client, record=record)
    lost = await first_run.submit(merge_call(CONDITION, Decimal(3), neg_risk=False))
    assert lost.status == ChainTxStatus.UNKNOWN
    # A new process: only the journal survives.
    second_run = submitter(node, client)
    for signed, call in journal:
        second_run.track(signed, call)  # type: ignore[arg-type]
    refused = await second_run.submit(merge_call(CONDITION, Decimal(1), neg_risk=False))
    assert refused.status == ChainTxStatus.REFUSED
    node.mine_held()
    node.hold = False
    found = await second_run.resolve(lost.tx_hash)
    assert found is not None
    assert (found.status, found.nonce) == (ChainTxStatus.CONFIRMED, 0)
    assert len(node.txs) == 1


async def test_unknown_whose_nonce_another_tx_took(
    node: FakeNode, client: httpx.AsyncClient
) -> None:
    node.hold = True
    chain = submitter(node, client)
    unknown = await chain.submit(merge_call(CONDITION, Decimal(3), neg_risk=False))
    assert unknown.status == ChainTxStatus.UNKNOWN
    still = await chain.resolve(unknown.tx_hash)
    assert still is not None
    assert still.status == ChainTxStatus.UNKNOWN  # rebroadcast: the node already knows it
    node.replace_held()
    node.hold = False
    replaced = await chain.resolve(unknown.tx_hash)
    assert replaced is not None
    assert replaced.status == ChainTxStatus.REPLACED
    assert chain.unresolved == {}
    assert len(node.txs) == 0


async def test_the_node_refuses_another_chain(node: FakeNode, client: httpx.AsyncClient) -> None:
    other = ChainConfig(chain_id=80002, receipt_timeout_s=0.3)
    result = await submitter(node, client, other).submit(
        merge_call(CONDITION, Decimal(1), neg_risk=False)
    )
    assert result.status == ChainTxStatus.REFUSED
    assert "invalid chain id" in result.reason
    assert node.txs == {}


async def test_from_settings_masks_the_url(node: FakeNode, client: httpx.AsyncClient) -> None:
    settings = Settings(
        _env_file=None,
        polygon_rpc_url=node.url,
        poly_private_key=KEY,
        chain_receipt_timeout_s=1,
        chain_receipt_poll_s=0.02,
    )
    assert settings.masked()["POLYGON_RPC_URL"] == "********"
    chain = chain_submitter(settings, client)
    assert "node-api-key" not in repr(chain._rpc)
    result = await chain.submit(merge_call(CONDITION, Decimal(1), neg_risk=False))
    assert result.status == ChainTxStatus.CONFIRMED
    assert result.cost_usd == Decimal(110_000 * 115 * GWEI) / 10**18 * Decimal("0.25")
    with pytest.raises(ConfigError, match="relayer"):
        chain_submitter(
            Settings(
                _env_file=None,
                polygon_rpc_url=node.url,
                poly_private_key=KEY,
                poly_signature_type=2,
                poly_funder="0x" + "12" * 20,
            ),
            client,
        )
    with pytest.raises(ConfigError, match="POLYGON_RPC_URL"):
        chain_submitter(Settings(_env_file=None, poly_private_key=KEY), client)


async def test_the_mined_cost_is_booked_with_the_merge(
    node: FakeNode, client: httpx.AsyncClient
) -> None:
    ledger = Ledger(starting_balance=Decimal(100))
    for n, token in enumerate(("yes", "no")):
        fill = Fill(
            f"f{n}",
            f"o{n}",
            token,
            CONDITION,
            Side.BUY,
            Decimal("0.48"),
            Decimal(10),
            Decimal(0),
            1,
            "sumto100",
            Mode.LIVE,
        )
        ledger.apply_fill(fill)
    result = await submitter(node, client).submit(
        merge_call(CONDITION, Decimal(10), neg_risk=False)
    )
    merge = plan_merge(
        ledger, "binary", CONDITION, ("yes", "no"), "sumto100", 2, tx_cost=result.cost_usd
    )
    assert merge is not None
    ledger.apply_merge(merge)
    assert ledger.chain_costs == result.cost_usd == Decimal("0.00506")
    assert ledger.realized_pnl == Decimal("0.4") - Decimal("0.00506")
