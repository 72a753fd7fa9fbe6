"""Session tokens: every tampered, expired, misdirected or revoked token is refused (0 accepted)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from tests.api.harness import JWT_SECRET, Api, Browser

pytestmark = pytest.mark.redis

ACCESS = "__Host-polyarb-access"
REFRESH = "__Host-polyarb-refresh"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def _me_with(api: Api, token: str) -> int:
    probe = api.browser()
    probe.cookies[ACCESS] = token
    return (await probe.get("/api/auth/me")).status_code


async def test_tampered_tokens_are_all_refused(api: Api) -> None:
    browser = await api.login("admin@example.test")
    good = browser.cookies[ACCESS]
    assert await _me_with(api, good) == 200
    claims = _claims(good)
    header, payload, signature = good.split(".")
    now = int(time.time())

    def signed(changes: dict[str, Any], *, key: str = JWT_SECRET, alg: str = "HS256") -> str:
        body = {**claims, **changes}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key, algorithm=alg)

    flipped_sig = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    raised = dict(claims, sub="admin@example.test", sv=claims["sv"] + 0, exp=now + 999_999)
    forged_payload = _b64(json.dumps(raised).encode())
    alg_none = _b64(b'{"alg":"none","typ":"JWT"}') + "." + payload + "."
    variants = {
        "flipped signature bit": f"{header}.{payload}.{flipped_sig}",
        "payload changed, old signature": f"{header}.{forged_payload}.{signature}",
        "alg none": alg_none,
        "alg none, capitalised": _b64(b'{"alg":"None"}') + "." + payload + ".",
        "HS512 with the same key": signed({}, alg="HS512"),
        "HS256 with another key": signed({}, key="another-secret-" + "x" * 60),
        "expired": signed({"exp": now - 120, "iat": now - 1000, "nbf": now - 1000}),
        "not yet valid": signed({"nbf": now + 600, "iat": now + 600}),
        "wrong audience": signed({"aud": "someone-else"}),
        "wrong issuer": signed({"iss": "evil"}),
        "no jti": signed({"jti": None}),
        "no exp": signed({"exp": None}),
        "refresh type": signed({"typ": "refresh"}),
        "other user": signed({"sub": "nobody@example.test"}),
        "old session version": signed({"sv": claims["sv"] + 1}),
        "unknown session": signed({"sid": "no-such-session"}),
        "garbage": "not.a.token",
        "empty": "",
    }
    accepted = [name for name, token in variants.items() if await _me_with(api, token) != 401]
    assert accepted == []


async def test_refresh_token_is_not_an_access_token(api: Api) -> None:
    browser = await api.login("viewer@example.test")
    assert await _me_with(api, browser.cookies[REFRESH]) == 401
    # ... nor the other way round.
    probe = api.browser()
    probe.cookies[REFRESH] = browser.cookies[ACCESS]
    assert (await probe.post("/api/auth/refresh")).status_code == 401


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(api: Api) -> None:
    browser = await api.login("viewer@example.test")
    first_refresh = browser.cookies[REFRESH]
    rotated = await browser.post("/api/auth/refresh")
    assert rotated.status_code == 200
    second_refresh = browser.cookies[REFRESH]
    assert second_refresh != first_refresh
    assert (await browser.get("/api/auth/me")).status_code == 200
    thief = api.browser()
    thief.cookies[REFRESH] = first_refresh
    assert (await thief.post("/api/auth/refresh")).status_code == 401
    # The reuse ended the whole session: the legitimate tokens stop working too.
    assert (await browser.get("/api/auth/me")).status_code == 401
    assert (await browser.post("/api/auth/refresh")).status_code == 401


async def test_logout_revokes_access_and_refresh(api: Api) -> None:
    browser = await api.login("operator@example.test")
    access, refresh = browser.cookies[ACCESS], browser.cookies[REFRESH]
    assert (await browser.post("/api/auth/logout")).status_code == 204
    assert ACCESS not in browser.cookies
    assert await _me_with(api, access) == 401
    replay = api.browser()
    replay.cookies[REFRESH] = refresh
    assert (await replay.post("/api/auth/refresh")).status_code == 401


async def test_logout_everywhere_and_removal_end_every_session(api: Api) -> None:
    laptop = await api.login("admin@example.test")
    phone = await api.login("admin@example.test", Browser(api.base_url))
    api.browsers.append(phone)
    assert (await phone.get("/api/auth/me")).status_code == 200
    response = await laptop.post("/api/auth/logout", json={"everywhere": True})
    assert response.status_code == 204
    assert (await phone.get("/api/auth/me")).status_code == 401
    assert (await phone.post("/api/auth/refresh")).status_code == 401

    viewer = await api.login("viewer@example.test")
    admin = await api.login("admin@example.test")
    removed = await admin.request("DELETE", "/api/users/viewer@example.test")
    assert removed.status_code == 204
    assert (await viewer.get("/api/auth/me")).status_code == 401


async def test_session_survives_a_denylist_loss_only_if_not_revoked_by_version(api: Api) -> None:
    """Redis losing its keys cannot bring back a session ended by 'logout everywhere'."""
    browser = await api.login("operator@example.test")
    access = browser.cookies[ACCESS]
    await browser.post("/api/auth/logout", json={"everywhere": True})
    keys = [key async for key in api.redis.scan_iter(match=api.prefix + "deny:*")]
    await api.redis.delete(*keys)
    # Even with the family resurrected, the session version in the database refuses it.
    claims = _claims(access)
    await api.redis.set(f"{api.prefix}fam:{claims['sid']}", "x", ex=60)
    assert await _me_with(api, access) == 401


async def test_an_email_taken_off_the_allowlist_loses_its_session(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    first = await api_factory()
    browser = await first.login("operator@example.test")
    access, refresh = browser.cookies[ACCESS], browser.cookies[REFRESH]
    # The same database, Redis and key, restarted with a shorter ALLOWED_EMAILS.
    second = await api_factory(
        allowed_emails=("admin@example.test",),
        api_key_prefix=first.prefix,
        db_url=first.db_url,
    )
    probe = second.browser()
    probe.cookies[ACCESS] = access
    assert (await probe.get("/api/auth/me")).status_code == 401
    probe.cookies = {REFRESH: refresh}
    assert (await probe.post("/api/auth/refresh")).status_code == 401
