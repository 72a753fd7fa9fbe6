"""The chain submitter built from settings: the entry point the live executor calls for merge,
convert and redeem transactions (``execution/chain.py``)."""

from __future__ import annotations

import httpx

from polyarb.chain.tx import GWEI
from polyarb.clob.signing import Wallet
from polyarb.config import Settings
from polyarb.domain.errors import ConfigError
from polyarb.execution.chain import ChainConfig, ChainSubmitter, JsonRpc, Record


def chain_config(settings: Settings) -> ChainConfig:
    return ChainConfig(
        chain_id=settings.poly_chain_id,
        pol_usd=settings.chain_pol_usd,
        gas_limit=settings.chain_gas_limit,
        gas_limit_convert=settings.chain_gas_limit_convert,
        priority_fee_wei=int(settings.chain_priority_fee_gwei * GWEI),
        max_fee_wei=int(settings.chain_max_fee_gwei * GWEI),
        receipt_timeout_s=settings.chain_receipt_timeout_s,
        receipt_poll_s=settings.chain_receipt_poll_s,
    )


def chain_submitter(
    settings: Settings, client: httpx.AsyncClient, *, record: Record | None = None
) -> ChainSubmitter:
    """The wallet's submitter; ConfigError naming the setting when one it needs is missing."""
    if settings.polygon_rpc_url is None:
        raise ConfigError("POLYGON_RPC_URL is not set: merge, convert and redeem need a node")
    if settings.poly_private_key is None:
        raise ConfigError("POLY_PRIVATE_KEY is not set: transactions are signed by the wallet")
    if settings.poly_signature_type != 0:
        raise ConfigError(
            "on-chain calls are sent by the EOA; a proxy or Safe wallet (POLY_SIGNATURE_TYPE "
            f"{settings.poly_signature_type}) holds the tokens and needs the venue's relayer"
        )
    rpc = JsonRpc(settings.polygon_rpc_url.get_secret_value(), client)
    wallet = Wallet(settings.poly_private_key.get_secret_value())
    return ChainSubmitter(rpc, wallet, chain_config(settings), record=record)
