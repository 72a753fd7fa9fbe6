"""Scenario determinism, configuration checks and synthetic recordings."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tests.recording_lines import frame_records

from polyarb.sim import Fault, ScenarioConfig, SimServer, generate_recording
from polyarb.sim.generator import build_scenario

EPOCH = datetime(2026, 5, 1, 12, tzinfo=UTC)


def frames_of(config: ScenarioConfig, seconds: float) -> list[str]:
    driver = build_scenario(config, epoch=EPOCH)
    return [f.text for f in driver.advance_to(seconds)]


def test_same_seed_same_frames_however_time_is_sliced() -> None:
    config = ScenarioConfig(seed=4, games=1, window_every_s=1.0, updates_per_s=300.0)
    whole = frames_of(config, 3.0)
    driver = build_scenario(config, epoch=EPOCH)
    sliced = [f.text for k in range(1, 31) for f in driver.advance_to(k / 10)]
    assert whole == sliced
    assert len(whole) > 600
    assert frames_of(ScenarioConfig(seed=5, games=1, window_every_s=1.0), 3.0) != whole


async def test_servers_with_the_same_seed_list_the_same_venue() -> None:
    config = ScenarioConfig(seed=8, binary_markets=2, games=1)
    a, b = SimServer(config), SimServer(config)
    assert a.token_ids() == b.token_ids()
    for token in a.token_ids():  # the same initial books
        assert a.truth(token).snapshot_levels() == b.truth(token).snapshot_levels()
    assert (
        a.truth(a.token_ids()[0]).snapshot_levels() != b.truth(a.token_ids()[2]).snapshot_levels()
    )
    async with a, b:
        assert a.port != b.port
        ids = [(m["conditionId"], m["clobTokenIds"]) for m in a.gamma_markets()]
        assert ids == [(m["conditionId"], m["clobTokenIds"]) for m in b.gamma_markets()]


def test_price_changes_carry_one_to_five_level_changes_on_the_grid() -> None:
    driver = build_scenario(ScenarioConfig(seed=2, binary_markets=6), epoch=EPOCH)
    counts = set()
    for frame in driver.advance_to(20.0):
        event = json.loads(frame.text)
        if event["event_type"] != "price_change":
            continue
        market = driver.catalog.by_condition[event["market"]]
        counts.add(len(event["price_changes"]) // 2)
        for entry in event["price_changes"]:
            price, size = Decimal(entry["price"]), Decimal(entry["size"])
            assert price % (Decimal(market.tick) / 10_000) == 0
            assert 0 < price < 1
            assert size == size.quantize(Decimal("0.01"))
            assert size >= 0
    assert counts == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"binary_markets": -1}, "binary_markets"),
        ({"outcomes_per_event": 1}, "outcomes_per_event"),
        ({"updates_per_s": 0}, "updates_per_s"),
        ({"binary_markets": 0, "faults": (Fault("tick_size_change", 1.0),)}, "binary market"),
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScenarioConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_faults_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Fault\.kind"):
        Fault("meteor", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        Fault("duplicate", 1.0, count=0)


def read_lines(path: Path) -> list[dict[str, object]]:
    return [{"recv_ns": ns, "raw": raw} for ns, raw in frame_records(path / "frames.jsonl.gz")]


def test_generate_recording_writes_the_design_format(tmp_path: Path) -> None:
    out = generate_recording(tmp_path / "rec", frames=3000, markets=25, seed=3)
    assert out == tmp_path / "rec"
    markets = json.loads((out / "markets.json").read_text())
    assert len(markets) == 25
    assert all(isinstance(m["clobTokenIds"], str) for m in markets)
    assert sum(m["negRisk"] for m in markets) == 4  # one negRisk event of 4 outcomes
    with gzip.open(out / "frames.jsonl.gz", "rb") as stream:
        assert stream.readline() == b"#polyarb-frames 2\n"  # format 2: "<recv_ns> <frame>"
        assert not stream.readline().startswith(b"{")
    lines = read_lines(out)
    assert len(lines) == 3000
    assert all(set(line) == {"recv_ns", "raw"} for line in lines)
    recv = [line["recv_ns"] for line in lines]
    assert all(isinstance(r, int) for r in recv)
    assert recv == sorted(recv)
    first = json.loads(str(lines[0]["raw"]))
    assert isinstance(first, list)
    assert first[0]["event_type"] == "book"
    tokens = {t for m in markets for t in json.loads(m["clobTokenIds"])}
    kinds: dict[str, int] = {}
    for line in lines[1:]:
        event = json.loads(str(line["raw"]))
        kinds[event["event_type"]] = kinds.get(event["event_type"], 0) + 1
        named = [e["asset_id"] for e in event.get("price_changes", [])] + [event.get("asset_id")]
        assert {a for a in named if a is not None} <= tokens
    assert kinds["price_change"] > 2500
    assert kinds["book"] > 10
    assert kinds["last_trade_price"] > 50
    again = generate_recording(tmp_path / "again", frames=3000, markets=25, seed=3)
    assert read_lines(again) == lines  # deterministic given the seed
