"""Login rate limits (the ``limits`` library; moving windows in Redis or in memory) and the
client address they are keyed by."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from polyarb.config import Settings


class LoginLimits:
    def __init__(self, settings: Settings) -> None:
        storage: Storage
        self._pool: aioredis.ConnectionPool | None = None
        if settings.redis_url:
            # Our own pool, so ``close`` can release its connections.
            self._pool = aioredis.ConnectionPool.from_url(settings.redis_url)
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=settings.api_key_prefix + "limits",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self.request_per_email: RateLimitItem = parse(settings.otp_requests_per_email)
        self.request_per_ip: RateLimitItem = parse(settings.otp_requests_per_ip)
        self.verify_per_ip: RateLimitItem = parse(settings.otp_verifies_per_ip)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, item: RateLimitItem, *key: str) -> int | None:
        """Count one hit; None when allowed, else the seconds until a retry may pass."""
        if await self._limiter.hit(item, *key):
            return None
        stats = await self._limiter.get_window_stats(item, *key)
        return max(1, int(stats.reset_time - time.time()) + 1)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The client's IP: the socket peer, or ``X-Forwarded-For`` only through trusted proxies."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(net, strict=False) for net in trusted
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        peer = peer or ""
        if not forwarded_for or not self._is_trusted(peer):
            return peer
        # Walk from the nearest hop back; the first address not ours is the client.
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a forged or broken header: fall back to the proxy's address
        return hops[0] if hops else peer
