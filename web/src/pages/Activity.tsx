import { useId, useState } from "react";
import { type SignalFilters, type TradeFilters, useSignals, useTrades } from "../api/queries";
import { Card, DataTable, Money, QueryError } from "../components/ui";
import { formatDecimal, formatPrice } from "../lib/money";
import { formatNs } from "../lib/time";

function clean<T extends object>(filters: T): T {
  return Object.fromEntries(
    Object.entries(filters).filter(([, v]) => v !== "" && v !== undefined),
  ) as T;
}

function TextFilter({
  label,
  value,
  onChange,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
}) {
  const id = useId();
  return (
    <span className="filter">
      <label htmlFor={id}>{label}</label>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} />
    </span>
  );
}

/** Cursor pages, newest first: the cursors of the pages already passed, to go back. */
function usePages() {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors.at(-1),
    page: cursors.length + 1,
    older: (next: string) => setCursors((c) => [...c, next]),
    newer: () => setCursors((c) => c.slice(0, -1)),
    reset: () => setCursors([]),
  };
}

function Pager({
  pages,
  next,
  label,
}: {
  pages: ReturnType<typeof usePages>;
  next: string | null | undefined;
  label: string;
}) {
  return (
    <nav className="row" aria-label={`${label} pages`}>
      <button type="button" disabled={pages.page === 1} onClick={pages.newer}>
        ← Newer
      </button>
      <span className="muted">page {pages.page}</span>
      <button type="button" disabled={!next} onClick={() => next && pages.older(next)}>
        Older →
      </button>
    </nav>
  );
}

export function Activity() {
  const [strategy, setStrategyValue] = useState("");
  const [market, setMarketValue] = useState("");
  const [outcome, setOutcomeValue] = useState("");
  const tradePages = usePages();
  const signalPages = usePages();
  // A changed filter starts from the newest page again.
  const refilter = (set: (v: string) => void) => (value: string) => {
    set(value);
    tradePages.reset();
    signalPages.reset();
  };
  const setStrategy = refilter(setStrategyValue);
  const setMarket = refilter(setMarketValue);
  const setOutcome = refilter(setOutcomeValue);
  const tradeFilters: TradeFilters = clean({
    strategy,
    market,
    limit: 100,
    cursor: tradePages.cursor,
  });
  const signalFilters: SignalFilters = clean({
    strategy,
    market,
    outcome,
    limit: 100,
    cursor: signalPages.cursor,
  });
  const trades = useTrades(tradeFilters);
  const signals = useSignals(signalFilters);
  const csv = new URLSearchParams({ ...clean({ strategy, market }), format: "csv" });
  return (
    <>
      <h1>Trades and signals</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <TextFilter label="Strategy" value={strategy} onChange={setStrategy} />
        <TextFilter label="Market (condition id)" value={market} onChange={setMarket} />
        <TextFilter label="Signal outcome" value={outcome} onChange={setOutcome} />
      </form>
      <Card title="Trades" wide>
        <p>
          <a href={`/api/trades?${csv.toString()}`} download="trades.csv" data-testid="export-csv">
            Export CSV (every matching trade)
          </a>
        </p>
        <QueryError error={trades.error} />
        <DataTable
          caption="fills, newest first"
          rows={trades.data?.trades}
          rowKey={(t) => String(t.id)}
          columns={[
            { header: "Time (UTC)", cell: (t) => formatNs(t.ts_ns) },
            { header: "Strategy", cell: (t) => t.strategy },
            { header: "Market", cell: (t) => <code>{t.market.slice(0, 14)}</code> },
            { header: "Side", cell: (t) => t.side },
            { header: "Price", cell: (t) => formatPrice(t.price), numeric: true },
            { header: "Size", cell: (t) => formatDecimal(t.size), numeric: true },
            { header: "Notional", cell: (t) => <Money value={t.notional} />, numeric: true },
            { header: "Fee", cell: (t) => <Money value={t.fee} places={4} />, numeric: true },
            { header: "Liquidity", cell: (t) => t.liquidity },
          ]}
        />
        <Pager pages={tradePages} next={trades.data?.next_cursor} label="trades" />
      </Card>
      <Card title="Signals" wide>
        <QueryError error={signals.error} />
        <DataTable
          caption="signals, newest first"
          rows={signals.data?.signals}
          rowKey={(s) => String(s.id)}
          columns={[
            { header: "Time (UTC)", cell: (s) => formatNs(s.ts_ns) },
            { header: "Strategy", cell: (s) => s.strategy },
            { header: "Market", cell: (s) => <code>{s.market.slice(0, 14)}</code> },
            { header: "Edge", cell: (s) => formatDecimal(s.edge, 4), numeric: true },
            { header: "Size", cell: (s) => formatDecimal(s.size), numeric: true },
            { header: "Cost", cell: (s) => <Money value={s.cost} />, numeric: true },
            { header: "Outcome", cell: (s) => s.outcome },
            { header: "Reason", cell: (s) => s.reason },
          ]}
        />
        <Pager pages={signalPages} next={signals.data?.next_cursor} label="signals" />
      </Card>
    </>
  );
}
