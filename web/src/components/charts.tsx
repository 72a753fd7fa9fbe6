// Charts (recharts). The values are decimal strings from the API: converted to numbers only to
// place points on screen; every number shown as text is formatted from the string.

import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

export function LineOverTime({
  points,
  label,
}: {
  points: { t: string; value: number }[];
  label: string;
}) {
  return (
    <figure className="chart" aria-label={label}>
      <ResponsiveContainer width="100%" height={220}>
        <LineChart data={points} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="t" stroke="var(--muted)" fontSize={11} minTickGap={40} />
          <YAxis stroke="var(--muted)" fontSize={11} width={64} domain={["auto", "auto"]} />
          <Tooltip
            contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)" }}
          />
          <Line
            type="monotone"
            dataKey="value"
            name={label}
            stroke="var(--accent)"
            dot={false}
            isAnimationActive={false}
          />
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}

export function Bars({
  points,
  label,
}: {
  points: { key: string; value: number }[];
  label: string;
}) {
  return (
    <figure className="chart" aria-label={label}>
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={points} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="key" stroke="var(--muted)" fontSize={11} />
          <YAxis stroke="var(--muted)" fontSize={11} width={64} domain={["auto", "auto"]} />
          <Tooltip
            contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)" }}
          />
          <Bar dataKey="value" name={label} fill="var(--accent)" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}

export interface DepthPoint {
  price: number;
  bids?: number;
  asks?: number;
}

export function DepthChart({ points, label }: { points: DepthPoint[]; label: string }) {
  return (
    <figure className="chart" aria-label={label} data-testid="depth-chart">
      <ResponsiveContainer width="100%" height={240}>
        <AreaChart data={points} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis
            dataKey="price"
            type="number"
            domain={["dataMin", "dataMax"]}
            stroke="var(--muted)"
            fontSize={11}
          />
          <YAxis stroke="var(--muted)" fontSize={11} width={64} domain={["auto", "auto"]} />
          <Tooltip
            contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)" }}
          />
          <Area
            type="stepAfter"
            dataKey="bids"
            name="bids (cumulative size)"
            stroke="var(--gain)"
            fill="var(--gain)"
            fillOpacity={0.25}
            isAnimationActive={false}
            connectNulls={false}
          />
          <Area
            type="stepBefore"
            dataKey="asks"
            name="asks (cumulative size)"
            stroke="var(--loss)"
            fill="var(--loss)"
            fillOpacity={0.25}
            isAnimationActive={false}
            connectNulls={false}
          />
        </AreaChart>
      </ResponsiveContainer>
    </figure>
  );
}
