import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useId, useState } from "react";
import { ApiError, call, client, type Schemas } from "../api/client";
import { useOpportunities, usePnlByStrategy, useStrategies } from "../api/queries";
import { useGuarded } from "../auth/StepUp";
import { hasRole, useUser } from "../auth/session";
import { Bars } from "../components/charts";
import { Card, DataTable, Empty, Money, QueryError } from "../components/ui";
import { formatDecimal } from "../lib/money";

// A strategy command's outcome: each engine's answer (or the error), then the list is refreshed.
function useStrategyCommand(): [
  ReactNode,
  (send: () => Promise<Schemas["CommandResult"]>) => Promise<void>,
] {
  const queryClient = useQueryClient();
  const [result, setResult] = useState<string | null>(null);
  async function run(send: () => Promise<Schemas["CommandResult"]>) {
    try {
      const answer = await send();
      setResult(
        answer.acks.map((a) => (a.accepted ? "accepted" : `refused: ${a.reason}`)).join(", "),
      );
      void queryClient.invalidateQueries({ queryKey: ["strategies"] });
    } catch (e) {
      setResult(e instanceof ApiError ? e.message : String(e));
    }
  }
  const status = result && (
    <span role="status" className="muted">
      {result}
    </span>
  );
  return [status, run];
}

function ParamForm({ strategy, param, value }: { strategy: string; param: string; value: string }) {
  const id = useId();
  const guarded = useGuarded();
  const [draft, setDraft] = useState(value);
  const [status, run] = useStrategyCommand();

  async function submit(event: FormEvent) {
    event.preventDefault();
    await run(() =>
      guarded(() =>
        call(() =>
          client.PUT("/api/strategies/{name}/params/{param}", {
            params: { path: { name: strategy, param } },
            body: { value: draft.trim() },
          }),
        ),
      ),
    );
  }

  return (
    <form onSubmit={submit} className="param">
      <label htmlFor={id}>{param}</label>
      <input id={id} value={draft} onChange={(e) => setDraft(e.target.value)} size={10} />
      <button type="submit">Set</button>
      {status}
    </form>
  );
}

function Toggle({ strategy }: { strategy: Schemas["StrategyOut"] }) {
  const [status, run] = useStrategyCommand();
  function toggle() {
    const path = {
      params: { path: { name: strategy.name } },
      body: { reason: "", target: strategy.instance_id },
    };
    return run(() =>
      call(() =>
        strategy.enabled
          ? client.POST("/api/strategies/{name}/disable", path)
          : client.POST("/api/strategies/{name}/enable", path),
      ),
    );
  }
  return (
    <span className="row">
      <button type="button" onClick={() => void toggle()}>
        {strategy.enabled ? "Disable" : "Enable"}
      </button>
      {status}
    </span>
  );
}

export function Strategies() {
  const user = useUser();
  const strategies = useStrategies();
  const pnl = usePnlByStrategy();
  const opportunities = useOpportunities();
  const operator = hasRole(user, "operator");
  return (
    <>
      <h1>Strategies</h1>
      <QueryError error={strategies.error} />
      {strategies.data?.length === 0 && <Empty />}
      <div className="grid">
        {strategies.data?.map((s) => {
          const line = pnl.data?.find((l) => l.key === s.name);
          const stats = opportunities.data?.lifetime.find((o) => o.strategy === s.name);
          const hits = (stats?.by_outcome.filled ?? 0) + (stats?.by_outcome.partial ?? 0);
          return (
            <Card key={`${s.instance_id}-${s.name}`} title={s.name}>
              <dl className="facts">
                <dt>Engine</dt>
                <dd>{s.instance_id}</dd>
                <dt>Enabled</dt>
                <dd data-testid={`enabled-${s.name}`}>{s.enabled ? "yes" : "no"}</dd>
                <dt>Realized P&amp;L</dt>
                <dd>{line ? <Money value={line.realized_pnl} /> : "no data yet"}</dd>
                <dt>Fills</dt>
                <dd>{line ? line.fills : "no data yet"}</dd>
                <dt>Opportunities</dt>
                <dd>{stats ? `${stats.opportunities} (${stats.open} open)` : "no data yet"}</dd>
                <dt>Hit rate (filled or partial)</dt>
                <dd>
                  {stats && stats.opportunities > 0
                    ? `${formatDecimal(((hits * 100) / stats.opportunities).toFixed(3), 1)} %`
                    : "no data yet"}
                </dd>
                <dt>Mean lifetime</dt>
                <dd>{stats ? `${formatDecimal(stats.mean_duration_ms, 0)} ms` : "no data yet"}</dd>
                <dt>Best edge (max)</dt>
                <dd>{stats ? formatDecimal(stats.best_edge_max, 4) : "no data yet"}</dd>
              </dl>
              {stats && (
                <Bars
                  label={`lifetime of ${s.name}'s opportunities (count)`}
                  points={Object.entries(stats.lifetime_histogram).map(([key, value]) => ({
                    key,
                    value,
                  }))}
                />
              )}
              {stats && (
                <DataTable
                  caption={`what became of ${s.name}'s opportunities`}
                  rows={Object.entries(stats.by_outcome)}
                  rowKey={([k]) => k}
                  columns={[
                    { header: "Outcome", cell: ([k]) => k },
                    { header: "Count", cell: ([, v]) => String(v), numeric: true },
                  ]}
                />
              )}
              {operator && <Toggle strategy={s} />}
              <h3>Parameters</h3>
              {Object.keys(s.params).length === 0 && <p className="empty">none</p>}
              {Object.entries(s.params).map(([param, value]) =>
                operator ? (
                  <ParamForm key={param} strategy={s.name} param={param} value={value} />
                ) : (
                  <p key={param}>
                    {param}: <code>{value}</code>
                  </p>
                ),
              )}
            </Card>
          );
        })}
      </div>
    </>
  );
}
