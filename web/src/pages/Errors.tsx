import { useAlerts, useErrors } from "../api/queries";
import { Card, DataTable, QueryError } from "../components/ui";
import { formatNs } from "../lib/time";

export function Errors() {
  const errors = useErrors();
  const alerts = useAlerts();
  return (
    <>
      <h1>Errors and alerts</h1>
      <Card title="Alerts" wide>
        <QueryError error={alerts.error} />
        <DataTable
          caption="alerts, newest first"
          rows={alerts.data}
          rowKey={(a) => String(a.id)}
          columns={[
            { header: "Time (UTC)", cell: (a) => formatNs(a.ts_ns) },
            {
              header: "Severity",
              cell: (a) => <span className={`sev ${a.severity}`}>{a.severity}</span>,
            },
            { header: "Title", cell: (a) => a.title },
            { header: "Message", cell: (a) => a.message },
          ]}
        />
      </Card>
      <Card title="Errors" wide>
        <QueryError error={errors.error} />
        <DataTable
          caption="operational errors, newest first"
          rows={errors.data}
          rowKey={(e) => String(e.id)}
          columns={[
            { header: "Time (UTC)", cell: (e) => formatNs(e.ts_ns) },
            { header: "Level", cell: (e) => <span className={`sev ${e.level}`}>{e.level}</span> },
            { header: "Source", cell: (e) => e.source },
            { header: "Kind", cell: (e) => e.kind },
            { header: "Message", cell: (e) => e.message },
          ]}
        />
      </Card>
    </>
  );
}
