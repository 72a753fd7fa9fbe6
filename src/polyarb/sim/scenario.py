"""What to simulate: markets, arbitrage windows, faults, games; and synthetic recordings.

A scenario is deterministic given its seed: the same config produces the same frames in the same
order (the frames' wall-clock timestamps aside). Times are scenario seconds since the simulator
started (pausing the simulator stops that clock).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args

import orjson

WindowKind = Literal["binary", "negrisk", "negrisk_convert"]
WINDOW_KINDS: tuple[WindowKind, ...] = get_args(WindowKind)
FaultKind = Literal[
    "disconnect",
    "freeze",
    "malformed",
    "duplicate",
    "out_of_order",
    "tick_size_change",
    "chain_drop",
    "chain_revert",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


@dataclass(frozen=True)
class ArbWindow:
    """A transient arbitrage the scenario opens at ``start_s`` for ``duration_s`` seconds.

    negrisk: the YES asks of event ``target``'s outcomes sum to 1 - ``edge``, ``depth`` shares at
    each of those prices, then revert. binary: a TORN VIEW, not an arbitrage: the matching book
    moves (its best bid is pulled, an ask appears ``edge`` below it) while the stream holds back
    the NO token's entries, so a client sees best YES ask + best NO ask = 1 - ``edge`` with
    ``depth`` shares on both and neither book crossed; the venue's REST answers show the one
    matching book (no edge); at the end the NO token's book is re-sent. negrisk_convert: the YES
    bids of event ``target``'s outcomes sum to 1 + ``edge`` (``depth`` shares at each), so their
    mirrors, the NO asks, sum to n - 1 - ``edge``: NO of every outcome costs less than the n - 1
    a conversion returns; then the bids revert. ``edge`` must be a multiple of the target's tick.
    """

    kind: WindowKind
    target: int  # index of the binary market / negRisk event
    start_s: float
    duration_s: float
    edge: Decimal
    depth: Decimal

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise ValueError(
                f"ArbWindow.kind must be one of {', '.join(WINDOW_KINDS)}, not {self.kind!r}"
            )
        if self.target < 0 or self.start_s < 0 or self.duration_s <= 0:
            raise ValueError(f"ArbWindow needs target >= 0, start_s >= 0, duration_s > 0: {self}")
        if not 0 < self.edge < 1 or self.depth <= 0:
            raise ValueError(f"ArbWindow needs 0 < edge < 1 and depth > 0: {self}")


@dataclass(frozen=True)
class Fault:
    """A wire fault at scenario second ``at_s``.

    disconnect: every client connection is dropped abruptly. freeze: live connections receive
    nothing (not even PONG) for ``duration_s``; new connections are served. malformed /
    duplicate / out_of_order: the next ``count`` frames are bad JSON or wrong types / sent
    twice / swapped with the next frame of the same market. tick_size_change: binary market
    ``count - 1`` changes tick (0.01 <-> 0.001), then its books are re-sent. chain_drop: the
    Polygon node takes transactions but gives no receipt for ``duration_s`` (then mines them):
    dropped receipts. chain_revert: the next ``count`` transactions revert on chain.
    """

    kind: FaultKind
    at_s: float
    duration_s: float = 0.0
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"Fault.kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}"
            )
        if self.at_s < 0 or self.duration_s < 0 or self.count < 1:
            raise ValueError(f"Fault needs at_s >= 0, duration_s >= 0, count >= 1: {self}")


@dataclass(frozen=True)
class ScenarioConfig:
    seed: int = 7
    binary_markets: int = 4
    negrisk_events: int = 1
    outcomes_per_event: int = 4
    levels: int = 10  # price levels per book side
    updates_per_s: float = 50.0  # market events (frames) per second, all markets together
    windows: tuple[ArbWindow, ...] = ()
    faults: tuple[Fault, ...] = ()
    games: int = 0  # ESPN games, each with a moneyline market whose outcomes are the team names
    # --- additions beyond the interface (all optional) ---
    window_every_s: float = 0.0  # > 0: also open a seeded window every so many seconds
    closed_markets: int = 1  # resolved markets listed by Gamma (no books; filters must drop them)
    game_start_s: float = 10.0  # first game's start; later games every game_spacing_s
    game_spacing_s: float = 20.0
    game_duration_s: float = 30.0
    reprice_delay_s: float = 5.0  # a final game's winner reprices towards 1 this much later
    # Seeded windows (window_every_s) also include negRisk conversion windows (negrisk_convert).
    convert_windows: bool = False
    # Other traders take a window's cheap level after a lognormal delay of this median (ms) and
    # log-space sigma; 0 = nobody else trades windows (deterministic tests).
    taker_median_ms: float = 0.0
    taker_sigma: float = 1.0
    # True: no trades or book re-sends touch a window's markets while it is open (exact depth
    # for tests); the venue is not like that.
    fenced_windows: bool = False
    # Game markets hold marketable orders this long (``secondsDelay``, as in-play sports
    # markets do on the venue).
    game_taker_delay_s: int = 3
    # > 0: markets' shares of the update stream follow Zipf's law with this exponent (rank k
    # gets 1 / k ** exponent); 0: each market's share is lognormal around 1 (small scenarios).
    activity_zipf: float = 0.0
    # > 0: bursts (news, a goal) start on average every so many seconds (exponential gaps); for
    # ``burst_s`` the update rate is ``burst_factor`` times ``updates_per_s``.
    burst_every_s: float = 0.0
    burst_s: float = 2.0
    burst_factor: float = 4.0

    def __post_init__(self) -> None:
        counts = {
            "binary_markets": self.binary_markets,
            "negrisk_events": self.negrisk_events,
            "games": self.games,
            "closed_markets": self.closed_markets,
        }
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"ScenarioConfig.{name} must be >= 0, got {value}")
        if self.outcomes_per_event < 2:
            raise ValueError("ScenarioConfig.outcomes_per_event must be >= 2")
        if self.levels < 1:
            raise ValueError("ScenarioConfig.levels must be >= 1")
        if self.updates_per_s <= 0:
            raise ValueError("ScenarioConfig.updates_per_s must be > 0")
        if self.window_every_s < 0 or self.reprice_delay_s < 0 or self.game_duration_s <= 0:
            raise ValueError(
                "ScenarioConfig: window_every_s, reprice_delay_s must be >= 0, game_duration_s > 0"
            )
        if self.game_taker_delay_s < 0:
            raise ValueError("ScenarioConfig.game_taker_delay_s must be >= 0")
        if self.activity_zipf < 0 or self.burst_every_s < 0:
            raise ValueError("ScenarioConfig: activity_zipf and burst_every_s must be >= 0")
        if self.burst_s <= 0 or self.burst_factor < 1:
            raise ValueError("ScenarioConfig: burst_s must be > 0 and burst_factor >= 1")
        if self.taker_median_ms < 0 or self.taker_sigma < 0:
            raise ValueError("ScenarioConfig: taker_median_ms and taker_sigma must be >= 0")
        for w in self.windows:
            limit = self.binary_markets if w.kind == "binary" else self.negrisk_events
            if w.target >= limit:
                raise ValueError(f"{w.kind} window target {w.target} out of range (have {limit})")
        if self.binary_markets == 0 and any(f.kind == "tick_size_change" for f in self.faults):
            raise ValueError("a tick_size_change fault needs at least one binary market")


# The offline demo: a window every 15 s (binary torn views, negRisk YES sets and negRisk
# conversions in turn, edges 0.04-0.06 so that they pay after fees), other traders taking
# windows after ~300 ms (median), two games whose winners stay mispriced for 5 s after the final
# whistle (finals at 40 s and 60 s). Every strategy sees an opportunity within the first minute;
# only the negRisk windows and the Sniper's games are real.
DEMO_SCENARIO = ScenarioConfig(
    games=2, window_every_s=15.0, convert_windows=True, taker_median_ms=300.0
)

RECORDING_START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _frame_line(recv_ns: int, text: str) -> bytes:
    """A frames line of format 2 (a frame holding a newline: format 1, a JSON object)."""
    if "\n" in text:
        return orjson.dumps({"recv_ns": recv_ns, "raw": text})
    return b"%d %s" % (recv_ns, text.encode())


def generate_recording(
    out_dir: Path,
    *,
    frames: int,
    markets: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write a synthetic recording (DESIGN.md section 4): ``markets.json`` + ``frames.jsonl.gz``.

    About ``markets`` Gamma markets (4 in 5 plain binaries, the rest grouped in negRisk events of 4
    outcomes), each frame one venue event: price changes of 1-5 levels on both tokens, trades,
    re-sent books, starting with the subscription snapshot arrays. ``recv_ns`` follows the
    frames' timestamps plus a small receive latency. ``progress`` is called with frames written.
    Returns ``out_dir``.
    """
    from polyarb.sim.generator import build_scenario  # generator imports this module

    if frames < 1 or markets < 2:
        raise ValueError("generate_recording needs frames >= 1 and markets >= 2")
    outcome_markets = markets // 5
    events = outcome_markets // 4
    config = ScenarioConfig(
        seed=seed,
        binary_markets=markets - 4 * events,
        negrisk_events=events,
        outcomes_per_event=4,
        levels=12,
        updates_per_s=2000.0,
        closed_markets=0,
    )
    driver = build_scenario(config, epoch=RECORDING_START)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "markets.json").write_bytes(
        orjson.dumps(driver.gamma_markets(), option=orjson.OPT_INDENT_2)
    )
    start_ns = int(RECORDING_START.timestamp() * 1e9)
    latency_rng = driver.latency_rng
    written = 0
    with gzip.open(out_dir / "frames.jsonl.gz", "wb", compresslevel=1) as out:
        out.write(b"#polyarb-frames 2\n")  # the recording format: "<recv_ns> <frame>" lines
        tokens = driver.venue.catalog.live_token_ids()
        for shard in range(0, len(tokens), 200):
            raw = driver.venue.snapshot_text(tokens[shard : shard + 200], start_ns // 1_000_000)
            out.write(_frame_line(start_ns + 40_000_000, raw) + b"\n")
            written += 1
        batch: list[bytes] = []
        horizon = 0.0
        last_recv_ns = start_ns + 40_000_000
        while written < frames:
            horizon += 1.0
            for frame in driver.advance_to(horizon):
                # Received in order: a frame is never received before the one sent ahead of it.
                recv_ns = frame.ts_ms * 1_000_000 + latency_rng.randrange(5_000_000, 60_000_000)
                recv_ns = last_recv_ns = max(recv_ns, last_recv_ns + 1_000)
                batch.append(_frame_line(recv_ns, frame.text))
                written += 1
                if written >= frames:
                    break
            out.write(b"\n".join(batch) + b"\n")
            batch.clear()
            if progress is not None:
                progress(written)
    return out_dir
