"""The live opt-in: what ``DRY_RUN=false`` takes before anything may trade real money, and
what a live start tells the operator.

Live trading is refused unless every one of these holds (each refusal is one line naming it):
paper trading off (the settings loader already refuses DRY_RUN=false with paper on), the
wallet's key present and valid, API credentials all present or all absent (then derived from
the wallet at start), a funder for proxy/Safe wallets, a live database (PostgreSQL, never
SQLite), and ``LIVE_TRADING_CONFIRM=I-understand-real-money``.
"""

from __future__ import annotations

from polyarb.clob.signing import SignatureError, SignatureType, Wallet, checksum_address
from polyarb.config import Settings
from polyarb.domain.secrets import mask_url

LIVE_CONFIRMATION = "I-understand-real-money"
_SIG_NAMES = {0: "EOA", 1: "POLY_PROXY", 2: "POLY_GNOSIS_SAFE", 3: "POLY_1271"}


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else ""


def live_refusal(settings: Settings) -> str | None:
    """Why ``settings`` may not trade live, or None when every condition holds."""
    if settings.mode != "live":
        return None
    key = _secret(settings.poly_private_key)
    if not key:
        return "live trading needs POLY_PRIVATE_KEY (the key of the wallet that signs orders)"
    try:
        Wallet(key)
    except SignatureError as exc:
        return str(exc)
    creds = [settings.poly_api_key, settings.poly_api_secret, settings.poly_api_passphrase]
    if any(creds) and not all(creds):
        return (
            "set all of POLY_API_KEY, POLY_API_SECRET and POLY_API_PASSPHRASE, or none of them "
            "(then they are derived from the wallet at start)"
        )
    if settings.poly_signature_type == 3:
        return "POLY_SIGNATURE_TYPE=3 (POLY_1271) is not supported for live trading yet"
    if settings.poly_signature_type != SignatureType.EOA and not settings.poly_funder:
        name = _SIG_NAMES[settings.poly_signature_type]
        return f"POLY_SIGNATURE_TYPE={settings.poly_signature_type} ({name}) needs POLY_FUNDER"
    if settings.poly_funder:
        try:
            checksum_address(settings.poly_funder)
        except SignatureError:
            return "POLY_FUNDER is not an address (0x + 40 hex digits)"
    url = settings.database_url or ""
    if not url.startswith("postgresql"):
        return (
            "live trading needs a live database: DATABASE_URL=postgresql+asyncpg://… "
            "(SQLite is for paper runs)"
        )
    if settings.live_trading_confirm != LIVE_CONFIRMATION:
        return f"live trading needs LIVE_TRADING_CONFIRM={LIVE_CONFIRMATION}"
    return None


def live_plan(settings: Settings, venue: str | None = None) -> list[str]:
    """What a live start will do and the limits in force; no secret in it. ``venue``: where
    the orders go when it is not ``POLY_CLOB_URL`` (the simulator)."""
    wallet = Wallet(_secret(settings.poly_private_key))
    funder = settings.poly_funder or wallet.address
    strategies = [
        name
        for name, enabled in (
            ("sumto100", settings.sumto100_enabled),
            ("clipper", settings.clipper_enabled),
            ("negrisk", settings.negrisk_enabled),
            ("negrisk-convert", settings.negrisk_convert_enabled),
            ("sniper", settings.sniper_enabled),
        )
        if enabled
    ]
    creds = "from settings" if settings.poly_api_key else "derived from the wallet (L1) at start"
    return [
        "LIVE TRADING: orders will be signed and sent to the venue with real money.",
        f"  venue          {venue or settings.poly_clob_url} (chain {settings.poly_chain_id})",
        f"  signer         {wallet.address}",
        f"  funds held by  {checksum_address(funder)} ({_SIG_NAMES[settings.poly_signature_type]})",
        f"  API key        {creds}",
        f"  database       {mask_url(settings.database_url or '')}",
        f"  strategies     {', '.join(strategies) or 'none'}",
        f"  orders         FOK/FAK at VWAP + {settings.live_slippage} $/share at most; each "
        "committed to the database before it is sent; a timeout is looked up, never resent; "
        f"heartbeat every {settings.live_heartbeat_s:g} s, nothing sent while it fails",
        f"  limits         position {settings.risk_max_position} shares/token · notional "
        f"${settings.risk_max_notional}/order · exposure ${settings.risk_max_exposure} · "
        f"daily loss ${settings.risk_max_daily_loss} · {settings.risk_max_orders_per_minute} "
        "orders/min",
        "  start          reconciled with the venue first (open orders, trades, positions): on a "
        "mismatch the engine stays HALTED with the reason; again every "
        f"{settings.live_reconcile_s:g} s (a mismatch: reducing + alert)",
        "  stop           Ctrl-C, or `polyarb ctl pause`; the kill switch cancels everything",
    ]
