"""A dashboard API served over real HTTP for the tests: real Redis (a key prefix of its own),
a SQLite database, a local SMTP server catching the codes, and a stand-in engine on the bus."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller

from polyarb.api.app import create_app
from polyarb.api.context import ApiContext, build_context
from polyarb.api.server import make_server, serve
from polyarb.bus import (
    BookAnswer,
    BookQuery,
    CommandProcessor,
    DailyPnl,
    EngineState,
    MemoryBus,
    MemoryHub,
    ParamBounds,
    QueryResponder,
    StrategyStatus,
)
from polyarb.bus.schemas import BookLevel, OutcomeBook
from polyarb.bus.topics import Channel
from polyarb.config import Settings
from polyarb.domain.trading import Mode
from polyarb.store import StoreQueries
from polyarb.store.admin import ensure_database
from polyarb.store.users import UserStore

JWT_SECRET = "test-secret-" + "k" * 60
ALLOWED = ("viewer@example.test", "operator@example.test", "admin@example.test")
CSRF = {"X-Requested-With": "polyarb"}

COMMAND_KEY = b"dashboard-tests-command-key-0123"  # shared by the API and the engine
KNOWN_MARKET = "0xabc123"  # the one market the stand-in engine watches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """aiosmtpd handler keeping every message received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"

    async def code_for(self, email: str, *, after: int = 0, timeout_s: float = 5.0) -> str:
        """The code in the first message to ``email`` beyond the first ``after`` ones."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            mine = [body for rcpt, body in self.messages if email in rcpt]
            if len(mine) > after:
                match = re.search(r"code is (\d{6})", mine[after])
                assert match is not None, mine[after]
                return match.group(1)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no code mailed to {email}")

    def count_to(self, email: str) -> int:
        return sum(1 for rcpt, _ in self.messages if email in rcpt)


class Browser:
    """An HTTP client that keeps cookies like a browser on https would (Secure ones too)."""

    def __init__(self, base_url: str, origin: str | None = None) -> None:
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []
        self.origin = origin
        self._client = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def request(
        self,
        method: str,
        path: str,
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(CSRF if csrf else {})
        if self.origin:
            sent["Origin"] = self.origin
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        response = await self._client.request(method, path, headers=sent, **kwargs)
        self._client.cookies.clear()
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def close(self) -> None:
        await self._client.aclose()


class StubEngine:
    """Answers commands like an engine (accepting each) and publishes a state."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.applied: list[tuple[str, str]] = []
        self.paused = False

    def strategy_names(self) -> list[str]:
        return ["sumto100"]

    def pause(self, actor: str) -> None:
        self.paused = True
        self.applied.append(("pause", actor))

    def resume(self, actor: str) -> None:
        self.paused = False
        self.applied.append(("resume", actor))

    def engage_kill_switch(self, reason: str, actor: str) -> None:
        self.applied.append(("kill", actor))

    def clear_kill_switch(self, actor: str) -> None:
        self.applied.append(("clear", actor))

    def set_strategy_enabled(self, strategy: str, enabled: bool, actor: str) -> None:
        self.applied.append((f"enable={enabled}", actor))

    def set_strategy_param(self, strategy: str, param: str, value: Any, actor: str) -> None:
        self.applied.append((f"{param}={value}", actor))

    def book_answer(self, query: BookQuery) -> BookAnswer:
        if query.condition_id != KNOWN_MARKET:
            return BookAnswer(query_id=query.id, found=False)
        level = BookLevel(price="0.45", size="120.5")
        return BookAnswer(
            query_id=query.id,
            found=True,
            condition_id=KNOWN_MARKET,
            question="Will it?",
            as_of_ns=1,
            depth=query.depth,
            books=(
                OutcomeBook(token_id="1", outcome="Yes", bids=(level,), best_bid="0.45"),
                OutcomeBook(token_id="2", outcome="No"),
            ),
        )

    def state(self) -> EngineState:
        return EngineState(
            status="paused" if self.paused else "running",
            trading_state="active",
            mode=Mode.PAPER,
            started_ns=1,
            markets_tracked=3,
            books_tracked=6,
            books_stale=0,
            pnl=DailyPnl(day="2026-12-03", realized=Decimal("1.25"), unrealized=Decimal(0)),
            strategies=(
                StrategyStatus(name="sumto100", enabled=True, params={"min_edge": "0.003"}),
            ),
        )


@dataclass
class Api:
    settings: Settings
    base_url: str
    inbox: Inbox
    ctx: ApiContext
    engine: StubEngine
    engine_bus: MemoryBus
    redis: aioredis.Redis
    prefix: str
    db_url: str
    browsers: list[Browser] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.base_url.removeprefix("http://")

    def browser(self, origin: str | None = None) -> Browser:
        browser = Browser(self.base_url, origin)
        self.browsers.append(browser)
        return browser

    async def login(self, email: str, browser: Browser | None = None) -> Browser:
        browser = browser or self.browser()
        before = self.inbox.count_to(email)
        answer = await browser.post("/api/auth/otp/request", json={"email": email})
        assert answer.status_code == 202, answer.text
        code = await self.inbox.code_for(email, after=before)
        verified = await browser.post(
            "/api/auth/otp/verify",
            json={"email": email, "code": code, "attempt_id": answer.json()["attempt_id"]},
        )
        assert verified.status_code == 200, verified.text
        return browser

    async def publish_state(self) -> None:
        await self.engine_bus.publish(Channel.STATE, self.engine.state())


ApiFactory = Callable[..., Awaitable[Api]]


async def start_api(
    tmp_path: Path, redis_url: str, stack: list[Callable[[], Awaitable[None]]], **overrides: Any
) -> Api:
    # ``db_url`` / ``api_key_prefix`` given: a restart of an earlier API on the same state.
    prefix = overrides.setdefault("api_key_prefix", f"polyarb-test-api:{uuid.uuid4().hex[:12]}:")
    db_url = overrides.pop("db_url", None)
    mode: Mode = overrides.pop("mode", Mode.PAPER)  # the engines' mode, as the dashboard knows it
    users_exist = db_url is not None
    db_url = db_url or f"sqlite+aiosqlite:///{tmp_path / f'api-{uuid.uuid4().hex[:6]}.db'}"
    await ensure_database(db_url, auto_upgrade=True)
    users = UserStore.open(db_url)
    if not users_exist:
        for email, role in zip(ALLOWED, ("viewer", "operator", "admin"), strict=True):
            await users.add(email, role)  # type: ignore[arg-type]
        await users.add("not-allowed@example.test", "admin")  # an account, not in ALLOWED_EMAILS
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    options: dict[str, Any] = {
        "redis_url": redis_url,
        "jwt_secret": JWT_SECRET,
        "allowed_emails": ALLOWED,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "api_port": 0,
        "cors_origins": ("https://dash.example.test",),
    }
    options.update(overrides)
    settings = Settings(_env_file=None, **options)
    hub = MemoryHub()
    api_bus = MemoryBus("dashboard", hub=hub)
    engine_bus = MemoryBus("engine-1", hub=hub)
    engine = StubEngine(engine_bus)

    async def audit(_: Any) -> None:
        return None

    processor = CommandProcessor(
        engine,
        audit,
        engine_bus,
        authorize=lambda *_: True,
        bounds={"sumto100": {"min_edge": ParamBounds(Decimal(0), Decimal("0.1"))}},
        secret=COMMAND_KEY,
    )
    processor_task = asyncio.create_task(processor.run())
    responder_task = asyncio.create_task(QueryResponder(engine_bus, engine.book_answer).run())
    ctx = build_context(
        settings,
        api_bus,
        queries=StoreQueries.open(db_url, Mode.PAPER),
        users=users,
        mode=mode,
        command_key=COMMAND_KEY,
    )
    server = make_server(create_app(ctx), settings, embedded=True, port=0)
    urls: list[str] = []
    task = asyncio.create_task(serve(server, settings, urls.append))
    for _ in range(500):
        if urls or task.done():
            break
        await asyncio.sleep(0.01)
    assert urls, "the API did not start"
    client = aioredis.Redis.from_url(redis_url)
    api = Api(settings, urls[0], inbox, ctx, engine, engine_bus, client, prefix, db_url)

    async def stop() -> None:
        for browser in api.browsers:
            await browser.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        processor_task.cancel()
        responder_task.cancel()
        await asyncio.gather(processor_task, responder_task, return_exceptions=True)
        controller.stop()
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    stack.append(stop)
    return api
