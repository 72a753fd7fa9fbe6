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

export function Activity() {
  const [strategy, setStrategy] = useState("");
  const [market, setMarket] = useState("");
  const [outcome, setOutcome] = useState("");
  const tradeFilters: TradeFilters = clean({ strategy, market, limit: 100 });
  const signalFilters: SignalFilters = clean({ strategy, market, outcome, limit: 100 });
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
      </Card>
    </>
  );
}
