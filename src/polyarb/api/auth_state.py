"""Short-lived login state: one-time codes, refresh-token families, revoked token ids.

Redis holds it when ``REDIS_URL`` is set (every dashboard process sees the same state, and it
survives a dashboard restart); the embedded default keeps it in process memory, which
``APP_ENV=production`` refuses. Codes are never stored: only HMAC(server key, attempt, email,
code), with a TTL and a try counter updated atomically (a Lua script), so a Redis dump holds no
usable code and two concurrent guesses cannot both count as the first.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class PendingCode:
    """A code waiting to be entered: which attempt it belongs to and its HMAC."""

    attempt_id: str
    digest: str
    tries: int  # tries so far, this one included


class AuthState(Protocol):
    async def put_code(self, email: str, attempt_id: str, digest: str, ttl_s: int) -> None:
        """Store the code of a new attempt (replacing any earlier one for ``email``)."""

    async def try_code(self, email: str, max_tries: int) -> PendingCode | None:
        """Count one try; the pending code, or None (none, expired, or tries used up)."""

    async def consume_code(self, email: str, digest: str) -> bool:
        """Delete the code if it is still ``digest``; True for exactly one caller."""

    async def set_family(self, family: str, jti: str, ttl_s: int) -> None:
        """The refresh token ``jti`` is now the only valid one of session ``family``."""

    async def rotate_family(self, family: str, old_jti: str, new_jti: str, ttl_s: int) -> bool:
        """Replace ``old_jti`` by ``new_jti`` if it is current; otherwise end the family."""

    async def family_alive(self, family: str) -> bool: ...

    async def end_family(self, family: str) -> None: ...

    async def deny(self, jti: str, ttl_s: int) -> None:
        """Refuse the token ``jti`` until it would have expired anyway."""

    async def denied(self, jti: str) -> bool: ...

    async def session_valid(self, jti: str, family: str) -> bool:
        """The access token ``jti`` is not denied and its session is alive (one round trip)."""

    async def ping(self) -> None:
        """Raise when the storage does not answer."""

    async def close(self) -> None: ...


def email_key(email: str) -> str:
    """The email as a Redis key part (hashed: no address in a key listing)."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def code_digest(key: bytes, attempt_id: str, email: str, code: str) -> str:
    message = f"{attempt_id}\x00{email}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# KEYS[1] the code's hash; ARGV[1] max tries. Returns nil or {attempt, digest, tries}.
_TRY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return nil
end
return {redis.call('HGET', KEYS[1], 'attempt'), redis.call('HGET', KEYS[1], 'digest'), tries}
"""

# KEYS[1] the code's hash; ARGV[1] the digest that matched. 1 for the one caller that deletes it.
_CONSUME = """
if redis.call('HGET', KEYS[1], 'digest') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] the family; ARGV old jti, new jti, ttl. 1 rotated; 0 reuse or unknown (family ended).
_ROTATE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
redis.call('DEL', KEYS[1])
return 0
"""


class RedisAuthState:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._try = self._redis.register_script(_TRY)
        self._consume = self._redis.register_script(_CONSUME)
        self._rotate = self._redis.register_script(_ROTATE)

    def _code(self, email: str) -> str:
        return f"{self._prefix}otp:{email_key(email)}"

    async def put_code(self, email: str, attempt_id: str, digest: str, ttl_s: int) -> None:
        key = self._code(email)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"attempt": attempt_id, "digest": digest, "tries": 0})
            pipe.expire(key, ttl_s)
            await pipe.execute()

    async def try_code(self, email: str, max_tries: int) -> PendingCode | None:
        found = await self._try(keys=[self._code(email)], args=[max_tries])
        if not found:
            return None
        attempt, digest, tries = found
        return PendingCode(str(attempt), str(digest), int(tries))

    async def consume_code(self, email: str, digest: str) -> bool:
        return bool(await self._consume(keys=[self._code(email)], args=[digest]))

    async def set_family(self, family: str, jti: str, ttl_s: int) -> None:
        await self._redis.set(f"{self._prefix}fam:{family}", jti, ex=ttl_s)

    async def rotate_family(self, family: str, old_jti: str, new_jti: str, ttl_s: int) -> bool:
        key = f"{self._prefix}fam:{family}"
        return bool(await self._rotate(keys=[key], args=[old_jti, new_jti, ttl_s]))

    async def family_alive(self, family: str) -> bool:
        return bool(await self._redis.exists(f"{self._prefix}fam:{family}"))

    async def end_family(self, family: str) -> None:
        await self._redis.delete(f"{self._prefix}fam:{family}")

    async def deny(self, jti: str, ttl_s: int) -> None:
        await self._redis.set(f"{self._prefix}deny:{jti}", "1", ex=max(1, ttl_s))

    async def denied(self, jti: str) -> bool:
        return bool(await self._redis.exists(f"{self._prefix}deny:{jti}"))

    async def session_valid(self, jti: str, family: str) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(f"{self._prefix}deny:{jti}")
            pipe.exists(f"{self._prefix}fam:{family}")
            denied, alive = await pipe.execute()
        return not denied and bool(alive)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryAuthState:
    """The same in process memory (embedded default, one process; lost on restart)."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[float, str, str, int]] = {}  # email -> expiry, attempt...
        self._families: dict[str, tuple[float, str]] = {}
        self._denied: dict[str, float] = {}

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _expire(self) -> None:
        now = self._now()
        for table in (self._codes, self._families):
            for key in [k for k, v in table.items() if v[0] <= now]:
                del table[key]
        for key in [k for k, v in self._denied.items() if v <= now]:
            del self._denied[key]

    async def put_code(self, email: str, attempt_id: str, digest: str, ttl_s: int) -> None:
        self._expire()
        self._codes[email] = (self._now() + ttl_s, attempt_id, digest, 0)

    async def try_code(self, email: str, max_tries: int) -> PendingCode | None:
        self._expire()
        entry = self._codes.get(email)
        if entry is None:
            return None
        expiry, attempt, digest, tries = entry
        tries += 1
        if tries > max_tries:
            del self._codes[email]
            return None
        self._codes[email] = (expiry, attempt, digest, tries)
        return PendingCode(attempt, digest, tries)

    async def consume_code(self, email: str, digest: str) -> bool:
        entry = self._codes.get(email)
        if entry is None or entry[2] != digest:
            return False
        del self._codes[email]
        return True

    async def set_family(self, family: str, jti: str, ttl_s: int) -> None:
        self._families[family] = (self._now() + ttl_s, jti)

    async def rotate_family(self, family: str, old_jti: str, new_jti: str, ttl_s: int) -> bool:
        self._expire()
        entry = self._families.get(family)
        if entry is not None and entry[1] == old_jti:
            self._families[family] = (self._now() + ttl_s, new_jti)
            return True
        self._families.pop(family, None)
        return False

    async def family_alive(self, family: str) -> bool:
        self._expire()
        return family in self._families

    async def end_family(self, family: str) -> None:
        self._families.pop(family, None)

    async def deny(self, jti: str, ttl_s: int) -> None:
        self._denied[jti] = self._now() + max(1, ttl_s)

    async def denied(self, jti: str) -> bool:
        self._expire()
        return jti in self._denied

    async def session_valid(self, jti: str, family: str) -> bool:
        return not await self.denied(jti) and await self.family_alive(family)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
