"""Build the live executor from settings: the wallet, the API key (from settings, or created /
derived from the wallet with L1 at start), the funder and signature type, the slippage, and the
heartbeat (started here; ``LiveExecution.aclose`` stops it).

The engine does not run live yet (cli/live_gate.py stops a live start after printing its plan):
this is the one place that turns settings into a ``LiveExecution`` for when it does, and the
path the tests take from settings to a filled order on the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from polyarb.clob.auth import ApiCreds
from polyarb.clob.signing import SignatureType, Wallet, checksum_address
from polyarb.config import Settings
from polyarb.domain.clock import Clock
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.execution.base import OrderUpdateCallback, RiskGate
from polyarb.execution.live.budget import RequestBudgets
from polyarb.execution.live.client import IntentRecorder, LiveConfig, LiveExecution
from polyarb.execution.live.heartbeat import HeartbeatKeeper
from polyarb.execution.live.venue import ClobRest


def _settings_creds(settings: Settings) -> ApiCreds | None:
    key, secret, passphrase = (
        settings.poly_api_key,
        settings.poly_api_secret,
        settings.poly_api_passphrase,
    )
    if key is None or secret is None or passphrase is None:
        return None
    return ApiCreds(
        key.get_secret_value(), secret.get_secret_value(), passphrase.get_secret_value()
    )


async def build_live_execution(
    settings: Settings,
    markets: Mapping[str, Market],
    intents: IntentRecorder,
    ledger: Ledger,
    *,
    journal_path: Path | None = None,
    clock: Clock | None = None,
    risk: RiskGate | None = None,
    on_order_update: OrderUpdateCallback | None = None,
) -> LiveExecution:
    """A ready ``LiveExecution``; raises if the key is missing or no API key can be had."""
    if settings.poly_private_key is None:
        raise ValueError("live execution needs POLY_PRIVATE_KEY")
    wallet = Wallet(settings.poly_private_key.get_secret_value())
    rest = ClobRest(
        settings.poly_clob_url,
        wallet,
        _settings_creds(settings),
        chain_id=settings.poly_chain_id,
        timeout_s=settings.poly_http_timeout_s,
        budgets=RequestBudgets(settings.live_order_rate),
    )
    try:
        if rest.creds is None:
            rest.creds = await rest.api_key()
    except BaseException:
        await rest.aclose()
        raise
    heartbeat = HeartbeatKeeper(rest, settings.live_heartbeat_s)
    await heartbeat.beat()  # submitting is allowed once one has succeeded
    heartbeat.start()
    config = LiveConfig(
        chain_id=settings.poly_chain_id,
        funder=checksum_address(settings.poly_funder) if settings.poly_funder else wallet.address,
        signature_type=SignatureType(settings.poly_signature_type),
        slippage=settings.live_slippage,
    )
    return LiveExecution(
        rest,
        markets,
        config,
        intents,
        ledger,
        journal_path,
        clock,
        risk=risk,
        on_order_update=on_order_update,
        heartbeat=heartbeat,
    )
