import type { ReactNode } from "react";
import { formatUsd, sign } from "../lib/money";

export const NO_DATA = "no data yet";

export function Money({
  value,
  places = 2,
}: {
  value: string | null | undefined;
  places?: number;
}) {
  const s = sign(value);
  const tone = s > 0 ? "gain" : s < 0 ? "loss" : "";
  return <span className={`num ${tone}`}>{formatUsd(value, places)}</span>;
}

export function Empty({ children = NO_DATA }: { children?: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Banner({
  tone,
  children,
  testId,
}: {
  tone: "warning" | "error" | "info";
  children: ReactNode;
  testId?: string;
}) {
  return (
    <div
      className={`banner ${tone}`}
      role={tone === "info" ? "status" : "alert"}
      data-testid={testId}
    >
      {children}
    </div>
  );
}

export function Card({
  title,
  children,
  wide,
}: {
  title: string;
  children: ReactNode;
  wide?: boolean;
}) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section className={wide ? "card wide" : "card"} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  numeric?: boolean;
}

export function DataTable<T>({
  rows,
  columns,
  rowKey,
  caption,
}: {
  rows: readonly T[] | undefined;
  columns: Column<T>[];
  rowKey: (row: T, index: number) => string;
  caption: string;
}) {
  if (rows === undefined) return <p className="muted">Loading…</p>;
  if (rows.length === 0) return <Empty />;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.header} scope="col" className={c.numeric ? "num" : undefined}>
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey(row, i)}>
              {columns.map((c) => (
                <td key={c.header} className={c.numeric ? "num" : undefined}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function QueryError({ error }: { error: Error | null }) {
  if (error === null) return null;
  return <Banner tone="error">Could not load: {error.message}</Banner>;
}
