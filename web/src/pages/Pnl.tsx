import type { Schemas } from "../api/client";
import { usePnlByStrategy, usePnlDaily } from "../api/queries";
import { Bars } from "../components/charts";
import { Card, DataTable, Empty, Money, QueryError } from "../components/ui";
import { formatUsd } from "../lib/money";

type Line = Schemas["PnlOut"];

const COLUMNS = (key: string) => [
  { header: key, cell: (l: Line) => l.key },
  { header: "Realized P&L", cell: (l: Line) => <Money value={l.realized_pnl} />, numeric: true },
  { header: "Fees", cell: (l: Line) => formatUsd(l.fees), numeric: true },
  { header: "Volume", cell: (l: Line) => formatUsd(l.volume), numeric: true },
  { header: "Fills", cell: (l: Line) => String(l.fills), numeric: true },
];

export function Pnl() {
  const daily = usePnlDaily();
  const strategies = usePnlByStrategy();
  return (
    <>
      <h1>P&amp;L</h1>
      <Card title="Realized P&L per day" wide>
        <QueryError error={daily.error} />
        {daily.data && daily.data.length > 0 ? (
          <Bars
            label="realized P&L (USD)"
            points={daily.data.map((l) => ({ key: l.key, value: Number(l.realized_pnl) }))}
          />
        ) : (
          daily.data && <Empty />
        )}
        <DataTable
          caption="P&L per UTC day"
          rows={daily.data}
          rowKey={(l) => l.key}
          columns={COLUMNS("Day (UTC)")}
        />
      </Card>
      <Card title="By strategy" wide>
        <QueryError error={strategies.error} />
        <DataTable
          caption="P&L per strategy"
          rows={strategies.data}
          rowKey={(l) => l.key}
          columns={COLUMNS("Strategy")}
        />
      </Card>
    </>
  );
}
