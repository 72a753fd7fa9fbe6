"""The README's path: `polyarb users add`, then `polyarb run --venue sim` serves the dashboard
at a printed URL (from its own dashboard process); log in with the code on the console, watch
the engine, pause it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.envs import settings_free_env
from typer.testing import CliRunner

from polyarb.cli import app

CSRF = {"X-Requested-With": "polyarb"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = settings_free_env("DRY_RUN", "REDIS_URL", "DATABASE_URL", "ALLOWED_EMAILS", "JWT_SECRET")
    env.update(DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def _polyarb(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_users_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    added = _polyarb(tmp_path, "users", "add", "Ops@Example.test", "--role", "operator")
    assert added.returncode == 0, added.stderr
    assert "added ops@example.test as operator" in added.stdout
    assert "ALLOWED_EMAILS" in added.stdout  # it cannot log in until allowed
    listed = _polyarb(tmp_path, "users", "list")
    assert listed.stdout.split() == ["ops@example.test", "operator"]
    # The rest in process (the same typer app; a process each costs seconds on a loaded box).
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    again = runner.invoke(app, ["users", "add", "ops@example.test"])
    assert again.exit_code != 0
    assert "already has an account" in str(again.exception)
    bad_role = runner.invoke(app, ["users", "add", "x@example.test", "--role", "root"])
    assert bad_role.exit_code == 2
    assert "viewer, operator, admin" in bad_role.output
    removed = runner.invoke(app, ["users", "remove", "ops@example.test"])
    assert removed.exit_code == 0, removed.output
    assert runner.invoke(app, ["users", "list"]).output.strip() == "no accounts"


class Running:
    """A `polyarb` process whose stderr is read line by line; SIGINT must stop it with 0."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "polyarb", *args],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout_s: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                match = re.search(pattern, self.lines.get(timeout=0.5))
            except queue.Empty:
                continue
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}")

    def login(self, client: httpx.Client, email: str) -> dict[str, str]:
        """Log in with the code printed on the console; the Cookie header of the session."""
        attempt = client.post("/api/auth/otp/request", json={"email": email}).json()
        code = self.wait_for(rf"login code for {re.escape(email)}: (\d{{6}})").group(1)
        verified = client.post(
            "/api/auth/otp/verify",
            json={"email": email, "code": code, "attempt_id": attempt["attempt_id"]},
        )
        assert verified.status_code == 200, verified.text
        client.cookies.clear()  # Secure cookies: sent by hand over plain http
        jar = [h.split(";")[0] for h in verified.headers.get_list("set-cookie")]
        return {"Cookie": "; ".join(jar)}

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=30) == 0
        self.reader.join(timeout=10)  # it ends at the pipe's end of file
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fetch()
    return value


def dashboard_pid(engine_pid: int) -> int | None:
    """The pid of `polyarb run`'s dashboard process (a child of the engine's), if running."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == engine_pid and b"polyarb.cli.dashboard_main" in cmdline:
            return int(entry.name)
    return None


def gone(pid: int) -> bool:
    """The process has exited (a zombie left for a reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _run_env(tmp_path: Path, email: str, role: str = "admin", **extra: str) -> dict[str, str]:
    assert _polyarb(tmp_path, "users", "add", email, "--role", role).returncode == 0
    return _env(
        tmp_path,
        ALLOWED_EMAILS=email,  # not in COMMAND_ADMINS: the engine acts on the vouched role
        API_PORT=str(_free_port()),
        JWT_SECRET="e2e-" + "s" * 60,
        OTP_DELIVERY="console",
        **extra,
    )


async def _streamed_state(url: str, cookie: dict[str, str]) -> dict[str, Any]:
    """The first engine state the stream relays after its snapshot."""
    import asyncio

    import websockets

    async with websockets.connect(
        url.replace("http://", "ws://") + "/api/stream",
        origin=url,  # type: ignore[arg-type]
        additional_headers=cookie,
    ) as ws:
        [snapshot] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert snapshot["kind"] == "snapshot"
        while True:
            for event in json.loads(await asyncio.wait_for(ws.recv(), 10)):
                if event["kind"] == "event" and event["data"]["channel"] == "poly:state":
                    assert event["seq"] > snapshot["seq"]
                    return dict(event["data"]["data"])


def test_run_serves_the_dashboard_from_its_own_process(tmp_path: Path) -> None:
    import asyncio

    email = "admin@example.test"
    env = _run_env(tmp_path, email)
    args = ["run", "--venue", "sim", "--no-display", "--duration", "60"]
    with Running(tmp_path, args, env) as run:
        url = run.wait_for(r"dashboard API at (http://\S+)").group(1)
        assert url == f"http://127.0.0.1:{env['API_PORT']}"
        # Served by a child process, not on the engine's event loop (bench/bench_api.py).
        assert dashboard_pid(run.process.pid) is not None
        with httpx.Client(base_url=url, timeout=10, headers=CSRF) as client:
            cookie = run.login(client, email)
            # The stream relays the engine's states, over the local socket bus.
            streamed = asyncio.run(_streamed_state(url, cookie))
            assert streamed["status"] == "running"

            def state() -> Any:
                engines = client.get("/api/state", headers=cookie).json()["engines"]
                return engines[0]["state"] if engines else None

            current = _poll(state, lambda s: s is not None, 30)
            assert current["status"] == "running"
            assert client.get("/ready", headers=cookie).status_code == 200
            # What the engine did is on the dashboard (issue 11 item 6).
            markets = client.get("/api/markets", headers=cookie).json()
            assert len(markets) == current["markets_tracked"]
            assert all(m["question"] and m["outcomes"] for m in markets)
            strategies = client.get("/api/strategies", headers=cookie).json()
            sumto100 = next(s for s in strategies if s["name"] == "sumto100")
            assert sumto100["params"]["min_edge"] == "0.003"
            # The first equity snapshot is written at start; the store's writer lands it soon.
            equity = _poll(lambda: client.get("/api/pnl/equity", headers=cookie).json(), bool, 15)
            assert len(equity) >= 1
            questions = {m["condition_id"]: m["question"] for m in markets}
            events = {m["event_id"] for m in markets if m["event_id"]}
            seen = _poll(state, lambda s: bool(s["opportunities"]), 20)["opportunities"]
            assert seen, "no open opportunity seen"
            for opportunity in seen:  # labelled with the question, or the event's title
                if opportunity["market"] in questions:
                    assert opportunity["label"] == questions[opportunity["market"]]
                else:
                    assert opportunity["market"] in events
                    assert opportunity["label"]
            paused = client.post("/api/controls/pause", json={}, headers=cookie)
            assert paused.status_code == 200, paused.text
            assert [a["accepted"] for a in paused.json()["acks"]] == [True], paused.text
            # One market's books, asked of the engine over the local socket bus.
            binary = next(m for m in markets if not m["neg_risk"])
            book = client.get(f"/api/markets/{binary['condition_id']}/book", headers=cookie)
            assert book.status_code == 200, book.text
            tokens = [b["token_id"] for b in book.json()["books"]]
            assert tokens == [token for _label, token in binary["outcomes"]]
            assert _poll(state, lambda s: s["status"] == "paused", 10)["status"] == "paused"


def test_the_dashboard_process_ends_with_a_killed_engine_and_is_restarted_after_a_crash(
    tmp_path: Path,
) -> None:
    email = "viewer@example.test"
    env = _run_env(tmp_path, email, role="viewer")
    args = ["run", "--venue", "sim", "--no-display", "--duration", "60"]
    run = Running(tmp_path, args, env)
    try:
        url = run.wait_for(r"dashboard API at (http://\S+)").group(1)
        first = dashboard_pid(run.process.pid)
        assert first is not None
        # A crashed dashboard is reported and restarted; trading goes on.
        os.kill(first, signal.SIGKILL)
        run.wait_for(r"the dashboard process exited \(code -9\); restarting it")
        assert run.wait_for(r"dashboard API at (http://\S+)").group(1) == url
        second = _poll(lambda: dashboard_pid(run.process.pid), lambda p: p not in (None, first), 5)
        assert second not in (None, first)
        assert run.process.poll() is None
        with httpx.Client(base_url=url, timeout=10, headers=CSRF) as client:
            cookie = run.login(client, email)
            assert client.get("/api/state", headers=cookie).status_code == 200
        # The engine killed outright: its dashboard notices (its stdin ends) and exits.
        run.process.kill()
        run.process.wait(timeout=10)
        assert _poll(lambda: gone(second), bool, 15), "the dashboard outlived its engine"
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health", timeout=2)
    finally:
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait(timeout=10)
        run.reader.join(timeout=10)


def test_dashboard_needs_redis(tmp_path: Path) -> None:
    result = _polyarb(tmp_path, "dashboard")
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.redis
def test_dashboard_process_over_redis(tmp_path: Path, redis_url: str) -> None:
    import redis

    email = "viewer@example.test"
    assert _polyarb(tmp_path, "users", "add", email).returncode == 0
    port = _free_port()
    prefix = f"polyarb-test-cli:{os.getpid()}-{port}:"
    env = _env(
        tmp_path,
        REDIS_URL=redis_url,
        API_KEY_PREFIX=prefix,
        ALLOWED_EMAILS=email,
        API_PORT=str(port),
        JWT_SECRET="cli-" + "s" * 60,
        OTP_DELIVERY="console",
    )
    store = redis.Redis.from_url(redis_url)
    try:
        with Running(tmp_path, ["dashboard"], env) as dashboard:
            url = dashboard.wait_for(r"dashboard API at (http://\S+) ").group(1)
            with httpx.Client(base_url=url, timeout=10, headers=CSRF) as client:
                cookie = dashboard.login(client, email)
                ready = client.get("/ready", headers=cookie).json()
                assert (ready["database"], ready["login_store"]) == (True, True)
            assert store.keys(prefix + "*"), "the login state lives in Redis under API_KEY_PREFIX"
    finally:
        for key in store.scan_iter(match=prefix + "*"):
            store.delete(key)
        store.close()


def test_a_dashboard_port_in_use_leaves_trading_running(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _polyarb(
            tmp_path,
            "run",
            "--venue",
            "sim",
            "--duration",
            "3",
            "--json",
            "--no-display",
            API_PORT=str(port),
            HEALTH_PORT="0",
        )
    # uvicorn answers a failed bind with sys.exit, which would have ended the engine's loop.
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"dashboard not started: the dashboard API cannot listen on 127.0.0.1:{port}" in (
        result.stderr
    )
    assert json.loads(result.stdout)["frames"] > 0  # the engine traded on to its end
