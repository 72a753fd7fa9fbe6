"""Login by one-time code over real HTTP, with the real Redis and a local SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import pytest
from tests.api.harness import JWT_SECRET, Api

pytestmark = pytest.mark.redis


def _code_key(api: Api, email: str) -> str:
    # The documented key layout: <prefix>otp:<first 32 hex of sha256(email)>.
    return f"{api.prefix}otp:{hashlib.sha256(email.encode()).hexdigest()[:32]}"


async def test_login_end_to_end_with_the_code_from_the_mail(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = api.browser()
    email = "Operator@Example.test"  # case does not matter
    answer = await browser.post("/api/auth/otp/request", json={"email": email})
    assert answer.status_code == 202
    body = answer.json()
    assert body["expires_in"] == 300
    code = await api.inbox.code_for("operator@example.test")
    assert (await browser.get("/api/auth/me")).status_code == 401
    verified = await browser.post(
        "/api/auth/otp/verify",
        json={"email": email, "code": code, "attempt_id": body["attempt_id"]},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["role"] == "operator"
    cookies = [h for h in browser.set_cookie_headers if h.startswith("__Host-polyarb-")]
    assert len(cookies) == 2
    for header in cookies:
        attrs = {part.strip().split("=")[0].lower() for part in header.split(";")}
        assert {"httponly", "secure", "path"} <= attrs
        assert "samesite=strict" in header.lower()
        assert "domain" not in attrs  # __Host- cookies may not name a domain
    me = await browser.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == "operator@example.test"
    # The code is stored only as an HMAC: no value under our prefix contains it.
    stored = await api.redis.hgetall(_code_key(api, "operator@example.test"))
    assert stored == {}  # used codes are deleted
    assert (await browser.get("/api/state")).status_code == 200
    logged = capsys.readouterr()
    secrets_ = (code, browser.cookies["__Host-polyarb-access"], JWT_SECRET, "operator@example")
    assert "auth.code_sent" in logged.out + logged.err  # the logs were captured ...
    assert [s for s in secrets_ if s in logged.out + logged.err] == []  # ... without secrets


async def test_stored_code_is_hashed_and_expires(api: Api) -> None:
    browser = api.browser()
    email = "viewer@example.test"
    answer = await browser.post("/api/auth/otp/request", json={"email": email})
    code = await api.inbox.code_for(email)
    key = _code_key(api, email)
    stored = await api.redis.hgetall(key)
    assert stored, "the attempt is in Redis"
    assert all(code.encode() not in value for value in stored.values())
    ttl = await api.redis.ttl(key)
    assert 0 < ttl <= 300
    await api.redis.pexpire(key, 1)  # let Redis expire it now
    await asyncio.sleep(0.05)
    late = await browser.post(
        "/api/auth/otp/verify",
        json={"email": email, "code": code, "attempt_id": answer.json()["attempt_id"]},
    )
    assert late.status_code == 400
    assert (await browser.get("/api/auth/me")).status_code == 401


async def test_a_code_works_once(api: Api) -> None:
    email = "viewer@example.test"
    browser = api.browser()
    answer = await browser.post("/api/auth/otp/request", json={"email": email})
    code = await api.inbox.code_for(email)
    payload = {"email": email, "code": code, "attempt_id": answer.json()["attempt_id"]}
    first, second = await asyncio.gather(
        api.browser().post("/api/auth/otp/verify", json=payload),
        api.browser().post("/api/auth/otp/verify", json=payload),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 400]
    third = await api.browser().post("/api/auth/otp/verify", json=payload)
    assert third.status_code == 400


async def test_a_code_is_bound_to_its_attempt(api: Api) -> None:
    email = "viewer@example.test"
    browser = api.browser()
    await browser.post("/api/auth/otp/request", json={"email": email})
    code = await api.inbox.code_for(email)
    other_attempt = "A" * 32
    wrong = await browser.post(
        "/api/auth/otp/verify", json={"email": email, "code": code, "attempt_id": other_attempt}
    )
    assert wrong.status_code == 400


async def test_five_wrong_tries_burn_the_code(api: Api) -> None:
    email = "viewer@example.test"
    browser = api.browser()
    answer = await browser.post("/api/auth/otp/request", json={"email": email})
    attempt = answer.json()["attempt_id"]
    code = await api.inbox.code_for(email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        refused = await browser.post(
            "/api/auth/otp/verify", json={"email": email, "code": wrong, "attempt_id": attempt}
        )
        assert refused.status_code == 400
    right = await browser.post(
        "/api/auth/otp/verify", json={"email": email, "code": code, "attempt_id": attempt}
    )
    assert right.status_code == 400
    assert (await browser.get("/api/auth/me")).status_code == 401


async def test_unknown_emails_get_the_same_answer_and_no_mail(api: Api) -> None:
    browser = api.browser()
    answers = {}
    for email in ("viewer@example.test", "nobody@example.test", "not-allowed@example.test"):
        response = await browser.post("/api/auth/otp/request", json={"email": email})
        body = response.json()
        body.pop("attempt_id")
        answers[email] = (response.status_code, body, sorted(response.headers.keys()))
    assert len(set(map(repr, answers.values()))) == 1
    await api.inbox.code_for("viewer@example.test")
    await asyncio.sleep(0.2)
    assert api.inbox.count_to("nobody@example.test") == 0
    assert api.inbox.count_to("not-allowed@example.test") == 0  # an account, but not allowed


async def test_empty_allowlist_lets_nobody_in(api_factory: Callable[..., Awaitable[Api]]) -> None:
    api = await api_factory(allowed_emails=())
    response = await api.browser().post(
        "/api/auth/otp/request", json={"email": "admin@example.test"}
    )
    assert response.status_code == 202
    await asyncio.sleep(0.3)
    assert api.inbox.messages == []


async def test_code_requests_are_rate_limited_per_email(api: Api) -> None:
    browser = api.browser()
    statuses = [
        (await browser.post("/api/auth/otp/request", json={"email": "x@example.test"})).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    limited = await browser.post("/api/auth/otp/request", json={"email": "x@example.test"})
    assert int(limited.headers["Retry-After"]) > 0
    other = await browser.post("/api/auth/otp/request", json={"email": "y@example.test"})
    assert other.status_code == 202


async def test_verify_limit_per_ip_ignores_forwarded_for_from_untrusted_peers(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(otp_verifies_per_ip="3/10minutes")
    browser = api.browser()
    payload = {"email": "viewer@example.test", "code": "000000", "attempt_id": "B" * 32}
    statuses = []
    for n in range(4):  # a client inventing X-Forwarded-For does not get new addresses
        forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
        response = await browser.post("/api/auth/otp/verify", json=payload, headers=forwarded)
        statuses.append(response.status_code)
    assert statuses == [400, 400, 400, 429]


async def test_verify_limit_per_ip_behind_a_trusted_proxy(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(otp_verifies_per_ip="3/10minutes", trusted_proxies=("127.0.0.1",))
    browser = api.browser()
    payload = {"email": "viewer@example.test", "code": "000000", "attempt_id": "B" * 32}

    async def verify(client_ip: str) -> int:
        headers = {"X-Forwarded-For": f"198.51.100.9, {client_ip}"}
        response = await browser.post("/api/auth/otp/verify", json=payload, headers=headers)
        return response.status_code

    assert [await verify("203.0.113.1") for _ in range(4)] == [400, 400, 400, 429]
    assert await verify("203.0.113.2") == 400  # another client behind the proxy


async def test_bad_input_is_a_clear_4xx(api: Api) -> None:
    browser = api.browser()
    for body in (
        {"email": "not-an-email"},
        {"email": "a@b.cd", "extra": 1},
        {},
    ):
        response = await browser.post("/api/auth/otp/request", json=body)
        assert response.status_code == 422
        assert response.json()["detail"]
    bad_code = await browser.post(
        "/api/auth/otp/verify",
        json={"email": "a@b.cd", "code": "12ab56", "attempt_id": "C" * 32},
    )
    assert bad_code.status_code == 422
