// The live stream's bookkeeping, without the socket: sequence numbers (a jump or a `resync`
// message means messages were lost: reload over HTTP), the live state they build, and the
// throttle that keeps rendering at a few frames a second whatever the event rate.

import type { EngineState, Envelope, Snapshot, StreamMessage } from "../api/live-types";

export const STATE_CHANNEL = "poly:state";
export const TRADES_CHANNEL = "poly:trades";
export const SIGNALS_CHANNEL = "poly:signals";
export const ERRORS_CHANNEL = "poly:errors";
export const RECENT = 50;
export const STALE_AFTER_MS = 3000;

export interface EngineLive {
  state: EngineState;
  receivedAt: number; // client clock (ms) when its latest state arrived
  staleAtSnapshot: boolean;
}

export interface LiveData {
  engines: Record<string, EngineLive>;
  trades: Envelope[]; // newest first
  signals: Envelope[];
  errors: Envelope[];
  version: number; // bumped on every change (cheap change detection)
}

export const EMPTY: LiveData = { engines: {}, trades: [], signals: [], errors: [], version: 0 };

/** What to do with one message, given the sequence seen so far. */
export type Verdict = "apply" | "skip" | "gap";

export class SequenceTracker {
  private last: number | null = null;

  /** The snapshot starts the count: the next event is its seq + 1. */
  reset(seq: number): void {
    this.last = seq;
  }

  get position(): number | null {
    return this.last;
  }

  check(seq: number): Verdict {
    if (this.last === null) return "gap"; // an event before any snapshot
    if (seq <= this.last) return "skip"; // already in the snapshot
    if (seq !== this.last + 1) return "gap";
    this.last = seq;
    return "apply";
  }
}

function newestFirst(list: Envelope[], add: Envelope): Envelope[] {
  return [add, ...list].slice(0, RECENT);
}

export function fromSnapshot(snapshot: Snapshot, now: number): LiveData {
  const engines: Record<string, EngineLive> = {};
  for (const [id, engine] of Object.entries(snapshot.engines)) {
    // A state already stale on the server counts as received long ago.
    engines[id] = {
      state: engine.state,
      receivedAt: engine.stale ? now - STALE_AFTER_MS - 1 : now,
      staleAtSnapshot: engine.stale,
    };
  }
  return {
    engines,
    trades: [...snapshot.trades].reverse().slice(0, RECENT),
    signals: [...snapshot.signals].reverse().slice(0, RECENT),
    errors: [...snapshot.errors].reverse().slice(0, RECENT),
    version: 1,
  };
}

export function applyEvent(data: LiveData, envelope: Envelope, now: number): LiveData {
  const version = data.version + 1;
  switch (envelope.channel) {
    case STATE_CHANNEL:
      return {
        ...data,
        version,
        engines: {
          ...data.engines,
          [envelope.instance_id]: {
            state: envelope.data as EngineState,
            receivedAt: now,
            staleAtSnapshot: false,
          },
        },
      };
    case TRADES_CHANNEL:
      return { ...data, version, trades: newestFirst(data.trades, envelope) };
    case SIGNALS_CHANNEL:
      return { ...data, version, signals: newestFirst(data.signals, envelope) };
    case ERRORS_CHANNEL:
      return { ...data, version, errors: newestFirst(data.errors, envelope) };
    default:
      return data;
  }
}

export interface FrameResult {
  data: LiveData;
  resync: string | null; // why the page must reload over HTTP, when it must
  channels: Set<string>; // channels that changed (to refresh the HTTP views they feed)
}

/** Apply one frame (a JSON array of messages) to the live data. */
export function applyFrame(
  tracker: SequenceTracker,
  data: LiveData,
  frame: StreamMessage[],
  now: number,
): FrameResult {
  let current = data;
  let resync: string | null = null;
  const channels = new Set<string>();
  for (const message of frame) {
    if (message.kind === "snapshot") {
      tracker.reset(message.seq);
      current = fromSnapshot(message.data, now);
      resync = null; // a fresh snapshot is the resync
      channels.add("*");
      continue;
    }
    const verdict = tracker.check(message.seq);
    if (verdict === "skip") continue;
    if (verdict === "gap") {
      resync = `sequence gap: expected ${String((tracker.position ?? 0) + 1)}, got ${String(message.seq)}`;
      tracker.reset(message.seq);
      channels.add("*");
      continue;
    }
    if (message.kind === "resync") {
      resync = `the dashboard missed messages (${message.data.reason})`;
      channels.add("*");
      continue;
    }
    current = applyEvent(current, message.data, now);
    channels.add(message.data.channel);
  }
  return { data: current, resync, channels };
}

export function isStale(engine: EngineLive, now: number): boolean {
  return now - engine.receivedAt > STALE_AFTER_MS;
}

/**
 * Calls `run` at most once per `intervalMs` (leading and trailing): events can arrive at
 * hundreds a second, the page renders a few times a second.
 */
export class Throttle {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastRun = Number.NEGATIVE_INFINITY;
  private pending = false;

  constructor(
    private readonly intervalMs: number,
    private readonly run: () => void,
    private readonly clock: () => number = () => Date.now(),
  ) {}

  request(): void {
    const wait = this.lastRun + this.intervalMs - this.clock();
    if (wait <= 0 && this.timer === null) {
      this.fire();
      return;
    }
    this.pending = true;
    if (this.timer === null) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          if (this.pending) this.fire();
        },
        Math.max(wait, 0),
      );
    }
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = false;
  }

  private fire(): void {
    this.pending = false;
    this.lastRun = this.clock();
    this.run();
  }
}
