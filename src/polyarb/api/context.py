"""Everything one dashboard process holds: settings, bus, store access, login state, live view."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog

from polyarb.api.auth_state import AuthState, MemoryAuthState, RedisAuthState
from polyarb.api.delivery import CodeMailer, make_sender
from polyarb.api.live import LiveView
from polyarb.api.ports import Accounts, History
from polyarb.api.ratelimit import ClientAddress, LoginLimits
from polyarb.api.tokens import TokenService
from polyarb.bus import Bus, CommandClient, QueryClient
from polyarb.config import Settings
from polyarb.domain.accounts import UserRow, normalize_email
from polyarb.domain.errors import ConfigError
from polyarb.domain.trading import Mode

log = structlog.get_logger(__name__)

USER_CACHE_S = 1.0


@dataclass(slots=True)
class ApiContext:
    settings: Settings
    bus: Bus
    queries: History
    users: Accounts
    auth: AuthState
    tokens: TokenService
    limits: LoginLimits
    mailer: CodeMailer
    live: LiveView
    commands: CommandClient
    engine_queries: QueryClient  # read-only questions to the engines (a market's books)
    code_key: bytes
    client_address: ClientAddress
    allowed_emails: frozenset[str]
    allowed_origins: frozenset[str]
    # COMMAND_SECRET (or the in-process bus's per-run key): None over Redis without one, when
    # the engines refuse every command, so the controls answer 503 instead of sending.
    command_key: bytes | None = None
    mode: Mode = Mode.PAPER
    closers: list[Callable[[], object]] = field(default_factory=list)

    _user_cache: dict[str, tuple[float, UserRow | None]] = field(default_factory=dict)

    async def user(self, email: str) -> UserRow | None:
        """The account, read at most every ``USER_CACHE_S`` per email (every request needs it).

        Changes made through this process (logout everywhere, removal) apply at once; those made
        elsewhere (``polyarb users`` or another dashboard process) within ``USER_CACHE_S``.
        """
        now = time.monotonic()
        cached = self._user_cache.get(email)
        if cached is not None and now - cached[0] < USER_CACHE_S:
            return cached[1]
        row = await self.users.get(email)
        if len(self._user_cache) > 10_000:
            self._user_cache.clear()
        self._user_cache[email] = (now, row)
        return row

    def forget_user(self, email: str) -> None:
        self._user_cache.pop(normalize_email(email), None)

    @property
    def secure_cookies(self) -> bool:
        return not self.settings.api_insecure_cookies

    async def start(self) -> None:
        self.mailer.start()
        await self.live.start()
        await self.commands.start(ready_timeout_s=2.0)
        await self.engine_queries.start(ready_timeout_s=2.0)

    async def close(self) -> None:
        await self.engine_queries.close()
        await self.commands.close()
        await self.live.close()
        await self.mailer.close()
        await self.auth.close()
        await self.limits.close()
        await self.queries.close()
        await self.users.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"CORS_ORIGINS: {value!r} is not an origin (scheme://host[:port])")
    return f"{parts.scheme}://{parts.netloc}".lower()


def jwt_key(settings: Settings) -> bytes:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    if settings.app_env == "production":
        raise ConfigError(
            "JWT_SECRET is required when APP_ENV=production (at least 32 random bytes: "
            'python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    log.warning("JWT_SECRET is not set: a random key is used, sessions end when this stops")
    return secrets.token_bytes(32)


def check_settings(settings: Settings) -> None:
    """Refuse what is unsafe for the dashboard, with the variable to change."""
    if settings.app_env == "production":
        if not settings.redis_url:
            raise ConfigError(
                "the dashboard keeps login codes in process memory without REDIS_URL; set "
                "REDIS_URL when APP_ENV=production"
            )
        if settings.api_insecure_cookies:
            raise ConfigError("API_INSECURE_COOKIES=true is for development only")
    if settings.api_insecure_cookies and not _is_loopback(settings.api_host):
        raise ConfigError(
            "API_INSECURE_COOKIES=true (plain http) is allowed only with API_HOST on localhost"
        )
    for origin in settings.cors_origins:
        _origin(origin)


def build_context(
    settings: Settings,
    bus: Bus,
    *,
    queries: History,
    users: Accounts,
    mode: Mode,
    command_key: bytes | None = None,
) -> ApiContext:
    """The dashboard's parts (not started: ``await context.start()``)."""
    check_settings(settings)
    key = jwt_key(settings)
    auth: AuthState = (
        RedisAuthState(settings.redis_url, settings.api_key_prefix)
        if settings.redis_url
        else MemoryAuthState()
    )
    tokens = TokenService(
        key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_s=settings.jwt_access_ttl_s,
        refresh_ttl_s=settings.jwt_refresh_ttl_s,
    )
    return ApiContext(
        settings=settings,
        bus=bus,
        queries=queries,
        users=users,
        auth=auth,
        tokens=tokens,
        limits=LoginLimits(settings),
        mailer=CodeMailer(make_sender(settings)),
        live=LiveView(bus),
        commands=CommandClient(bus, secret=command_key),
        engine_queries=QueryClient(bus),
        # Codes are hashed with a key derived from the JWT key (never the key itself).
        code_key=hmac.new(key, b"polyarb-otp-v1", hashlib.sha256).digest(),
        client_address=ClientAddress(settings.trusted_proxies),
        allowed_emails=frozenset(normalize_email(e) for e in settings.allowed_emails),
        allowed_origins=frozenset(_origin(o) for o in settings.cors_origins),
        command_key=command_key,
        mode=mode,
    )
