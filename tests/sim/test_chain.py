"""The simulator's Polygon node (``/chain``) over real JSON-RPC: transactions decoded and their
sender recovered as eth-account does, refused as a node refuses them, and the venue's calls
applied to the same wallets the trading endpoints use (a merge burns both outcomes and credits
pUSD, a redeem pays the winner once the market resolved, a call that would fail reverts in
``eth_estimateGas``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import rlp
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.chain.calls import merge_call, redeem_call, split_call
from polyarb.chain.tx import GWEI
from polyarb.clob.signing import Wallet
from polyarb.execution.chain import ChainConfig, ChainSubmitter, ChainTxStatus, JsonRpc
from polyarb.sim.catalog import SimMarket
from polyarb.sim.chain import decode_call, decode_raw_tx
from polyarb.sim.scenario import Fault, ScenarioConfig
from polyarb.sim.server import SimServer

KEY = "0x" + "6c" * 32
WALLET = Wallet(KEY)
FAST = ChainConfig(receipt_timeout_s=2.0, receipt_poll_s=0.02)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    config = ScenarioConfig(seed=3, binary_markets=2, negrisk_events=0, games=0, closed_markets=0)
    async with SimServer(config) as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


def _submitter(sim: SimServer, client: httpx.AsyncClient) -> ChainSubmitter:
    return ChainSubmitter(JsonRpc(sim.chain_url, client), WALLET, FAST)


async def _rpc(client: httpx.AsyncClient, url: str, method: str, *params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer: dict[str, Any] = (await client.post(url, json=body)).json()
    return answer


def held(
    sim: SimServer, owner: str, index: int, yes: Decimal | int, no: Decimal | int
) -> tuple[SimMarket, str, str]:
    """Binary market ``index`` of the simulator, ``owner`` holding ``yes`` and ``no`` shares of
    it at the venue (as filled trades would leave them)."""
    market = sim.venue.catalog.markets[index]
    yes_token, no_token = market.token_ids
    sim.exchange.positions[(owner, yes_token)] = Decimal(yes)
    sim.exchange.positions[(owner, no_token)] = Decimal(no)
    return market, yes_token, no_token


def _eth_account_tx(chain_id: int = 137, nonce: int = 0, data: bytes = b"") -> dict[str, Any]:
    return {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": 30 * GWEI,
        "maxFeePerGas": 300 * GWEI,
        "gas": 200_000,
        "to": "0xAdA100Db00Ca00073811820692005400218FcE1f",
        "value": 0,
        "data": data,
    }


@settings(max_examples=40, deadline=None)
@given(
    key=st.integers(1, 2**255),
    nonce=st.integers(0, 2**40),
    chain_id=st.sampled_from([1, 137, 80002]),
    data=st.binary(max_size=300),
)
def test_decoding_recovers_what_eth_account_signed(
    key: int, nonce: int, chain_id: int, data: bytes
) -> None:
    account = Account.from_key(key.to_bytes(32, "big"))
    signed = account.sign_transaction(_eth_account_tx(chain_id, nonce, data))
    decoded = decode_raw_tx(bytes(signed.raw_transaction))
    assert decoded.sender == account.address
    assert (decoded.chain_id, decoded.nonce, decoded.data) == (chain_id, nonce, data)
    assert (decoded.gas, decoded.tip, decoded.max_fee) == (200_000, 30 * GWEI, 300 * GWEI)


def test_calldata_decoded_as_the_calls_encode_it() -> None:
    condition = "0x" + "ab" * 32
    name, args = decode_call(merge_call(condition, Decimal("12.5"), neg_risk=False).data)
    assert name == "mergePositions"
    assert args[2:] == (bytes.fromhex("ab" * 32), (1, 2), 12_500_000)


async def test_a_merge_burns_both_outcomes_and_credits_pusd(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    owner = WALLET.address
    market, yes, no = held(sim, owner, 0, 30, Decimal("12.5"))
    chain = _submitter(sim, client)
    too_many = await chain.submit(merge_call(market.condition_id, Decimal(13), neg_risk=False))
    assert too_many.status == ChainTxStatus.REFUSED
    assert "insufficient balance" in too_many.reason
    assert sim.chain.txs == {}  # refused before sending: nothing signed reached the node
    result = await chain.submit(merge_call(market.condition_id, Decimal("12.5"), neg_risk=False))
    assert result.status == ChainTxStatus.CONFIRMED
    assert sim.exchange.position(owner, yes) == Decimal("17.5")
    assert sim.exchange.position(owner, no) == 0
    assert sim.exchange.balance(owner) == sim.exchange.starting_balance + Decimal("12.5")
    assert result.gas_used == 110_000
    assert result.effective_gas_price == 115 * GWEI  # base 80 + the node's tip 35
    # a split is the reverse, paid in pUSD
    split = await chain.submit(split_call(market.condition_id, Decimal(2), neg_risk=False))
    assert split.status == ChainTxStatus.CONFIRMED
    assert sim.exchange.position(owner, no) == 2
    assert sim.exchange.balance(owner) == sim.exchange.starting_balance + Decimal("10.5")


async def test_a_redeem_reverts_until_resolution_then_pays_the_winner_once(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    owner = WALLET.address
    market, yes, no = held(sim, owner, 1, 7, 3)
    chain = _submitter(sim, client)
    early = await chain.submit(redeem_call(market.condition_id, neg_risk=False))
    assert early.status == ChainTxStatus.REFUSED
    assert "not received" in early.reason
    sim.resolve_market(market.condition_id, 1)  # NO wins
    assert yes not in sim.token_ids()  # its books left the stream
    paid = await chain.submit(redeem_call(market.condition_id, neg_risk=False))
    assert paid.status == ChainTxStatus.CONFIRMED
    assert sim.exchange.balance(owner) == sim.exchange.starting_balance + 3
    assert (sim.exchange.position(owner, yes), sim.exchange.position(owner, no)) == (0, 0)
    again = await chain.submit(redeem_call(market.condition_id, neg_risk=False))
    assert again.status == ChainTxStatus.CONFIRMED  # the contract pays what is held: nothing
    assert sim.exchange.balance(owner) == sim.exchange.starting_balance + 3


async def test_the_node_refuses_what_a_node_refuses(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    market = sim.venue.catalog.markets[0]
    data = merge_call(market.condition_id, Decimal(1), neg_risk=False).data
    account = Account.from_key(bytes.fromhex(KEY[2:]))

    async def send(raw: bytes) -> dict[str, Any]:
        return await _rpc(client, sim.chain_url, "eth_sendRawTransaction", "0x" + raw.hex())

    wrong_chain = account.sign_transaction(_eth_account_tx(chain_id=1, data=data))
    assert (
        "invalid chain id" in (await send(bytes(wrong_chain.raw_transaction)))["error"]["message"]
    )
    gap = account.sign_transaction(_eth_account_tx(nonce=5, data=data))
    assert (
        "nonce 5 is not the next (0)"
        in (await send(bytes(gap.raw_transaction)))["error"]["message"]
    )
    good = bytes(account.sign_transaction(_eth_account_tx(data=data)).raw_transaction)
    fields = rlp.decode(good[1:])
    for index, value in ((9, b"\x02"), (10, b"")):  # parity 2; r = 0: no signer recovers
        forged = b"\x02" + rlp.encode([*fields[:index], value, *fields[index + 1 :]])
        answer = await send(forged)
        assert "invalid transaction" in answer["error"]["message"]
    assert sim.chain.txs == {}
    assert "result" in await send(good)
    assert "already known" in (await send(good))["error"]["message"]
    assert await _rpc(client, sim.chain_url, "eth_chainId") == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": "0x89",
    }
    unknown = await _rpc(client, sim.chain_url, "eth_mining")
    assert unknown["error"]["code"] == -32601


def test_question_ids_carry_the_question_index() -> None:
    """The NegRiskAdapter derives a question id from its market id and the question's index;
    the simulator's negRisk events are built that way, so a conversion finds its questions."""
    server = SimServer(ScenarioConfig(seed=random.randrange(100), negrisk_events=2, games=0))
    for event in server.venue.catalog.events:
        if event.neg_risk:
            assert event.neg_risk_market_id.endswith("00")
            for index, market in enumerate(event.markets):
                assert market.question_id == event.neg_risk_market_id[:-2] + f"{index:02x}"


async def test_scheduled_chain_faults_revert_and_drop_receipts(client: httpx.AsyncClient) -> None:
    """A scenario's ``chain_revert`` makes the next transaction revert; its ``chain_drop`` holds
    receipts for a while, then the transaction is mined (a client polling long enough gets it)."""
    config = ScenarioConfig(
        seed=3,
        binary_markets=1,
        negrisk_events=0,
        games=0,
        closed_markets=0,
        faults=(Fault("chain_revert", 0.0), Fault("chain_drop", 0.2, duration_s=0.6)),
    )
    async with SimServer(config) as sim:
        market = sim.venue.catalog.markets[0]
        owner = WALLET.address
        for token in market.token_ids:
            sim.exchange.positions[(owner, token)] = Decimal(5)
        chain = _submitter(sim, client)
        call = merge_call(market.condition_id, Decimal(1), neg_risk=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while sim.chain.reverts == 0 and loop.time() < deadline:  # the fault at 0 s applied
            await asyncio.sleep(0.01)
        reverted = await chain.submit(call)
        assert reverted.status == ChainTxStatus.REVERTED
        while not sim.chain.hold and loop.time() < deadline:  # the drop at 0.2 s began
            await asyncio.sleep(0.01)
        impatient = ChainSubmitter(
            JsonRpc(sim.chain_url, client),
            WALLET,
            ChainConfig(receipt_timeout_s=0.1, receipt_poll_s=0.02),
        )
        unknown = await impatient.submit(call)
        assert unknown.status == ChainTxStatus.UNKNOWN
        while sim.chain.hold and loop.time() < deadline:
            await asyncio.sleep(0.01)
        [resolved] = await impatient.resolve_all()
        assert resolved.status == ChainTxStatus.CONFIRMED
        assert resolved.tx_hash == unknown.tx_hash
        assert sim.exchange.position(owner, market.token_ids[0]) == 4
