import { Link } from "react-router";
import { useEquity, useMarkets, useTrades } from "../api/queries";
import { Controls } from "../components/Controls";
import { LineOverTime } from "../components/charts";
import { Banner, Card, DataTable, Empty, Money } from "../components/ui";
import { formatDecimal, formatPrice } from "../lib/money";
import { isStale } from "../lib/stream";
import { formatNs } from "../lib/time";
import { useNow } from "../lib/useNow";
import { useLive } from "../live/LiveProvider";

export function Overview() {
  const live = useLive();
  const now = useNow();
  const engines = Object.entries(live.data.engines);
  const trades = useTrades({ limit: 10 });
  const equity = useEquity();
  const markets = useMarkets();
  const question = (conditionId: string) =>
    markets.data?.find((m) => m.condition_id === conditionId)?.question || conditionId;
  const first = engines[0];
  const state = first?.[1].state;

  return (
    <>
      <h1>Overview</h1>
      <div className="banners">
        {!live.connected && (
          <Banner tone="warning" testId="banner-stream">
            {live.everConnected
              ? "Live stream disconnected: reconnecting…"
              : "Connecting to the live stream…"}
          </Banner>
        )}
        {live.connected && engines.length === 0 && (
          <Banner tone="warning" testId="banner-engine">
            No engine has published its state yet: is the engine running?
          </Banner>
        )}
        {engines.map(([id, engine]) =>
          isStale(engine, now) ? (
            <Banner key={id} tone="error" testId="banner-stale">
              Engine {id} is not answering: its state is stale (last state{" "}
              {Math.round((now - engine.receivedAt) / 1000)} s ago).
            </Banner>
          ) : null,
        )}
        {engines.map(([id, engine]) =>
          engine.state.kill_switch ? (
            <Banner key={`${id}-kill`} tone="error" testId="banner-kill">
              Kill switch engaged on {id}: {engine.state.kill_switch_reason || "no reason given"}
            </Banner>
          ) : null,
        )}
        {engines.map(([id, engine]) =>
          engine.state.books_stale > 0 ? (
            <Banner key={`${id}-books`} tone="warning">
              {engine.state.books_stale} of {engine.state.books_tracked} books on {id} are stale.
            </Banner>
          ) : null,
        )}
        {engines.map(([id, engine]) =>
          engine.state.bus_connected ? null : (
            <Banner key={`${id}-bus`} tone="warning">
              Engine {id} cannot reach its bus: what it publishes is dropped.
            </Banner>
          ),
        )}
        {live.data.errors.length > 0 && (
          <Banner tone="warning" testId="banner-errors">
            {live.data.errors.length} recent error(s); latest:{" "}
            {String((live.data.errors[0]?.data as { message?: string } | undefined)?.message ?? "")}{" "}
            <Link to="/errors">see errors</Link>
          </Banner>
        )}
      </div>
      <div className="grid">
        <Card title="Engine">
          {engines.length === 0 ? (
            <Empty />
          ) : (
            engines.map(([id, engine]) => (
              <dl key={id} className="facts">
                <dt>Instance</dt>
                <dd>{id}</dd>
                <dt>Status</dt>
                <dd data-testid="engine-status">{engine.state.status}</dd>
                <dt>Trading state</dt>
                <dd data-testid="trading-state">{engine.state.trading_state}</dd>
                <dt>Kill switch</dt>
                <dd data-testid="kill-switch">{engine.state.kill_switch ? "engaged" : "off"}</dd>
                <dt>Mode</dt>
                <dd>{engine.state.mode}</dd>
                <dt>Markets / books</dt>
                <dd>
                  {engine.state.markets_tracked} / {engine.state.books_tracked}
                </dd>
                <dt>Signals / fills</dt>
                <dd>
                  {engine.state.counters.signals} / {engine.state.counters.fills}
                </dd>
              </dl>
            ))
          )}
          <Controls state={state} />
        </Card>
        <Card title="P&L today">
          {state === undefined ? (
            <Empty />
          ) : (
            <dl className="facts big">
              <dt>Realized</dt>
              <dd data-testid="pnl-realized">
                <Money value={state.pnl.realized} />
              </dd>
              <dt>Unrealized</dt>
              <dd data-testid="pnl-unrealized">
                <Money value={state.pnl.unrealized} />
              </dd>
              <dt>Fees</dt>
              <dd>
                <Money value={state.pnl.fees} />
              </dd>
              <dt>Trades</dt>
              <dd data-testid="pnl-trades">{state.pnl.trades}</dd>
              <dt>Day (UTC)</dt>
              <dd>{state.pnl.day}</dd>
            </dl>
          )}
        </Card>
        <Card title="Equity curve" wide>
          {equity.data === undefined || equity.data.length === 0 ? (
            <Empty />
          ) : (
            <LineOverTime
              label="equity (USD)"
              points={equity.data.map((p) => ({
                t: formatNs(p.ts_ns).slice(11, 16),
                value: Number(p.equity),
              }))}
            />
          )}
        </Card>
        <Card title="Open positions" wide>
          <DataTable
            caption="open positions with marks"
            rows={state?.positions}
            rowKey={(p) => p.token_id}
            columns={[
              {
                header: "Market",
                cell: (p) => (p.market ? question(p.market) : p.token_id.slice(0, 12)),
              },
              { header: "Outcome", cell: (p) => p.outcome },
              { header: "Size", cell: (p) => formatDecimal(p.size), numeric: true },
              { header: "Avg cost", cell: (p) => formatPrice(p.avg_cost), numeric: true },
              {
                header: "Mark",
                cell: (p) => (p.mark === null ? "no bid" : formatPrice(p.mark)),
                numeric: true,
              },
              {
                header: "Unrealized",
                cell: (p) => <Money value={p.unrealized_pnl} />,
                numeric: true,
              },
            ]}
          />
        </Card>
        <Card title="Live opportunities" wide>
          <DataTable
            caption="open opportunities"
            rows={state?.opportunities}
            rowKey={(o) => `${o.strategy}-${o.market}`}
            columns={[
              { header: "Strategy", cell: (o) => o.strategy },
              { header: "Market", cell: (o) => o.label || o.market },
              { header: "Edge / set", cell: (o) => formatDecimal(o.edge, 4), numeric: true },
              { header: "Size", cell: (o) => formatDecimal(o.size), numeric: true },
              {
                header: "Expected profit",
                cell: (o) => <Money value={o.expected_profit} places={4} />,
                numeric: true,
              },
              { header: "Seen", cell: (o) => formatNs(o.ts_ns).slice(11) },
            ]}
          />
        </Card>
        <Card title="Latest trades" wide>
          <div data-testid="latest-trades">
            <DataTable
              caption="latest fills"
              rows={trades.data?.trades}
              rowKey={(t) => String(t.id)}
              columns={[
                { header: "Time (UTC)", cell: (t) => formatNs(t.ts_ns) },
                { header: "Strategy", cell: (t) => t.strategy },
                { header: "Side", cell: (t) => t.side },
                { header: "Price", cell: (t) => formatPrice(t.price), numeric: true },
                { header: "Size", cell: (t) => formatDecimal(t.size), numeric: true },
                { header: "Fee", cell: (t) => <Money value={t.fee} places={4} />, numeric: true },
              ]}
            />
          </div>
        </Card>
      </div>
    </>
  );
}
