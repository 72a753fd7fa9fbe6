// The /api/stream WebSocket: one per page, reconnecting with back-off. Its messages update the
// live data (engine states, recent trades, signals, errors); the page re-renders at most 4
// times a second, and the HTTP views fed by a channel are refetched (at most once a second)
// when that channel moves. On a sequence gap or a reconnect, everything is refetched.

import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  type ReactNode,
  useContext,
  useEffect,
  useRef,
  useSyncExternalStore,
} from "react";
import { announceLoggedOut, refreshSession } from "../api/client";
import type { StreamMessage } from "../api/live-types";
import {
  applyFrame,
  EMPTY,
  ERRORS_CHANNEL,
  type LiveData,
  SequenceTracker,
  SIGNALS_CHANNEL,
  Throttle,
  TRADES_CHANNEL,
} from "../lib/stream";

export const RENDER_INTERVAL_MS = 250;
const REFETCH_INTERVAL_MS = 1000;

export interface LiveSnapshot {
  data: LiveData;
  connected: boolean;
  everConnected: boolean;
  lastResync: string | null;
}

class LiveStore {
  snapshot: LiveSnapshot = {
    data: EMPTY,
    connected: false,
    everConnected: false,
    lastResync: null,
  };
  private listeners = new Set<() => void>();

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  get = () => this.snapshot;

  set(next: Partial<LiveSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...next };
  }

  notify(): void {
    for (const listener of this.listeners) listener();
  }
}

const LiveContext = createContext<LiveStore | null>(null);

// Which HTTP views (query keys' first element) each channel feeds.
const FEEDS: Record<string, string[]> = {
  [TRADES_CHANNEL]: ["trades", "positions", "pnl", "equity"],
  [SIGNALS_CHANNEL]: ["signals", "opportunities"],
  [ERRORS_CHANNEL]: ["errors", "alerts"],
};

export function LiveProvider({ children }: { children: ReactNode }) {
  const store = useRef(new LiveStore()).current;
  const queryClient = useQueryClient();

  useEffect(() => {
    const tracker = new SequenceTracker();
    const render = new Throttle(RENDER_INTERVAL_MS, () => store.notify());
    let dirty = new Set<string>();
    const refetch = new Throttle(REFETCH_INTERVAL_MS, () => {
      const channels = dirty;
      dirty = new Set();
      if (channels.has("*")) {
        void queryClient.invalidateQueries();
        return;
      }
      const keys = new Set<string>();
      for (const channel of channels) for (const key of FEEDS[channel] ?? []) keys.add(key);
      for (const key of keys) void queryClient.invalidateQueries({ queryKey: [key] });
    });
    let socket: WebSocket | null = null;
    let closed = false;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let attempts = 0;

    function connect() {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${window.location.host}/api/stream`);
      ws.binaryType = "arraybuffer";
      socket = ws;
      const decoder = new TextDecoder();
      ws.onopen = () => {
        attempts = 0;
      };
      ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
        const text = typeof event.data === "string" ? event.data : decoder.decode(event.data);
        const frame = JSON.parse(text) as StreamMessage[];
        const result = applyFrame(tracker, store.snapshot.data, frame, Date.now());
        const first = !store.snapshot.connected;
        store.set({
          data: result.data,
          connected: true,
          everConnected: true,
          ...(result.resync !== null ? { lastResync: result.resync } : {}),
        });
        for (const channel of result.channels) dirty.add(channel);
        if (first) dirty.add("*"); // (re)connected: what happened meanwhile is in the views
        if (dirty.size > 0) refetch.request();
        render.request();
      };
      ws.onclose = () => {
        socket = null;
        store.set({ connected: false });
        render.request();
        reconnectLater();
      };
    }

    function reconnectLater() {
      if (closed) return;
      attempts += 1;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(attempts, 6));
      retry = setTimeout(() => {
        // The socket closes when the access token expires: refresh it first. A refused
        // refresh means the session is over: lock the page rather than retry forever.
        void refreshSession().then((refreshed) => {
          if (closed) return;
          if (refreshed === "ok") connect();
          else if (refreshed === "refused") announceLoggedOut();
          else reconnectLater(); // the server is away: keep trying
        });
      }, delay);
    }

    connect();
    return () => {
      closed = true;
      render.cancel();
      refetch.cancel();
      if (retry !== null) clearTimeout(retry);
      socket?.close();
    };
  }, [store, queryClient]);

  return <LiveContext.Provider value={store}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveSnapshot {
  const store = useContext(LiveContext);
  if (store === null) throw new Error("useLive outside LiveProvider");
  return useSyncExternalStore(store.subscribe, store.get);
}
