import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EngineState, Envelope, Snapshot, StreamMessage } from "../api/live-types";
import { applyFrame, EMPTY, isStale, SequenceTracker, STALE_AFTER_MS, Throttle } from "./stream";

function state(status: string, realized: string): EngineState {
  return {
    status,
    trading_state: "active",
    kill_switch: false,
    kill_switch_reason: "",
    mode: "paper",
    started_ns: 1,
    markets_tracked: 2,
    books_tracked: 4,
    books_stale: 0,
    opportunities: [],
    opportunities_total: 0,
    positions: [],
    positions_total: 0,
    pnl: { day: "2026-12-03", realized, unrealized: "0", fees: "0", trades: 0 },
    counters: { frames: 0, signals: 0, orders: 0, fills: 0 },
    strategies: [],
    bus_connected: true,
  };
}

function envelope(channel: string, data: unknown, instance = "engine-1"): Envelope {
  return { channel, instance_id: instance, seq: 1, ts_ns: 1, type: "x", data };
}

function snapshot(seq: number, realized = "1.00", stale = false): StreamMessage {
  const data: Snapshot = {
    engines: { "engine-1": { state: state("running", realized), stale, seq: 9 } },
    signals: [],
    trades: [envelope("poly:trades", { kind: "fill", n: 1 }), envelope("poly:trades", { n: 2 })],
    errors: [],
    ts_ns: 1,
  };
  return { seq, kind: "snapshot", data };
}

function event(seq: number, env: Envelope): StreamMessage {
  return { seq, kind: "event", data: env };
}

describe("applyFrame", () => {
  it("starts from the snapshot and applies the events that follow it in order", () => {
    const tracker = new SequenceTracker();
    const first = applyFrame(tracker, EMPTY, [snapshot(10)], 1000);
    expect(first.resync).toBeNull();
    expect(first.data.engines["engine-1"]?.state.pnl.realized).toBe("1.00");
    // The snapshot's trades arrive oldest first; the page lists newest first.
    expect(first.data.trades.map((t) => (t.data as { n: number }).n)).toEqual([2, 1]);
    const next = applyFrame(
      tracker,
      first.data,
      [
        event(11, envelope("poly:state", state("paused", "2.50"))),
        event(12, envelope("poly:trades", { n: 3 })),
      ],
      1100,
    );
    expect(next.resync).toBeNull();
    expect(next.data.engines["engine-1"]?.state.status).toBe("paused");
    expect(next.data.engines["engine-1"]?.state.pnl.realized).toBe("2.50");
    expect(next.data.trades.map((t) => (t.data as { n: number }).n)).toEqual([3, 2, 1]);
    expect([...next.channels].sort()).toEqual(["poly:state", "poly:trades"]);
  });

  it("skips messages the snapshot already holds", () => {
    const tracker = new SequenceTracker();
    const start = applyFrame(tracker, EMPTY, [snapshot(10, "1.00")], 0);
    const old = applyFrame(
      tracker,
      start.data,
      [event(9, envelope("poly:state", state("stopped", "9")))],
      0,
    );
    expect(old.resync).toBeNull();
    expect(old.data.engines["engine-1"]?.state.status).toBe("running");
    expect(tracker.position).toBe(10);
  });

  it("asks for a resync on a jump in the sequence, then follows the new numbers", () => {
    const tracker = new SequenceTracker();
    const start = applyFrame(tracker, EMPTY, [snapshot(10)], 0);
    const gap = applyFrame(tracker, start.data, [event(13, envelope("poly:trades", { n: 9 }))], 0);
    expect(gap.resync).toMatch(/sequence gap: expected 11, got 13/);
    expect(gap.channels.has("*")).toBe(true);
    const after = applyFrame(tracker, gap.data, [event(14, envelope("poly:trades", { n: 10 }))], 0);
    expect(after.resync).toBeNull();
    expect(after.data.trades[0]?.data).toEqual({ n: 10 });
  });

  it("asks for a resync when the dashboard says it missed messages", () => {
    const tracker = new SequenceTracker();
    const start = applyFrame(tracker, EMPTY, [snapshot(1)], 0);
    const resync: StreamMessage = {
      seq: 2,
      kind: "resync",
      data: { reason: "gap", channel: "poly:trades" },
    };
    expect(applyFrame(tracker, start.data, [resync], 0).resync).toMatch(/missed messages \(gap\)/);
  });

  it("treats an event before any snapshot as a gap", () => {
    const tracker = new SequenceTracker();
    expect(applyFrame(tracker, EMPTY, [event(5, envelope("poly:trades", {}))], 0).resync).toMatch(
      /gap/,
    );
  });

  it("marks an engine stale when its state stops arriving, or was stale already", () => {
    const tracker = new SequenceTracker();
    const fresh = applyFrame(tracker, EMPTY, [snapshot(1)], 10_000).data.engines["engine-1"];
    expect(fresh && isStale(fresh, 10_000 + STALE_AFTER_MS - 1)).toBe(false);
    expect(fresh && isStale(fresh, 10_000 + STALE_AFTER_MS + 1)).toBe(true);
    const stale = applyFrame(new SequenceTracker(), EMPTY, [snapshot(1, "0", true)], 10_000).data
      .engines["engine-1"];
    expect(stale && isStale(stale, 10_000)).toBe(true);
  });
});

describe("Throttle", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs at once, then at most once per interval however often asked", () => {
    const run = vi.fn();
    const throttle = new Throttle(250, run);
    throttle.request();
    expect(run).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 100; i++) {
      throttle.request();
      vi.advanceTimersByTime(10); // 100 requests over 1 s
    }
    // 1 s of requests at 100 Hz: the first at once, then one per 250 ms.
    expect(run.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(run.mock.calls.length).toBeLessThanOrEqual(5);
    vi.advanceTimersByTime(300);
    const settled = run.mock.calls.length;
    vi.advanceTimersByTime(1000);
    expect(run.mock.calls.length).toBe(settled); // nothing asked: nothing run
  });

  it("always delivers the last request (trailing run)", () => {
    const run = vi.fn();
    const throttle = new Throttle(250, run);
    throttle.request();
    throttle.request();
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(250);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
