// The HTTP views as TanStack queries: one key per view (the live stream invalidates them by
// their first element, see live/LiveProvider.tsx).

import { useQuery } from "@tanstack/react-query";
import { call, client, type Schemas } from "./client";

export function useEngineState() {
  return useQuery({
    queryKey: ["state"],
    queryFn: () => call(() => client.GET("/api/state")),
  });
}

export function usePositions() {
  return useQuery({
    queryKey: ["positions"],
    queryFn: () => call(() => client.GET("/api/positions")),
  });
}

export function useOpportunities() {
  return useQuery({
    queryKey: ["opportunities"],
    queryFn: () => call(() => client.GET("/api/opportunities")),
  });
}

export interface TradeFilters {
  strategy?: string;
  market?: string;
  limit?: number;
  cursor?: string; // a page's next_cursor: the page after it (older)
}

export function useTrades(filters: TradeFilters) {
  return useQuery({
    queryKey: ["trades", filters],
    // The route also answers text/csv (format=csv): the JSON page is what format=json gives.
    queryFn: async () =>
      (await call(() =>
        client.GET("/api/trades", { params: { query: { ...filters, format: "json" } } }),
      )) as Schemas["TradePageOut"],
  });
}

export interface SignalFilters {
  strategy?: string;
  market?: string;
  outcome?: string;
  limit?: number;
  cursor?: string;
}

export function useSignals(filters: SignalFilters) {
  return useQuery({
    queryKey: ["signals", filters],
    queryFn: () => call(() => client.GET("/api/signals", { params: { query: filters } })),
  });
}

export function usePnlDaily() {
  return useQuery({
    queryKey: ["pnl", "daily"],
    queryFn: () => call(() => client.GET("/api/pnl/daily")),
  });
}

export function usePnlByStrategy() {
  return useQuery({
    queryKey: ["pnl", "strategies"],
    queryFn: () => call(() => client.GET("/api/pnl/strategies")),
  });
}

export function useEquity() {
  return useQuery({
    queryKey: ["equity"],
    queryFn: () =>
      call(() => client.GET("/api/pnl/equity", { params: { query: { max_points: 500 } } })),
  });
}

export function useErrors() {
  return useQuery({ queryKey: ["errors"], queryFn: () => call(() => client.GET("/api/errors")) });
}

export function useAlerts() {
  return useQuery({ queryKey: ["alerts"], queryFn: () => call(() => client.GET("/api/alerts")) });
}

export function useMarkets() {
  return useQuery({ queryKey: ["markets"], queryFn: () => call(() => client.GET("/api/markets")) });
}

export function useStrategies() {
  return useQuery({
    queryKey: ["strategies"],
    queryFn: () => call(() => client.GET("/api/strategies")),
  });
}

export function useAudit() {
  return useQuery({ queryKey: ["audit"], queryFn: () => call(() => client.GET("/api/audit")) });
}

export function useUsers() {
  return useQuery({ queryKey: ["users"], queryFn: () => call(() => client.GET("/api/users")) });
}
