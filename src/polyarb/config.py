"""Settings: environment variables (and a ``.env`` file) parsed strictly at start.

Names are the seed's where they exist (``DRY_RUN``, ``SUMTO100_*``, ``RISK_*`` ...). Parsing is
strict on purpose: ``DRY_RUN=yes`` is an error, not "live"; a negative limit or an unknown
choice names the variable and what it accepts. Secrets are ``SecretStr`` and only ever shown
masked. A variable with one of our prefixes that we do not know is an error too: a typo in a
limit's name must not silently leave the default in force.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from polyarb.domain.errors import ConfigError

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
CsvList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_csv)]
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
    "API_",
    "JWT_",
    "OTP_",
    "SMTP_",
)

SECRET_FIELDS = (
    "poly_private_key",
    "poly_api_key",
    "poly_api_secret",
    "poly_api_passphrase",
    "slack_webhook_url",
    "jwt_secret",
    "smtp_password",
)

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
NetworkList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_networks)]


class Settings(BaseSettings):
    """Every setting of polyarb; see ``.env.example`` for one line of documentation each."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        env_ignore_empty=True,  # VAR= in .env means "use the default"
    )

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

    # --- risk ------------------------------------------------------------------------------
    risk_max_position: PosDecimal = Decimal(100)
    risk_max_notional: PosDecimal = Decimal(500)
    risk_max_daily_loss: PosDecimal = Decimal(200)
    risk_max_exposure: PosDecimal = Decimal(2000)
    risk_max_orders_per_minute: Annotated[int, Field(ge=1)] = 120

    # --- SumTo100 (binary complete sets, depth-aware) --------------------------------------
    sumto100_enabled: StrictBool = True
    sumto100_min_edge: NonNegDecimal = Decimal("0.003")
    sumto100_max_position: PosDecimal = Decimal(100)
    sumto100_max_notional: PosDecimal = Decimal(100)
    sumto100_min_liquidity: PosDecimal = Decimal(50)
    sumto100_fee_rate: Annotated[Decimal | None, Field(ge=0, le=1)] = None
    sumto100_max_book_age_ms: Annotated[int, Field(ge=1)] = 500
    sumto100_cooldown_ms: Annotated[int, Field(ge=0)] = 2000

    # --- Clipper (top of book) -------------------------------------------------------------
    clipper_enabled: StrictBool = True
    clipper_min_profit: NonNegDecimal = Decimal("0.01")
    clipper_max_position: PosDecimal = Decimal(100)
    clipper_max_notional: PosDecimal = Decimal(100)

    # --- negRisk complete sets -------------------------------------------------------------
    negrisk_enabled: StrictBool = True
    negrisk_min_edge: NonNegDecimal = Decimal("0.005")
    negrisk_max_position: PosDecimal = Decimal(100)
    negrisk_max_notional: PosDecimal = Decimal(200)
    negrisk_min_liquidity: PosDecimal = Decimal(10)
    negrisk_max_book_age_ms: Annotated[int, Field(ge=1)] = 2000
    negrisk_cooldown_ms: Annotated[int, Field(ge=0)] = 2000

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
    paper_starting_balance: PosDecimal = Decimal(10000)
    leg_policy: Literal["unwind", "complete", "hold"] = "unwind"
    leg_max_loss: NonNegDecimal = Decimal(5)

    # --- infrastructure --------------------------------------------------------------------
    redis_url: str | None = None
    database_url: str | None = None
    db_auto_upgrade: StrictBool = True
    health_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    slack_webhook_url: SecretStr | None = None
    slack_notify_orders: StrictBool = True
    slack_notify_risk: StrictBool = True
    slack_notify_errors: StrictBool = True
    cors_origins: CsvList = ("http://localhost:5173",)
    # Who may command a running engine over the bus (pause, kill switch, parameters).
    command_admins: CsvList = ("cli",)
    command_operators: CsvList = ()

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
            if "SUMTO100_PAPER_TRADING" in os.environ or "sumto100_paper_trading" in os.environ:
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
            elif isinstance(value, tuple):
                out[name.upper()] = ",".join(value)
            else:
                out[name.upper()] = str(value)
        return out


def _unknown_prefixed_variables(environ: dict[str, str]) -> list[str]:
    known = {name.upper() for name in Settings.model_fields}
    return sorted(
        k for k in environ if k.upper().startswith(KNOWN_PREFIXES) and k.upper() not in known
    )


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()) if not isinstance(part, int))
    name = loc.upper() if loc else "configuration"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if error.get("type") == "extra_forbidden":
        return f"{name}: unknown setting (in .env); see .env.example for the accepted names"
    if given is not None and not isinstance(given, dict) and "got" not in message:
        return f"{name}: {message} (got {given!r})"
    return f"{name}: {message}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Load and validate settings; raise ``ConfigError`` naming each bad variable."""
    unknown = _unknown_prefixed_variables(dict(os.environ))
    if unknown:
        raise ConfigError(
            "unknown setting(s) " + ", ".join(unknown) + "; see .env.example for the accepted names"
        )
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        lines = [_describe(dict(e)) for e in exc.errors()]
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
