import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { ApiError, call, client } from "../api/client";
import { useAudit, useUsers } from "../api/queries";
import { useGuarded } from "../auth/StepUp";
import { Card, DataTable, QueryError } from "../components/ui";
import { formatNs } from "../lib/time";

type Role = "viewer" | "operator" | "admin";

export function Admin() {
  const audit = useAudit();
  const users = useUsers();
  const guarded = useGuarded();
  const queryClient = useQueryClient();
  const emailId = useId();
  const roleId = useId();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [result, setResult] = useState<string | null>(null);

  async function act(action: () => Promise<unknown>, done: string) {
    try {
      await guarded(action);
      setResult(done);
      void queryClient.invalidateQueries({ queryKey: ["users"] });
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    } catch (e) {
      setResult(e instanceof ApiError ? e.message : String(e));
    }
  }

  function add(event: FormEvent) {
    event.preventDefault();
    void act(
      () => call(() => client.POST("/api/users", { body: { email, role } })),
      `added ${email}`,
    );
  }

  return (
    <>
      <h1>Audit and users</h1>
      <Card title="Users" wide>
        <QueryError error={users.error} />
        <DataTable
          caption="dashboard accounts"
          rows={users.data}
          rowKey={(u) => u.email}
          columns={[
            { header: "Email", cell: (u) => u.email },
            { header: "Role", cell: (u) => u.role },
            { header: "Created (UTC)", cell: (u) => formatNs(u.created_ns) },
            {
              header: "",
              cell: (u) => (
                <button
                  type="button"
                  className="link"
                  aria-label={`remove ${u.email}`}
                  onClick={() =>
                    void act(
                      () =>
                        call(() =>
                          client.DELETE("/api/users/{email}", {
                            params: { path: { email: u.email } },
                          }),
                        ),
                      `removed ${u.email}`,
                    )
                  }
                >
                  Remove
                </button>
              ),
            },
          ]}
        />
        <form className="row" onSubmit={add}>
          <label htmlFor={emailId}>Email</label>
          <input
            id={emailId}
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <label htmlFor={roleId}>Role</label>
          <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
          <button type="submit">Add user</button>
        </form>
        <p className="muted">A new account must also be in ALLOWED_EMAILS to log in.</p>
        {result && <p role="status">{result}</p>}
      </Card>
      <Card title="Audit log" wide>
        <QueryError error={audit.error} />
        <DataTable
          caption="audit log, newest first"
          rows={audit.data}
          rowKey={(a) => String(a.id)}
          columns={[
            { header: "Time (UTC)", cell: (a) => formatNs(a.ts_ns) },
            { header: "Actor", cell: (a) => a.actor },
            { header: "Action", cell: (a) => a.action },
            { header: "Target", cell: (a) => a.target },
            { header: "Outcome", cell: (a) => a.outcome },
            { header: "IP", cell: (a) => a.source_ip },
          ]}
        />
      </Card>
    </>
  );
}
