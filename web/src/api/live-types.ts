// What travels on /api/stream and in /api/state's `state` (the engine's poly:state payload,
// documented in docs/events.md). The HTTP views are typed from the OpenAPI document
// (schema.d.ts); these are the bus's payloads, which the document carries as free-form objects.

export interface Opportunity {
  strategy: string;
  market: string;
  label: string;
  edge: string;
  size: string;
  expected_profit: string;
  ts_ns: number;
  signal_id: string;
}

export interface PositionMark {
  token_id: string;
  market: string;
  outcome: string;
  size: string;
  avg_cost: string;
  mark: string | null;
  unrealized_pnl: string;
  realized_pnl: string;
}

export interface DailyPnl {
  day: string;
  realized: string;
  unrealized: string;
  fees: string;
  trades: number;
}

export interface EngineState {
  status: string;
  trading_state: string;
  kill_switch: boolean;
  kill_switch_reason: string;
  mode: string;
  started_ns: number;
  markets_tracked: number;
  books_tracked: number;
  books_stale: number;
  opportunities: Opportunity[];
  opportunities_total: number;
  positions: PositionMark[];
  positions_total: number;
  pnl: DailyPnl;
  counters: { frames: number; signals: number; orders: number; fills: number };
  strategies: { name: string; enabled: boolean; params: Record<string, string> }[];
  bus_connected: boolean;
}

export interface Envelope<T = unknown> {
  channel: string;
  instance_id: string;
  seq: number;
  ts_ns: number;
  type: string;
  data: T;
}

export interface Snapshot {
  engines: Record<string, { state: EngineState; stale: boolean; seq: number }>;
  signals: Envelope[];
  trades: Envelope[];
  errors: Envelope[];
  ts_ns: number;
}

export type StreamMessage =
  | { seq: number; kind: "snapshot"; data: Snapshot }
  | { seq: number; kind: "event"; data: Envelope }
  | { seq: number; kind: "resync"; data: { reason: string; channel: string } };
