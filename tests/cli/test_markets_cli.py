"""`polyarb markets` through typer's CliRunner against a Gamma served on 127.0.0.1:0."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from polyarb.cli import app
from polyarb.marketdata.gamma import decode_json, encode_json

GAMMA = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "gamma"


def fixture(name: str) -> Any:
    data = decode_json((GAMMA / name).read_bytes())
    return data["body"] if isinstance(data, dict) and "_captured" in data else data


def catalog() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fed = fixture("gamma_market_negrisk_fed_live_2026-10-02_wrapped.json")
    fed["negRisk"] = False  # served as a plain binary here, so it is listed alone
    crypto = fixture("gamma_market_crypto_updown_5m_2026-03.json")
    broken = copy.deepcopy(crypto) | {"id": "666", "slug": "broken", "conditionId": "0x66"}
    broken["clobTokenIds"] = '["1"]'
    closed = fixture("gamma_market_closed_resolved_yes.json")
    events = fixture("gamma_events_negrisk_election_2026-03.json")
    return [fed, crypto, broken, closed], events


class Gamma(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        markets, events = catalog()
        routes = {"/gamma/markets": markets, "/gamma/events": events}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                items = routes.get(url.path, [])
                if query.get("closed") == ["false"]:
                    items = [i for i in items if not i.get("closed")]
                if "slug" in query:
                    items = [i for i in items if i.get("slug") in query["slug"]]
                offset, limit = int(query["offset"][0]), int(query["limit"][0])
                body = encode_json(items[offset : offset + limit])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def gamma_url() -> Iterator[str]:
    server = Gamma()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/gamma"
    server.shutdown()
    server.server_close()


def run(*args: str, **env: str) -> Any:
    return CliRunner().invoke(app, ["markets", *args], env={"LOG_LEVEL": "error", **env})


def test_json_lists_the_tradable_universe(gamma_url: str) -> None:
    result = run("--json", POLY_GAMMA_URL=gamma_url)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["skipped_malformed"] == 1
    assert data["total_markets"] == 4  # 2 binaries + the 2 legs of the negRisk event
    by_slug = {m["slug"]: m for m in data["markets"]}
    fed = by_slug[
        "will-there-be-no-change-in-fed-interest-rates-after-the-october-2026-meeting-20260617190324031"
    ]
    yes_token = "111061902544814266207267295505639408607400625795891618462682726460921782993748"
    no_token = "42038775866198212615491650114881818219665139981763207699110491615333273795415"
    assert fed["outcomes"] == [
        {"label": "Yes", "token_id": yes_token},
        {"label": "No", "token_id": no_token},
    ]
    assert fed["tick_size"] == "0.01"
    assert fed["min_order_size"] == "5"
    assert fed["fees"] == {
        "rate": "0.05",
        "exponent": 1,
        "taker_only": True,
        "rebate_rate": "0.25",
        "known": True,
    }
    assert fed["liquidity"] == "820476.0282"
    assert fed["end_date"] == "2026-10-29T03:59:00+00:00"
    assert by_slug["btc-updown-5m-1773307200"]["fees"]["rate"] == "0.072"
    assert "russia-x-ukraine-ceasefire-by-end-of-2027" not in by_slug  # closed
    [event] = data["events"]
    assert event["event_id"] == "30829"
    # augmented (negRiskAugmented): a placeholder may win, NO of the named legs still converts
    assert event["complete_set"] is False
    assert event["augmented"] is True
    assert event["convertible"] is True
    assert set(event["condition_ids"]) <= {m["condition_id"] for m in data["markets"]}
    legs = [m for m in data["markets"] if m["event_id"] == "30829"]
    assert all(m["neg_risk"] for m in legs)
    assert len(legs) == 2
    # ordered by 24 h volume: the Fed market (695k) first
    assert data["markets"][0]["slug"] == fed["slug"]


def test_limit_and_filters_from_settings(gamma_url: str) -> None:
    result = run("--json", "--limit", "1", POLY_GAMMA_URL=gamma_url)
    data = json.loads(result.stdout)
    assert len(data["markets"]) == 1
    assert data["total_markets"] == 4
    assert data["events"] == []  # the event's legs are not among those shown

    result = run("--json", POLY_GAMMA_URL=gamma_url, MARKETS_SLUGS="btc-updown-5m-1773307200")
    assert [m["slug"] for m in json.loads(result.stdout)["markets"]] == ["btc-updown-5m-1773307200"]
    result = run(
        "--json", POLY_GAMMA_URL=gamma_url, MARKETS_INCLUDE_NEG_RISK="false", MARKETS_MAX="1"
    )
    assert [m["neg_risk"] for m in json.loads(result.stdout)["markets"]] == [False]
    result = run("--json", POLY_GAMMA_URL=gamma_url, MARKETS_MIN_LIQUIDITY="800000")
    liquidity = [Decimal(m["liquidity"]) for m in json.loads(result.stdout)["markets"]]
    assert liquidity[0] == Decimal("820476.0282")
    # a negRisk event is judged on its legs together (400500.67 + 573479.49 here)
    assert sorted(liquidity[1:]) == [Decimal("400500.66675"), Decimal("573479.49303")]
    result = run("--json", POLY_GAMMA_URL=gamma_url, MARKETS_MIN_LIQUIDITY="900000")
    assert [m["event_id"] for m in json.loads(result.stdout)["markets"]] == ["30829", "30829"]


def test_table(gamma_url: str) -> None:
    result = CliRunner().invoke(
        app, ["markets"], env={"POLY_GAMMA_URL": gamma_url, "COLUMNS": "250", "LOG_LEVEL": "error"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "4 markets, 1 negRisk events, 1 malformed skipped" in out
    assert "Will there be no change in Fed interest rates" in out
    assert "Yes: 111061…3748" in out  # token ids truncated in the table
    assert "democratic-presidential-nominee-2028" in out
    assert "0.072" in out
    assert "820476.0282" in out


def test_unreachable_gamma_is_one_line_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(POLY_GAMMA_URL=f"http://127.0.0.1:{port}")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"polyarb: error: Gamma API unreachable at http://127.0.0.1:{port}")
    assert "Traceback" not in result.output


def test_bad_settings_and_arguments() -> None:
    result = run(MARKETS_MAX="0")
    assert result.exit_code == 2
    assert "MARKETS_MAX" in result.stderr
    result = run("--venue", "kalshi")
    assert result.exit_code == 2


def test_sim_venue() -> None:
    result = run("--json", "--venue", "sim")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["markets"], "the simulator lists markets"
    assert all(len(o["token_id"]) > 12 for m in data["markets"] for o in m["outcomes"])
