import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { Link, useParams } from "react-router";
import { call, client } from "../api/client";
import { useMarkets } from "../api/queries";
import { DepthChart } from "../components/charts";
import { Banner, Card, DataTable, Empty, QueryError } from "../components/ui";
import { depthPoints } from "../lib/depth";
import { formatDecimal, formatPrice } from "../lib/money";
import { formatNs } from "../lib/time";

export function Markets() {
  const markets = useMarkets();
  const [search, setSearch] = useState("");
  const id = useId();
  const needle = search.trim().toLowerCase();
  const shown = markets.data?.filter(
    (m) =>
      needle === "" ||
      m.question.toLowerCase().includes(needle) ||
      m.slug.toLowerCase().includes(needle) ||
      m.condition_id.toLowerCase().includes(needle),
  );
  return (
    <>
      <h1>Markets</h1>
      <QueryError error={markets.error} />
      <div className="filters">
        <label htmlFor={id}>Search</label>
        <input
          id={id}
          type="search"
          value={search}
          placeholder="question, slug or id"
          onChange={(e) => setSearch(e.target.value)}
        />
      </div>
      <DataTable
        caption="markets the engine watches"
        rows={shown}
        rowKey={(m) => m.condition_id}
        columns={[
          {
            header: "Question",
            cell: (m) => (
              <Link to={`/markets/${encodeURIComponent(m.condition_id)}`}>
                {m.question || m.condition_id}
              </Link>
            ),
          },
          { header: "Kind", cell: (m) => (m.neg_risk ? "negRisk" : "binary") },
          { header: "Outcomes", cell: (m) => m.outcomes.map((o) => o[0]).join(" / ") },
          { header: "Last seen (UTC)", cell: (m) => formatNs(m.last_seen_ns) },
        ]}
      />
    </>
  );
}

function fetchBook(conditionId: string) {
  return call(() =>
    client.GET("/api/markets/{condition_id}/book", {
      params: { path: { condition_id: conditionId }, query: { depth: 20 } },
    }),
  );
}

export function MarketDepth() {
  const { conditionId = "" } = useParams();
  const book = useQuery({
    queryKey: ["book", conditionId],
    queryFn: () => fetchBook(conditionId),
    refetchInterval: 1000, // the books move constantly: the page follows them every second
  });
  return (
    <>
      <p>
        <Link to="/markets">← Markets</Link>
      </p>
      <h1>{book.data?.question ?? "Market depth"}</h1>
      <QueryError error={book.error} />
      {book.data && (
        <p className="muted">
          {book.data.neg_risk
            ? `negRisk event ${book.data.event_id}: every outcome`
            : "binary market: YES and NO"}{" "}
          · as of {formatNs(book.data.as_of_ns)}
        </p>
      )}
      {book.data?.books.length === 0 && <Empty />}
      <div className="grid">
        {book.data?.books.map((b) => (
          <Card key={b.token_id} title={b.outcome || b.token_id}>
            {b.stale && <Banner tone="warning">This book is stale.</Banner>}
            {book.data?.truncated && (
              <p className="muted">The deepest levels are cut (depth 20).</p>
            )}
            <p>
              best bid <strong className="num">{formatPrice(b.best_bid)}</strong> · best ask{" "}
              <strong className="num">{formatPrice(b.best_ask)}</strong>
            </p>
            {b.bids.length + b.asks.length === 0 ? (
              <Empty />
            ) : (
              <DepthChart label={`depth of ${b.outcome}`} points={depthPoints(b.bids, b.asks)} />
            )}
            <details>
              <summary>Levels</summary>
              <DataTable
                caption={`levels of ${b.outcome}`}
                rows={[
                  ...b.bids.map((l) => ({ side: "bid", ...l })),
                  ...b.asks.map((l) => ({ side: "ask", ...l })),
                ]}
                rowKey={(l) => `${l.side}-${l.price}`}
                columns={[
                  { header: "Side", cell: (l) => l.side },
                  { header: "Price", cell: (l) => formatPrice(l.price), numeric: true },
                  { header: "Size", cell: (l) => formatDecimal(l.size), numeric: true },
                ]}
              />
            </details>
          </Card>
        ))}
      </div>
    </>
  );
}
