// Timestamps from the API are unix nanoseconds; shown to the second, so a JavaScript number
// (exact to about a quarter microsecond at today's dates) is precise enough here.

export function nsToDate(ns: number): Date {
  return new Date(Math.floor(ns / 1e6));
}

/** "2026-12-03 16:04:05" in UTC (the engine's days are UTC days). */
export function formatNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || ns <= 0) return "—";
  return nsToDate(ns).toISOString().replace("T", " ").slice(0, 19);
}

export function formatAgo(ns: number, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - ns / 1e6) / 1000));
  if (seconds < 60) return `${String(seconds)} s ago`;
  if (seconds < 3600) return `${String(Math.floor(seconds / 60))} min ago`;
  return `${String(Math.floor(seconds / 3600))} h ago`;
}
