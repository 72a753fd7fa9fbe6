"""`polyarb run --venue sim` paper-trading in a process of its own, watched the way operations
watch it: ``/health``, ``/ready`` and ``/metrics`` over HTTP on ``HEALTH_PORT``.

The bus is a Redis server the test started (tests/servers.py); stopping it must make ``/ready``
answer 503 naming the bus, and starting it again must make the engine ready again, while
``/health`` (liveness) stays 200 throughout. The metrics of the run are asserted against what
a paper run on the simulator must show: frames decoded, books checked and agreeing, signals
taken and filled, fees paid, decisions timed, rows written. A fake Slack webhook (a stdlib HTTP
server in a thread) receives the engine's alerts: started, bus down, bus back, stopped, and never
the secret setting the engine was given.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.envs import settings_free_env
from tests.servers import RedisServer, free_port

pytestmark = [pytest.mark.redis]

API_SECRET = "s3cr3t-api-secret-value"


class FakeSlack(BaseHTTPRequestHandler):
    texts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeSlack.texts.append(json.loads(body)["text"])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def slack_url() -> Iterator[str]:
    FakeSlack.texts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSlack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/hook"
    server.shutdown()
    server.server_close()


def posted(fragment: str) -> list[str]:
    return [t for t in FakeSlack.texts if fragment in t]


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url + "/metrics", timeout=5).text
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= set(ls)]
    assert found, f"{name} {labels or ''} is not exported"
    return sum(found)


def wait_for(
    what: str, check: Callable[[], Any], timeout_s: float, proc: subprocess.Popen[str]
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the engine exited ({proc.returncode}) waiting for {what}"
        try:
            last = check()
        except httpx.TransportError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def ready(url: str) -> httpx.Response:
    return httpx.get(url + "/ready", timeout=5)


def run_sim(cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``polyarb run --venue sim --no-display`` in ``cwd``, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "polyarb", "run", "--venue", "sim", "--no-display"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C ``proc`` if it still runs (killed after 30 s); its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    return stderr


def test_paper_run_is_observable_and_ready_follows_redis(
    own_redis: RedisServer, tmp_path: Path, slack_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = settings_free_env("DRY_RUN")
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        HEALTH_PORT=str(port),
        REDIS_URL=own_redis.url(),
        INSTANCE_ID="health-test",
        SNIPER_ENABLED="false",
        SLACK_WEBHOOK_URL=slack_url,
        SLACK_NOTIFY_ORDERS="false",
        POLY_API_SECRET=API_SECRET,
    )
    proc = run_sim(tmp_path, env)
    try:
        first = wait_for("/ready 200", lambda: (r := ready(url)).status_code == 200 and r, 30, proc)
        body = first.json()
        assert body["ready"] is True
        assert set(body["checks"]) == {"engine", "trading", "feed", "database", "bus", "breakers"}
        assert body["checks"]["bus"]["status"] == "ok"

        # The demo opens a window every 15 s (the first, a negRisk YES set, at 15 s): wait for a
        # decision and its fills.
        def traded() -> Samples | None:
            samples = scrape(url)
            done = total(samples, "polyarb_fills_total") > 0
            timed = total(samples, "polyarb_tick_to_decision_seconds_count") > 0
            return samples if done and timed else None

        m = wait_for("fills in the metrics", traded, 25, proc)
        # Feed: frames of every kind the simulator sends, nothing malformed, books checked.
        assert total(m, "polyarb_feed_frames_total") > 50
        assert total(m, "polyarb_feed_messages_total", type="book") >= 32  # one per token
        assert total(m, "polyarb_feed_messages_total", type="price_change") > 50
        assert total(m, "polyarb_feed_malformed_messages_total") == 0
        assert total(m, "polyarb_feed_connections_up") == total(m, "polyarb_feed_connections") == 1
        assert 0 <= total(m, "polyarb_feed_data_age_seconds") < 5
        assert total(m, "polyarb_books") == 32
        assert total(m, "polyarb_books_crossed") == 0
        checks = total(m, "polyarb_book_checks_total")
        assert checks > 50
        assert total(m, "polyarb_book_checks_agreed_total") == checks
        # Engine: decisions timed in microseconds to milliseconds, not seconds.
        count = total(m, "polyarb_tick_to_decision_seconds_count")
        mean = total(m, "polyarb_tick_to_decision_seconds_sum") / count
        assert 1e-6 < mean < 0.05
        assert total(m, "polyarb_tick_to_decision_seconds_bucket", le="+Inf") == count
        assert total(m, "polyarb_evaluations_total") > 0
        assert total(m, "polyarb_signals_taken_total") >= count
        assert total(m, "polyarb_trading_state", state="active") == 1
        assert total(m, "polyarb_trading_state", state="halted") == 0
        assert total(m, "polyarb_kill_switch_engaged") == 0
        # Execution and ledger: paper orders filled, fees paid, equity near the start balance.
        assert total(m, "polyarb_orders_total", mode="paper") > 0
        assert total(m, "polyarb_fills_total", mode="paper") == total(m, "polyarb_fills_total")
        notional = total(m, "polyarb_fill_notional_dollars_total")
        assert notional > 0
        # The demo's first real windows (negRisk YES set, then conversion) are on event 0, an
        # Elections event without fees (binary windows are torn views, never traded), so the
        # fees may still be 0 here; they are exported, and bounded by the highest category rate
        # (fee = rate x p(1 - p) x size <= 0.07 x notional).
        assert 0 <= total(m, "polyarb_fees_dollars_total") <= 0.07 * notional
        assert 9_000 < total(m, "polyarb_equity_dollars") < 11_000
        assert total(m, "polyarb_exposure_dollars") >= 0
        # Bus, store, breakers.
        assert total(m, "polyarb_bus_published_total") > 0
        assert total(m, "polyarb_bus_connected") == 1
        assert total(m, "polyarb_store_written_rows_total") > 0
        assert total(m, "polyarb_store_up") == 1
        for dependency in ("clob", "gamma", "espn", "database", "redis", "slack"):
            assert total(m, "polyarb_breaker_state", dependency=dependency, state="closed") == 1
        for dependency in ("gamma", "database", "redis", "slack"):  # each had its calls
            assert total(m, "polyarb_breaker_calls_total", dependency=dependency) >= 1
        assert total(m, "polyarb_slack_posts_total") >= 1  # "engine started" at least
        assert total(m, "polyarb_alerts_queued") >= 0
        assert total(m, "polyarb_slack_dropped_total") == 0
        assert total(m, "process_resident_memory_bytes") > 0

        # Redis goes away: not ready, the reason names the bus; alive all the same.
        own_redis.shutdown_nosave()
        down = wait_for(
            "/ready 503", lambda: (r := ready(url)).status_code == 503 and r, 15, proc
        ).json()
        assert down["ready"] is False
        assert down["checks"]["bus"]["status"] == "down"
        assert any(reason.startswith("bus: unreachable") for reason in down["reasons"])
        assert httpx.get(url + "/health", timeout=5).json()["status"] == "alive"
        assert total(scrape(url), "polyarb_bus_connected") == 0
        wait_for("a Slack alert: bus down", lambda: posted("bus down"), 10, proc)
        # ... and back.
        own_redis.start()
        back = wait_for(
            "/ready 200 again", lambda: (r := ready(url)).status_code == 200 and r, 20, proc
        ).json()
        assert back["checks"]["bus"]["status"] == "ok"
        assert total(scrape(url), "polyarb_bus_reconnects_total") >= 1
        wait_for("a Slack alert: bus back", lambda: posted("bus back"), 10, proc)
    finally:
        stderr = interrupt(proc)
    assert proc.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    # Slack, in order, each once: started, bus down (critical), bus back, stopped; no secret.
    heads = [t.split("\n")[0] for t in FakeSlack.texts]
    started = "health-test: engine started (paper, 16 markets, trading active)"
    assert heads[0] == f":information_source: *[info]* {started}"
    [down] = posted("bus down")
    assert down.startswith(":rotating_light: *[critical]* health-test: bus down")
    assert len(posted("bus back")) == 1
    assert heads[-1] == ":information_source: *[info]* health-test: engine stopped"
    # The daily report due at start (a fresh database: the catch-up of an idle day), once.
    assert len(posted("health-test: daily P&L report")) == 1
    assert heads.index(down.split("\n")[0]) < heads.index(posted("bus back")[0].split("\n")[0])
    assert not [t for t in FakeSlack.texts if API_SECRET in t or "/services/T0/B0/hook" in t]
