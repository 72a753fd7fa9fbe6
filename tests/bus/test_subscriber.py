"""Gap detection, resync coalescing and the multi-engine view (transport independent)."""

from __future__ import annotations

from polyarb.bus import Channel, EngineStates, Envelope, Gap, Resync, Subscription
from polyarb.bus.base import SequenceTracker

from .helpers import engine_state, error_event, take


def env(
    seq: int, instance: str = "e1", ts_ns: int = 0, channel: Channel = Channel.ERRORS
) -> Envelope:
    payload = error_event() if channel is Channel.ERRORS else engine_state(positions=0)
    return Envelope(
        channel=channel,
        instance_id=instance,
        seq=seq,
        ts_ns=ts_ns or seq,
        type=payload.TYPE,
        data=payload,
    )


def test_tracker_reports_jumps_and_restarts_per_instance_and_channel() -> None:
    tracker = SequenceTracker(clock=lambda: 42)
    assert tracker.observe(env(5)) is None  # joining mid-stream is not a gap
    assert tracker.observe(env(6)) is None
    assert tracker.observe(env(1, instance="e2")) is None
    assert tracker.observe(env(1, channel=Channel.STATE)) is None
    jump = tracker.observe(env(9))
    assert jump == Gap(
        reason="sequence",
        detected_ns=42,
        channel="poly:errors",
        instance_id="e1",
        expected=7,
        received=9,
        missed=2,
    )
    restart = tracker.observe(env(1))
    assert restart is not None
    assert (restart.reason, restart.missed) == ("restart", None)
    assert tracker.observe(env(2, instance="e2")) is None
    assert tracker.instances() == {"e1", "e2"}


async def test_reconnect_resyncs_once_and_learns_what_was_missed() -> None:
    reloads = 0

    async def reload() -> None:
        nonlocal reloads
        reloads += 1

    resync = Resync(reload)
    sub = Subscription([Channel.ERRORS, Channel.STATE], on_gap=resync)
    sub.offer(env(1))
    sub.offer(env(1, channel=Channel.STATE))
    await take(sub, 2)
    sub.offer_reconnected()
    sub.offer(env(5))  # 3 lost on errors while disconnected
    sub.offer(env(11, channel=Channel.STATE))  # 9 lost on state
    received = await take(sub, 2)

    assert [e.seq for e in received] == [5, 11]
    assert reloads == 1
    (report,) = resync.reports
    assert report.gap.reason == "reconnect"
    assert report.missed == 12
    assert sub.stats.reconnects == 1
    assert sub.stats.missed == 12

    sub.offer(env(13))  # a later jump is a new gap: reload again
    await take(sub, 1)
    assert reloads == 2
    assert resync.reports[-1].missed == 7


async def test_a_failing_reload_is_reported_and_the_stream_goes_on() -> None:
    async def reload() -> None:
        raise ConnectionError("database down")

    resync = Resync(reload)
    sub = Subscription([Channel.ERRORS], on_gap=resync)
    for seq in (1, 3, 4):
        sub.offer(env(seq))
    received = await take(sub, 3)
    assert [e.seq for e in received] == [1, 3, 4]
    assert resync.failures == 1
    assert not resync.reports[-1].ok


async def test_reconnect_marker_is_kept_even_when_the_queue_is_full() -> None:
    gaps: list[Gap] = []

    async def on_gap(gap: Gap) -> None:
        gaps.append(gap)

    sub = Subscription([Channel.ERRORS], on_gap=on_gap, max_queue=2)
    for seq in (1, 2, 3):
        sub.offer(env(seq))
    sub.offer_reconnected()
    sub.offer(env(9))  # dropped: queue still full
    await take(sub, 2)
    sub.offer(env(10))
    await take(sub, 1)
    assert [g.reason for g in gaps] == ["reconnect", "sequence"]
    assert gaps[1].after_reconnect
    assert sub.stats.dropped == 2


def test_engine_states_keeps_the_newest_state_per_engine() -> None:
    now = 10_000_000_000

    def clock() -> int:
        return now

    states = EngineStates(stale_after_s=2.0, clock=clock)
    assert states.update(env(2, "a", ts_ns=200, channel=Channel.STATE))
    assert not states.update(env(1, "a", ts_ns=100, channel=Channel.STATE))  # late, older
    assert states.update(env(1, "a", ts_ns=300, channel=Channel.STATE))  # engine restarted
    assert not states.update(env(3, "b"))  # not a state
    assert states.update(env(1, "b", ts_ns=50, channel=Channel.STATE))
    assert states.instances() == ["a", "b"]
    assert states.latest["a"].envelope.ts_ns == 300
    assert not states.is_stale("a")
    now += 3_000_000_000
    assert states.is_stale("a")
    assert states.is_stale("never-seen")
