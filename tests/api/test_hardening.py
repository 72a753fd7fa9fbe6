"""CORS, CSRF, security headers, body limits and the WebSocket upgrade: nothing foreign gets in."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets
from tests.api.harness import Api

from polyarb.bus import AlertEvent, Channel

pytestmark = pytest.mark.redis

FOREIGN = "https://evil.example.net"
ALLOWED_ORIGIN = "https://dash.example.test"


async def test_cors_answers_only_the_configured_origins(api: Api) -> None:
    browser = api.browser()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-requested-with",
    }
    foreign = await browser.request(
        "OPTIONS", "/api/controls/pause", csrf=False, headers={"Origin": FOREIGN, **preflight}
    )
    assert "access-control-allow-origin" not in foreign.headers
    allowed = await browser.request(
        "OPTIONS",
        "/api/controls/pause",
        csrf=False,
        headers={"Origin": ALLOWED_ORIGIN, **preflight},
    )
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    session = await api.login("viewer@example.test")
    simple = await session.get("/api/state", headers={"Origin": FOREIGN})
    assert "access-control-allow-origin" not in simple.headers


async def test_state_changing_requests_need_the_csrf_header_and_a_known_origin(api: Api) -> None:
    operator = await api.login("operator@example.test")
    await api.publish_state()
    attempts = {
        "no header": await operator.post("/api/controls/pause", json={}, csrf=False),
        "foreign origin": await operator.post(
            "/api/controls/pause", json={}, headers={"Origin": FOREIGN}
        ),
        "cross-site fetch": await operator.post(
            "/api/controls/pause", json={}, headers={"Sec-Fetch-Site": "cross-site"}
        ),
        "login form, no header": await api.browser().post(
            "/api/auth/otp/request", json={"email": "viewer@example.test"}, csrf=False
        ),
        "logout, foreign origin": await operator.post(
            "/api/auth/logout", headers={"Origin": FOREIGN}
        ),
    }
    accepted = {name: r.status_code for name, r in attempts.items() if r.status_code != 403}
    assert accepted == {}
    assert api.engine.applied == []
    same_origin = await operator.post(
        "/api/controls/pause", json={}, headers={"Origin": f"http://{api.host}"}
    )
    assert same_origin.status_code == 200, same_origin.text
    assert api.engine.applied == [("pause", "operator@example.test")]


async def test_security_headers_and_no_secrets_in_answers(api: Api) -> None:
    browser = await api.login("admin@example.test")
    for response in (await browser.get("/health"), await browser.get("/api/state")):
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert "server" not in headers
    me = await browser.get("/api/auth/me")
    assert "eyJ" not in me.text  # no token in a body
    openapi = await browser.get("/openapi.json")
    assert api.settings.jwt_secret is not None
    assert api.settings.jwt_secret.get_secret_value() not in openapi.text


async def test_oversized_and_malformed_bodies_are_4xx(api: Api) -> None:
    browser = api.browser()
    big = {"email": "a@b.cd", "pad": "x" * 70_000}
    too_big = await browser.post("/api/auth/otp/request", json=big)
    assert too_big.status_code == 413

    async def chunks():  # no Content-Length: the limit is counted while reading
        yield b"{" + b" " * 40_000
        yield b" " * 40_000 + b"}"

    chunked = await browser.post(
        "/api/auth/otp/request",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    broken = await browser.post(
        "/api/auth/otp/request", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422


async def _ws_refused(url: str, **kwargs: object) -> bool:
    try:
        async with websockets.connect(url, open_timeout=5, **kwargs) as ws:  # type: ignore[arg-type]
            await asyncio.wait_for(ws.recv(), 2)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code == 403
    except websockets.ConnectionClosed:
        return True
    return False


async def test_websocket_needs_a_session_and_a_known_origin(api: Api) -> None:
    browser = await api.login("viewer@example.test")
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    url = f"ws://{api.host}/api/stream"
    own = f"http://{api.host}"
    refused = {
        "foreign origin": await _ws_refused(
            url, origin=FOREIGN, additional_headers={"Cookie": cookie}
        ),
        "no origin": await _ws_refused(url, additional_headers={"Cookie": cookie}),
        "no cookie": await _ws_refused(url, origin=own),
        "token in the url": await _ws_refused(
            url + "?token=" + browser.cookies["__Host-polyarb-access"], origin=own
        ),
    }
    assert refused == dict.fromkeys(refused, True)


async def test_stream_sends_a_snapshot_then_numbered_events(api: Api) -> None:
    await api.publish_state()
    browser = await api.login("viewer@example.test")
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    async with websockets.connect(
        f"ws://{api.host}/api/stream",
        origin=f"http://{api.host}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    ) as ws:
        [snapshot] = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert snapshot["kind"] == "snapshot"
        assert snapshot["data"]["engines"]["engine-1"]["state"]["status"] == "running"
        for _ in range(3):
            await api.publish_state()
        events: list[dict[str, object]] = []
        frames = 0
        while len(events) < 3:  # batched: one frame every 100 ms at most
            events += orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            frames += 1
        assert frames <= 3
        assert [e["kind"] for e in events] == ["event"] * 3
        assert {e["data"]["channel"] for e in events} == {"poly:state"}  # type: ignore[index]
        assert [e["seq"] for e in events] == [snapshot["seq"] + n for n in (1, 2, 3)]
        # An engine's alert (the one also posted to Slack) is relayed as it is.
        alert = AlertEvent(
            event_id="a1", severity="critical", key="down:bus", title="bus down", ts_ns=1
        )
        await api.engine_bus.publish(Channel.ALERTS, alert)
        [relayed] = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert relayed["seq"] == snapshot["seq"] + 4
        assert relayed["data"]["channel"] == "poly:alerts"
        assert relayed["data"]["data"]["title"] == "bus down"
