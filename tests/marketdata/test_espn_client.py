"""EspnClient against a real HTTP server on 127.0.0.1:0 serving the fixture scoreboards under a
path prefix (as the simulator's ``/espn`` does)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from polyarb.domain.errors import ConfigError, Transient
from polyarb.marketdata.espn import EspnClient

ESPN = Path(__file__).resolve().parents[1] / "fixtures" / "espn"
ROUTES = {
    "/espn/apis/site/v2/sports/basketball/nba/scoreboard": (
        ESPN / "nba_scoreboard_in_progress_playoffs_2026-05-02.json"
    ).read_bytes(),
    "/espn/apis/site/v2/sports/soccer/fifa.world/scoreboard": (
        ESPN / "soccer_fifa_world_scoreboard_full_time_2026-06-11.json"
    ).read_bytes(),
    "/espn/apis/site/v2/sports/basketball/wnba/scoreboard": (
        ESPN / "wnba_scoreboard_final_trimmed_2025-07-06.json"
    ).read_bytes(),
}


class FakeEspn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.failures = 0  # answer this many requests with 503 first
        self.routes = dict(ROUTES)
        self.headers: dict[str, str] = {}  # e.g. a CDN's Date and Age
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                outer.requests.append((url.path, parse_qs(url.query)))
                if outer.failures:
                    outer.failures -= 1
                    status, payload = 503, b"unavailable"
                elif url.path in outer.routes:
                    status, payload = 200, outer.routes[url.path]
                else:
                    status, payload = 404, b'{"code":404}'
                if "Date" in outer.headers:
                    self.send_response_only(status)  # our Date, not the server's own
                else:
                    self.send_response(status)
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def espn() -> Iterator[tuple[FakeEspn, str]]:
    server = FakeEspn()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/espn/"
    server.shutdown()
    server.server_close()


async def test_scoreboard_by_league_key(espn: tuple[FakeEspn, str]) -> None:
    server, url = espn
    async with EspnClient(url, backoff_s=0.001) as client:
        [nba] = await client.scoreboard("nba")
        soccer = await client.scoreboard("worldcup", day=date(2026, 6, 11))
    assert nba.game_id == "401869412"
    assert nba.league == "nba"
    assert nba.state == "in"
    assert [g.winner.name if g.winner else None for g in soccer] == ["Mexico", "South Korea"]
    assert server.requests[0] == ("/espn/apis/site/v2/sports/basketball/nba/scoreboard", {})
    assert server.requests[1][1] == {"dates": ["20260611"]}


async def test_5xx_is_retried(espn: tuple[FakeEspn, str]) -> None:
    server, url = espn
    server.failures = 2
    async with EspnClient(url, backoff_s=0.001, max_attempts=3) as client:
        games = await client.scoreboard("wnba")
    assert len(games) == 2
    assert len(server.requests) == 3


async def test_malformed_event_is_counted_not_fatal(espn: tuple[FakeEspn, str]) -> None:
    server, url = espn
    data = json.loads(ROUTES["/espn/apis/site/v2/sports/basketball/wnba/scoreboard"])
    data["events"][1]["competitions"][0]["competitors"] = []
    server.routes["/espn/apis/site/v2/sports/basketball/wnba/scoreboard"] = json.dumps(
        data
    ).encode()
    async with EspnClient(url) as client:
        games = await client.scoreboard("wnba")
        assert [g.game_id for g in games] == ["401736228"]
        assert client.skipped_events == 1


async def test_unknown_league_is_refused_before_any_request(espn: tuple[FakeEspn, str]) -> None:
    server, url = espn
    async with EspnClient(url) as client:
        with pytest.raises(ConfigError, match="unknown league"):
            await client.scoreboard("quidditch")
    assert server.requests == []


async def test_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with EspnClient(f"http://127.0.0.1:{port}", backoff_s=0.001, max_attempts=2) as c:
        with pytest.raises(Transient) as info:
            await c.scoreboard("nba")
    assert str(info.value).startswith(
        f"ESPN scoreboard unreachable at http://127.0.0.1:{port}/apis/site/v2/sports/"
        "basketball/nba/scoreboard after 2 attempts"
    )


async def test_games_carry_when_their_data_was_current(espn: tuple[FakeEspn, str]) -> None:
    """The body has no time of its own: the games are stamped with the response's Date less
    the Age a CDN cache held it (a cached scoreboard is older than it looks)."""
    server, url = espn
    before = time.time_ns()
    async with EspnClient(url, backoff_s=0) as client:
        [fresh] = await client.scoreboard("nba")
        assert fresh.as_of_ns is not None
        # The server's own Date: now, to the second.
        assert before - 1_000_000_000 < fresh.as_of_ns <= time.time_ns()
        sent = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=100)
        server.headers = {"Date": format_datetime(sent, usegmt=True), "Age": "30"}
        [cached] = await client.scoreboard("nba")
    assert cached.as_of_ns == int(sent.timestamp() - 30) * 1_000_000_000
