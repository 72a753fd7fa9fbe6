"""Settings: environment variables (and a ``.env`` file) parsed strictly at start.

Names are the seed's where they exist (``DRY_RUN``, ``SUMTO100_*``, ``RISK_*`` ...). Parsing is
strict on purpose: ``DRY_RUN=yes`` is an error, not "live"; a negative limit or an unknown
choice names the variable and what it accepts. Secrets are ``SecretStr`` and only ever shown
masked. A variable with one of our prefixes that we do not know is an error too, and so is one
close to a known name (``DATABSE_URL``): a typo in a limit's name must not silently leave the
default in force. The ``.env`` file is read by a strict parser of our own: a line that is not
``NAME=value`` or a file that is not UTF-8 is an error naming the line, never a silent default.

The sources are gathered here (keyword arguments over the environment over ``.env``) and
validated by a plain pydantic model; pydantic-settings is not used, because importing it costs
more than the whole rest of ``polyarb config``.
"""

from __future__ import annotations

import difflib
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from polyarb.domain.errors import ConfigError
from polyarb.domain.secrets import mask_url, register_secret, register_url

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _strict_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"accepted values are true or false (got {value!r})")


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]
CsvList = Annotated[tuple[str, ...], BeforeValidator(_csv)]
NonNegDecimal = Annotated[Decimal, Field(ge=0)]
PosDecimal = Annotated[Decimal, Field(gt=0)]
Price = Annotated[Decimal, Field(ge=0, le=1)]

KNOWN_PREFIXES = (
    "POLY_",
    "RISK_",
    "SUMTO100_",
    "CLIPPER_",
    "SNIPER_",
    "NEGRISK_",
    "PAPER_",
    "MARKETS_",
    "LEG_",
    "BOOK_",
    "HEALTH_",
    "BREAKER_",
    "SLACK_",
    "SIM_",
    "API_",
    "JWT_",
    "OTP_",
    "SMTP_",
    "LIVE_",
    "CHAIN_",
    "POLYGON_",
)

MIN_COMMAND_SECRET_LEN = 16

SECRET_FIELDS = (
    "poly_private_key",
    "poly_api_key",
    "poly_api_secret",
    "poly_api_passphrase",
    "slack_webhook_url",
    "command_secret",
    "jwt_secret",
    "smtp_password",
    "polygon_rpc_url",
)

# Settings documented and validated but read by nothing yet. They are marked "not yet used" in
# .env.example and by `polyarb config`; a test keeps this list true. (The live-trading settings
# are read by the live opt-in check, cli/live_gate.py.)
NOT_YET_USED: tuple[str, ...] = ()

MIN_JWT_SECRET_BYTES = 32


def _rate(value: Any) -> Any:
    """A rate limit in the ``limits`` notation ("3/15minutes", "20 per 10 minutes")."""
    if isinstance(value, str):
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(
                f"expected a rate such as 3/15minutes or 20 per 10 minutes (got {value!r})"
            ) from None
    return value


def _networks(value: Any) -> Any:
    value = _csv(value)
    if isinstance(value, tuple):
        import ipaddress

        for part in value:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"expected IP addresses or CIDR networks (got {part!r})") from None
    return value


Rate = Annotated[str, BeforeValidator(_rate)]
NetworkList = Annotated[tuple[str, ...], BeforeValidator(_networks)]


# The scoreboard leagues Sniper can follow (the keys of ``marketdata.espn.LEAGUE_PATHS``; a test
# keeps the two equal). Kept here so that checking SNIPER_LEAGUES imports no HTTP client.
SNIPER_LEAGUE_KEYS = (
    "nba",
    "wnba",
    "nfl",
    "mlb",
    "nhl",
    "ncaaf",
    "ncaab",
    "mls",
    "epl",
    "worldcup",
)

# Variables of docker-compose.yml that share `.env` with the settings (compose reads them for
# its own services and interpolation; polyarb does not): accepted in `.env` and ignored.
COMPOSE_VARIABLES = frozenset(
    {
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "POLYARB_IMAGE",
        "DASHBOARD_PORT",
        "PROMETHEUS_PORT",
        "GRAFANA_PORT",
    }
)

# An unknown variable this similar to one of ours (difflib ratio) is taken for a typo of it.
TYPO_SIMILARITY = 0.85


# The URL settings checked at start, and the schemes each accepts (POLYGON_RPC_URL and
# DATABASE_URL have their own checks below; SLACK_WEBHOOK_URL is a secret, checked there too).
_URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "poly_ws_url": ("wss", "ws"),
    "poly_clob_url": ("https", "http"),
    "poly_gamma_url": ("https", "http"),
    "sniper_espn_url": ("https", "http"),
    "redis_url": ("redis", "rediss", "unix"),
}


class Settings(BaseModel):
    """Every setting of polyarb; see ``.env.example`` for one line of documentation each.

    ``Settings(_env_file=".env", **values)`` reads the environment and the ``.env`` file (an
    empty value means "use the default"); keyword values win over both. ``load_settings`` is
    the checked entry point.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, _env_file: str | Path | None = ".env", **values: Any) -> None:
        super().__init__(**{**gather_sources(_env_file), **values})

    # --- modes -----------------------------------------------------------------------------
    dry_run: StrictBool = True
    sumto100_paper_trading: StrictBool = True
    paper_trading: StrictBool | None = None  # generic alias; when set it must agree
    app_env: Literal["development", "production"] = "development"
    instance_id: str = ""
    data_dir: Path = Path("data")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    # --- venue -----------------------------------------------------------------------------
    poly_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    poly_clob_url: str = "https://clob.polymarket.com"
    poly_gamma_url: str = "https://gamma-api.polymarket.com"
    poly_private_key: SecretStr | None = None
    poly_api_key: SecretStr | None = None
    poly_api_secret: SecretStr | None = None
    poly_api_passphrase: SecretStr | None = None
    poly_funder: str = ""
    poly_signature_type: Annotated[int, Field(ge=0, le=3)] = 0  # 0 EOA 1 proxy 2 safe 3 1271
    poly_chain_id: int = 137
    poly_http_timeout_s: Annotated[float, Field(gt=0)] = 10.0

    # --- market data feed ------------------------------------------------------------------
    poly_ws_assets_per_connection: Annotated[int, Field(ge=1, le=500)] = 200
    poly_ws_ping_interval_s: Annotated[float, Field(gt=0)] = 10.0
    poly_ws_silence_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    poly_ws_reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    poly_ws_reconnect_max_s: Annotated[float, Field(gt=0)] = 60.0
    poly_rest_check_interval_s: Annotated[float, Field(ge=0)] = 30.0
    poly_rest_check_tolerance: Price = Decimal("0.05")
    poly_rest_check_strikes: Annotated[int, Field(ge=1)] = 3
    # Book integrity: a book disagreeing with the venue's best_bid/best_ask for more than this
    # many consecutive messages, or for longer than this, is stale and repaired.
    book_check_max_mismatches: Annotated[int, Field(ge=0)] = 2
    book_check_max_mismatch_ms: Annotated[int, Field(ge=0)] = 500

    # --- market discovery ------------------------------------------------------------------
    markets_slugs: CsvList = ()
    markets_tags: CsvList = ()
    markets_exclude_slugs: CsvList = ()
    markets_min_liquidity: NonNegDecimal = Decimal(0)
    markets_max: Annotated[int, Field(ge=1)] = 200
    markets_include_neg_risk: StrictBool = True
    # Discovery again every so many seconds (and on every new_market announcement): new outcomes
    # and markets, closures, resolutions of what is held. 0 = only at start.
    markets_refresh_s: Annotated[float, Field(ge=0)] = 60.0

    # --- risk ------------------------------------------------------------------------------
    risk_max_position: PosDecimal = Decimal(100)
    risk_max_notional: PosDecimal = Decimal(500)
    risk_max_daily_loss: PosDecimal = Decimal(200)
    risk_max_exposure: PosDecimal = Decimal(2000)
    risk_max_orders_per_minute: Annotated[int, Field(ge=1)] = 120

    # --- costs -----------------------------------------------------------------------------
    # USD per on-chain transaction (merge, redeem, convert): enters every plan that needs one
    # and is booked when the paper ledger merges. Polygon gas for a merge is well under a cent.
    chain_tx_cost_usd: Annotated[Decimal, Field(ge=0, le=10)] = Decimal("0.01")
    # Taker fee rate assumed for a market whose data carries no fee information; unset (the
    # default) means such a market is not traded at all (fail closed, never "free").
    default_fee_rate: Annotated[Decimal | None, Field(ge=0, le=1)] = None

    # --- SumTo100 (binary complete sets, depth-aware) --------------------------------------
    sumto100_enabled: StrictBool = True
    sumto100_min_edge: NonNegDecimal = Decimal("0.003")
    sumto100_min_profit_usd: NonNegDecimal = Decimal("0.05")
    sumto100_max_position: PosDecimal = Decimal(100)
    sumto100_max_notional: PosDecimal = Decimal(100)
    sumto100_min_liquidity: PosDecimal = Decimal(50)
    sumto100_fee_rate: Annotated[Decimal | None, Field(ge=0, le=1)] = None
    sumto100_max_book_age_ms: Annotated[int, Field(ge=1)] = 500
    sumto100_cooldown_ms: Annotated[int, Field(ge=0)] = 2000
    # Edge sanity cap (SumTo100 and Clipper): an edge per set above it is an anomaly, never traded.
    sumto100_max_edge: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.10")

    # --- Clipper (top of book) -------------------------------------------------------------
    clipper_enabled: StrictBool = True
    clipper_min_profit: NonNegDecimal = Decimal("0.01")
    clipper_min_profit_usd: NonNegDecimal = Decimal("0.05")
    clipper_max_position: PosDecimal = Decimal(100)
    clipper_max_notional: PosDecimal = Decimal(100)

    # --- negRisk complete sets -------------------------------------------------------------
    negrisk_enabled: StrictBool = True
    negrisk_min_edge: NonNegDecimal = Decimal("0.005")
    negrisk_min_profit_usd: NonNegDecimal = Decimal("0.05")
    negrisk_max_position: PosDecimal = Decimal(100)
    negrisk_max_notional: PosDecimal = Decimal(200)
    negrisk_min_liquidity: PosDecimal = Decimal(10)
    negrisk_max_book_age_ms: Annotated[int, Field(ge=1)] = 2000
    negrisk_cooldown_ms: Annotated[int, Field(ge=0)] = 2000
    negrisk_max_edge: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.10")
    # --- the embedded simulator (`polyarb run --venue sim`) ---
    # Other traders take a window's cheap level after a lognormal delay of this median (ms);
    # 0 = nobody else trades windows.
    sim_taker_median_ms: Annotated[float, Field(ge=0, le=600_000)] = 300.0

    # --- negRisk conversion (NO of every outcome, converted into n - 1 collateral) ---------
    negrisk_convert_enabled: StrictBool = True
    negrisk_convert_min_edge: NonNegDecimal = Decimal("0.005")  # dollars a set, fees included
    negrisk_convert_min_profit_usd: NonNegDecimal = Decimal("0.05")
    negrisk_convert_max_position: PosDecimal = Decimal(100)
    negrisk_convert_max_notional: PosDecimal = Decimal(200)
    negrisk_convert_min_liquidity: PosDecimal = Decimal(10)
    negrisk_convert_max_book_age_ms: Annotated[int, Field(ge=1)] = 2000
    negrisk_convert_cooldown_ms: Annotated[int, Field(ge=0)] = 2000

    # --- Sniper (sports time arbitrage) ----------------------------------------------------
    sniper_enabled: StrictBool = True
    sniper_min_price: Price = Decimal("0.50")
    sniper_max_price: Price = Decimal("0.95")
    sniper_order_size: PosDecimal = Decimal(10)
    sniper_min_profit: NonNegDecimal = Decimal("0.05")
    sniper_poll_ms: Annotated[int, Field(ge=100)] = 1000
    sniper_leagues: CsvList = ("nba", "nfl", "mlb", "nhl")
    sniper_espn_url: str = "https://site.api.espn.com"
    # Scoreboard data older than this (server Date less cache Age) is ignored.
    sniper_max_data_age_s: Annotated[int, Field(ge=1)] = 15

    # --- paper execution -------------------------------------------------------------------
    paper_latency_ms: Annotated[int, Field(ge=0)] = 200
    # Latency is lognormal around PAPER_LATENCY_MS (its median) with this log-space sigma
    # (0 = always exactly PAPER_LATENCY_MS), drawn from a generator seeded by PAPER_LATENCY_SEED.
    paper_latency_sigma: Annotated[Decimal, Field(ge=0, le=3)] = Decimal("0.5")
    paper_latency_seed: Annotated[int, Field(ge=0)] = 0
    paper_starting_balance: PosDecimal = Decimal(10000)
    leg_policy: Literal["unwind", "complete", "hold"] = "unwind"
    leg_max_loss: NonNegDecimal = Decimal(5)

    # --- live execution (DRY_RUN=false; see cli/live_gate.py for what it takes) -------------
    live_trading_confirm: str = ""  # must read exactly I-understand-real-money
    # $ per share a FOK/FAK leg may pay above its VWAP (receive below it, selling).
    live_slippage: Annotated[Decimal, Field(ge=0, le=Decimal("0.1"))] = Decimal("0.01")
    # POST /v1/heartbeats interval; the venue cancels every open order after ~10 s without one.
    live_heartbeat_s: Annotated[float, Field(gt=0, le=8)] = 5.0
    # Orders we send at most (the venue's per-signer limit is 40/s, bursts of 60).
    live_order_rate: Rate = "40/second"
    # Seconds between continuous reconciliations (in-flight orders, trades, positions).
    live_reconcile_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # A market that appears while running is not traded for this long (its book hydrates).
    live_new_market_wait_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # Tests only: the engine SIGKILLs itself at this point of its first live order.
    live_crash_at: Literal["", "before_send", "after_send", "after_fill"] = ""

    # --- on-chain transactions: merge, convert, redeem (execution/chain.py) -----------------
    # Polygon JSON-RPC endpoint; a secret (providers put the API key in the path).
    polygon_rpc_url: SecretStr | None = None
    # USD per POL: converts a transaction's gasUsed x effectiveGasPrice into the booked cost.
    chain_pol_usd: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal("0.25")
    # Gas limit of a split/merge/redeem, and of a negRisk conversion (it grows with outcomes);
    # a call whose estimate exceeds its limit is refused, not sent.
    chain_gas_limit: Annotated[int, Field(ge=21_000, le=30_000_000)] = 500_000
    chain_gas_limit_convert: Annotated[int, Field(ge=21_000, le=30_000_000)] = 3_000_000
    # Priority fee (tip) at least this many gwei (Polygon's minimum is 25); max fee cap: when
    # the base fee plus the tip exceeds it, nothing is sent.
    chain_priority_fee_gwei: Annotated[Decimal, Field(ge=0, le=10_000)] = Decimal(30)
    chain_max_fee_gwei: Annotated[Decimal, Field(gt=0, le=100_000)] = Decimal(1000)
    # A sent transaction's receipt is polled every poll_s for up to timeout_s; without one by
    # then it is UNKNOWN (looked up by its hash later, never sent again with another nonce).
    chain_receipt_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    chain_receipt_poll_s: Annotated[float, Field(gt=0, le=60)] = 2.0

    # --- infrastructure --------------------------------------------------------------------
    redis_url: str | None = None
    database_url: str | None = None
    db_auto_upgrade: StrictBool = True
    health_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    health_host: str = "127.0.0.1"  # 0.0.0.0 in a container Prometheus scrapes from outside
    # /ready fails when a market-data connection has had no frame (PONGs count) for this long.
    health_max_feed_age_s: Annotated[float, Field(gt=0)] = 30.0
    # Circuit breakers of CLOB REST, Gamma and ESPN: open after this many consecutive failures,
    # or this share of failures over at least min_calls calls in the window; refuse calls for
    # open_s, then probe.
    breaker_failures: Annotated[int, Field(ge=1)] = 5
    breaker_error_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    breaker_min_calls: Annotated[int, Field(ge=1)] = 10
    breaker_window_s: Annotated[float, Field(gt=0)] = 60.0
    breaker_open_s: Annotated[float, Field(gt=0)] = 30.0
    slack_webhook_url: SecretStr | None = None
    slack_notify_orders: StrictBool = True
    slack_notify_risk: StrictBool = True
    slack_notify_errors: StrictBool = True
    # An alert whose key was posted less than this ago is counted, not posted (critical ones
    # always go out).
    slack_coalesce_s: Annotated[float, Field(gt=0)] = 300.0
    # The daily P&L report of the previous UTC day is built, stored and posted once a day at
    # this UTC time (HH:MM); "off" disables it.
    report_daily_at: str = "00:05"
    cors_origins: CsvList = ("http://localhost:5173",)
    # Who may command a running engine over the bus (pause, kill switch, parameters).
    command_admins: CsvList = ("cli",)
    command_operators: CsvList = ()
    # HMAC-SHA256 key shared by the engine, `polyarb ctl` and the dashboard: every command is
    # signed with it. Required with REDIS_URL; unset with the in-process bus, a per-run key is
    # generated (only code in the engine's own process can command it).
    command_secret: SecretStr | None = None

    @field_validator("report_daily_at")
    @classmethod
    def _report_time(cls, value: str) -> str:
        value = value.strip().lower()
        if value == "off":
            return value
        hour, sep, minute = value.partition(":")
        if not (sep and hour.isdigit() and minute.isdigit() and len(minute) == 2):
            raise ValueError(f"expected HH:MM (UTC) or off, got {value!r}")
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError(f"not a time of day: {value!r}")
        return f"{int(hour):02d}:{minute}"

    @field_validator("command_secret")
    @classmethod
    def _command_secret_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_COMMAND_SECRET_LEN:
            raise ValueError(
                f"must be at least {MIN_COMMAND_SECRET_LEN} characters (make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("sniper_leagues")
    @classmethod
    def _known_leagues(cls, leagues: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [league for league in leagues if league.casefold() not in SNIPER_LEAGUE_KEYS]
        if unknown:
            raise ValueError(
                f"unknown league(s) {', '.join(unknown)}; accepted: {', '.join(SNIPER_LEAGUE_KEYS)}"
            )
        return tuple(league.casefold() for league in leagues)

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, path: Path) -> Path:
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file, not a folder")
        return path

    @field_validator("polygon_rpc_url", "slack_webhook_url")
    @classmethod
    def _an_http_secret(cls, url: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Checked at start: the submitter would otherwise fail only at the first merge, a Slack
        # alert only when it is due. Never echoes the value (a key may be in it).
        if url is not None:
            parts = urlsplit(url.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                what = (
                    "a Polygon JSON-RPC node"
                    if info.field_name == "polygon_rpc_url"
                    else "a Slack incoming webhook"
                )
                raise ValueError(f"expected an http(s) URL of {what}")
        return url

    @field_validator(*_URL_SCHEMES)
    @classmethod
    def _a_url_of_its_kind(cls, url: str | None, info: ValidationInfo) -> str | None:
        # A typo (no scheme, "htps://", a bare host) would otherwise surface only as "unreachable"
        # at the first request, or never for the Slack webhook; the URL itself may hold a
        # password, so the message names the setting, not the value.
        if url is None:
            return None
        schemes = _URL_SCHEMES[info.field_name or ""]
        parts = urlsplit(url)
        host_needed = parts.scheme != "unix"
        if parts.scheme not in schemes or (host_needed and not parts.hostname):
            raise ValueError(f"expected a {' or '.join(f'{s}://' for s in schemes)} URL")
        return url

    @field_validator("database_url")
    @classmethod
    def _names_a_database(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme.startswith("postgres") and not parts.path.strip("/"):
            raise ValueError(
                "a PostgreSQL URL must name its database, e.g. "
                "postgresql+asyncpg://user@host:5432/polyarb (without one the server's default "
                "database would be used)"
            )
        return url

    # --- dashboard API (docs/api.md) -------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    api_enabled: StrictBool = True  # `polyarb run` serves the dashboard API in-process
    # Development only: session cookies without Secure/__Host- so http://localhost works.
    api_insecure_cookies: StrictBool = False
    api_max_body_bytes: Annotated[int, Field(ge=1024, le=10_485_760)] = 65536
    api_key_prefix: str = "polyarb:api:"  # Redis keys of the API (codes, revocations, limits)
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "polyarb"
    jwt_audience: str = "polyarb-dashboard"
    jwt_access_ttl_s: Annotated[int, Field(ge=60, le=3600)] = 900
    jwt_refresh_ttl_s: Annotated[int, Field(ge=300, le=30 * 86400)] = 7 * 86400
    jwt_step_up_ttl_s: Annotated[int, Field(ge=60, le=3600)] = 300
    allowed_emails: CsvList = ()  # who may receive a login code; empty = nobody
    otp_ttl_s: Annotated[int, Field(ge=60, le=600)] = 300
    otp_max_tries: Annotated[int, Field(ge=1, le=10)] = 5
    otp_delivery: Literal["auto", "smtp", "slack", "console"] = "auto"
    otp_requests_per_email: Rate = "3/15minutes"
    otp_requests_per_ip: Rate = "10/10minutes"
    otp_verifies_per_ip: Rate = "20/10minutes"
    trusted_proxies: NetworkList = ()  # X-Forwarded-For is believed only from these
    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    smtp_from: str = ""
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_s: Annotated[float, Field(gt=0)] = 10.0

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_JWT_SECRET_BYTES} bytes of random data "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in value:
            raise ValueError("* is refused (the dashboard sends credentials); list the origins")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.paper_trading is not None and self.paper_trading != self.sumto100_paper_trading:
            if "sumto100_paper_trading" in self.model_fields_set:
                raise ValueError(
                    "PAPER_TRADING and SUMTO100_PAPER_TRADING disagree; set one or make them equal"
                )
            object.__setattr__(self, "sumto100_paper_trading", self.paper_trading)
        if self.sniper_min_price > self.sniper_max_price:
            raise ValueError("SNIPER_MIN_PRICE must not exceed SNIPER_MAX_PRICE")
        if self.poly_ws_reconnect_min_s > self.poly_ws_reconnect_max_s:
            raise ValueError("POLY_WS_RECONNECT_MIN_S must not exceed POLY_WS_RECONNECT_MAX_S")
        if self.jwt_refresh_ttl_s <= self.jwt_access_ttl_s:
            raise ValueError("JWT_REFRESH_TTL_S must be longer than JWT_ACCESS_TTL_S")
        if not self.dry_run and self.sumto100_paper_trading:
            raise ValueError(
                "DRY_RUN=false with SUMTO100_PAPER_TRADING=true is ambiguous: set "
                "DRY_RUN=true for paper trading, or SUMTO100_PAPER_TRADING=false for live"
            )
        if self.live_crash_at and self.app_env == "production":
            # A crash drill kills the engine mid-order on purpose: never where real money trades.
            raise ValueError("LIVE_CRASH_AT is a test drill and is refused when APP_ENV=production")
        return self

    @property
    def mode(self) -> Literal["paper", "log-only", "live"]:
        if self.dry_run:
            return "paper" if self.sumto100_paper_trading else "log-only"
        return "live"

    def masked(self) -> dict[str, str]:
        """The effective configuration as strings, secrets masked; safe to log and print."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS or isinstance(value, SecretStr):
                out[name.upper()] = "" if value is None else "********"
            elif value is None:
                out[name.upper()] = ""
            elif name.endswith("_url") and isinstance(value, str):
                out[name.upper()] = mask_url(value)  # the password of any URL
            elif isinstance(value, tuple):
                out[name.upper()] = ",".join(value)
            else:
                out[name.upper()] = str(value)
        return out


_DOTENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def _dotenv_value(text: str) -> str | None:
    """The value after ``NAME=``: quoted ('...' or "...") or bare (a `` #`` starts a comment);
    None if a quote is not closed or text follows the closing quote."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            return None
        rest = text[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return None
        return text[1:end]
    return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def read_dotenv(path: str | Path) -> dict[str, str]:
    """``NAME=value`` pairs of a ``.env`` file ({} if there is none); ConfigError naming the line
    for anything else (``RISK_MAX_DAILY_LOSS 50`` must not leave the default in force)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at_line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{file} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {at_line}); "
            "save it as UTF-8"
        ) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _DOTENV_LINE.fullmatch(line)
        value = _dotenv_value(match.group(2)) if match else None
        if match is None or value is None:
            raise ConfigError(f"{file} line {number}: expected NAME=value, got {line[:60]!r}")
        values[match.group(1)] = value
    return values


def gather_sources(env_file: str | Path | None) -> dict[str, Any]:
    """Field values from ``.env`` then the environment (which wins); names are matched without
    regard to case and empty values are dropped (the default applies). Names of ``.env`` that
    are no setting are kept, for validation to refuse them."""
    fields = Settings.model_fields
    values: dict[str, Any] = {}
    if env_file is not None:
        for name, value in read_dotenv(env_file).items():
            if value != "" and name.upper() not in COMPOSE_VARIABLES:
                values[name.lower()] = value
    for name, value in os.environ.items():
        if name.lower() in fields and value != "":
            values[name.lower()] = value
    return values


def _names_by_length() -> dict[int, list[str]]:
    by_length: dict[int, list[str]] = {}
    for name in Settings.model_fields:
        by_length.setdefault(len(name), []).append(name.upper())
    return by_length


def close_name(word: str, by_length: dict[int, list[str]] | None = None) -> str | None:
    """The setting name closest to ``word`` (upper case) if it is close enough to be a typo:
    ``difflib.get_close_matches(word, names, n=1, cutoff=TYPO_SIMILARITY)``, asked only of the
    names whose length lets them reach the cutoff (difflib's own first test, ``real_quick_ratio``,
    the same expression): a dozen names instead of all of them, for each of the environment's
    variables at every start (it was a tenth of `polyarb config`'s)."""
    by_length = _names_by_length() if by_length is None else by_length
    size = len(word)
    candidates = [
        name
        for length, names in by_length.items()
        if 2.0 * min(length, size) / (length + size) >= TYPO_SIMILARITY
        for name in names
    ]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=TYPO_SIMILARITY)
    return close[0] if close else None


def _unknown_variables(environ: dict[str, str]) -> list[str]:
    """Environment variables that look like ours but are not: one of our prefixes, or a name
    close to a known one (each with its likely meaning)."""
    by_length = _names_by_length()
    known_set = {name.upper() for name in Settings.model_fields}
    out: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if upper in known_set:
            continue
        close = close_name(upper, by_length)
        if close:
            out.append(f"{name} (did you mean {close}?)")
        elif upper.startswith(KNOWN_PREFIXES):
            out.append(name)
    return out


def _hides_input(name: str) -> bool:
    # A URL may carry a password; a secret is a secret: never echo what was given.
    return name in SECRET_FIELDS or name.endswith("_url")


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()) if not isinstance(part, int))
    name = loc.upper() if loc else "configuration"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if loc in SECRET_FIELDS:
        given = None  # a secret's value is never echoed, not even a wrong one
    elif loc.endswith("_url") and isinstance(given, str):
        given = mask_url(given)
    if error.get("type") == "extra_forbidden":
        close = close_name(name)
        hint = f"did you mean {close}? " if close else ""
        return f"{name}: unknown setting (in .env); {hint}see .env.example for the accepted names"
    if _hides_input(loc):
        return f"{name}: {message}"
    if given is not None and not isinstance(given, dict) and "got" not in message:
        return f"{name}: {message} (got {given!r})"
    return f"{name}: {message}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Load and validate settings; raise ``ConfigError`` (one line) naming each bad variable."""
    unknown = _unknown_variables(dict(os.environ))
    if unknown:
        raise ConfigError(
            "unknown setting(s) in the environment: "
            + ", ".join(unknown)
            + "; see .env.example for the accepted names"
        )
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        lines = [_describe(dict(e)) for e in exc.errors()]
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    register_settings_secrets(settings)
    return settings


def register_settings_secrets(settings: Settings) -> None:
    """Make every secret of ``settings`` (URL passwords included) scrubbed from all output."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
        elif name.endswith("_url") and isinstance(value, str):
            register_url(value)
