"""The whole venue as one scenario: thousands of markets, Zipf activity, bursts, a rate factor.

The model (``whole_venue``), for ``tokens`` tokens (two per market):

- markets: 4 in 5 plain binaries (a third of them on a 0.001 grid), the rest the outcomes of
  negRisk events of 4 outcomes each, like the synthetic recordings;
- activity: Zipf's law across markets (exponent 1): the market of rank k gets a share proportional
  to 1 / k, so with 5,000 markets the busiest carries ~11 % of the stream, the top 50 about half,
  and the median market one event every ~23 s at 1x (the busiest ~110 per second);
- rate: ``MODELLED_EVENTS_PER_TOKEN_S`` market events per token per second between bursts (each
  event one frame on the wire: a ``price_change`` of 1-5 levels on both tokens, or a trade with
  its level change, or a re-sent ``book``), times ``rate``;
- bursts: on average every ``BURST_EVERY_S`` seconds (exponential gaps) the rate is
  ``BURST_FACTOR`` times higher for ``BURST_S`` seconds (news, a goal, an election call).

1x is an assumption, not a measurement: the recorded fixtures hold single messages, no stream, so
they give shapes but no rates. 0.1 events per token per second is 1,000 frames/s between bursts
over 10,000 tokens (~1,270/s on average with the bursts): a busy day on the venue as we model it;
the bench runs it at 1x, 3x and 10x.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from polyarb.sim.generator import build_scenario
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.venue import Frame

MODELLED_EVENTS_PER_TOKEN_S = 0.1
ZIPF_EXPONENT = 1.0
BURST_EVERY_S = 20.0
BURST_S = 2.0
BURST_FACTOR = 4.0
OUTCOMES_PER_EVENT = 4


def mean_rate_factor() -> float:
    """The long-run mean of the burst multiplier (bursts start after a gap of BURST_EVERY_S)."""
    return 1 + (BURST_FACTOR - 1) * BURST_S / (BURST_EVERY_S + BURST_S)


def whole_venue(
    tokens: int = 10_000,
    rate: float = 1.0,
    *,
    seed: int = 16,
    window_every_s: float = 0.0,
    bursts: bool = True,
) -> ScenarioConfig:
    """The scenario of a venue of ``tokens`` tokens (rounded down to whole markets and events)
    at ``rate`` times the modelled live rate; ``window_every_s`` > 0 also opens seeded arbitrage
    windows (negRisk sets, conversions, torn binary views) so that decisions happen."""
    if tokens < 2 or rate <= 0:
        raise ValueError("whole_venue needs tokens >= 2 and rate > 0")
    markets = tokens // 2
    events = markets // 5 // OUTCOMES_PER_EVENT
    binary = markets - OUTCOMES_PER_EVENT * events
    return ScenarioConfig(
        seed=seed,
        binary_markets=binary,
        negrisk_events=events,
        outcomes_per_event=OUTCOMES_PER_EVENT,
        updates_per_s=2 * markets * MODELLED_EVENTS_PER_TOKEN_S * rate,
        window_every_s=window_every_s,
        convert_windows=window_every_s > 0,
        closed_markets=0,
        activity_zipf=ZIPF_EXPONENT,
        burst_every_s=BURST_EVERY_S if bursts else 0.0,
        burst_s=BURST_S,
        burst_factor=BURST_FACTOR,
    )


class Prerendered:
    """A scenario's frames rendered ahead of time by a twin of the serving driver, then served at
    their scenario times, each stamped with the wall clock when it goes out.

    Rendering costs ~50-100 µs a frame in Python, so one core cannot generate 10,000+ frames a
    second live; rendered first, the simulator's live work is the fan-out and the socket writes,
    and a load test measures the client rather than the generator. The twin (same config, same
    seed) starts from the same catalog and books as the serving venue, whose books stay as they
    were at the start: subscribe before the stream starts (``SimServer.pause`` until then) so
    that the snapshots and the stream agree. REST answers those initial books.
    """

    def __init__(self, config: ScenarioConfig, horizon_s: float, epoch: datetime) -> None:
        twin = build_scenario(config, epoch=epoch)
        start_ms = twin.start_ms
        self.frames: list[tuple[float, Frame]] = []
        t = 0.0
        while t < horizon_s:
            t = min(horizon_s, t + 1.0)
            for frame in twin.advance_to(t):  # stamped epoch + event time
                self.frames.append(((frame.ts_ms - start_ms) / 1000, frame))
        self._next = 0

    def next_due_s(self) -> float:
        frames = self.frames
        return frames[self._next][0] if self._next < len(frames) else float("inf")

    def advance_to(
        self, t_s: float, now_ms: int | None = None, max_frames: int | None = None
    ) -> list[Frame]:
        out: list[Frame] = []
        frames, i = self.frames, self._next
        end = len(frames) if max_frames is None else min(len(frames), i + max_frames)
        while i < end and frames[i][0] <= t_s:
            frame = frames[i][1]
            if now_ms is not None and frame.ts_ms:
                text = frame.text.replace(f'"timestamp":"{frame.ts_ms}"', f'"timestamp":"{now_ms}"')
                frame = replace(frame, text=text, ts_ms=now_ms)
            out.append(frame)
            i += 1
        self._next = i
        return out
