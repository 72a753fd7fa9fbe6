// Pause / resume / kill switch: each sends a command and shows every engine's answer.

import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, call, client, type Schemas } from "../api/client";
import type { EngineState } from "../api/live-types";
import { useGuarded } from "../auth/StepUp";
import { hasRole, useUser } from "../auth/session";

type Action = "pause" | "resume" | "kill" | "clear";

async function send(action: Action): Promise<Schemas["CommandResult"]> {
  const body = { reason: "from the dashboard", target: "" };
  switch (action) {
    case "pause":
      return call(() => client.POST("/api/controls/pause", { body }));
    case "resume":
      return call(() => client.POST("/api/controls/resume", { body }));
    case "kill":
      return call(() => client.POST("/api/controls/kill-switch", { body }));
    case "clear":
      return call(() => client.POST("/api/controls/kill-switch/clear", { body }));
  }
}

export function Controls({ state }: { state: EngineState | undefined }) {
  const user = useUser();
  const guarded = useGuarded();
  const queryClient = useQueryClient();
  const [result, setResult] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!hasRole(user, "operator")) {
    return <p className="muted">Controls need the operator role.</p>;
  }

  async function run(action: Action) {
    if (
      action === "kill" &&
      !window.confirm("Engage the kill switch? Trading stops until an admin clears it.")
    ) {
      return;
    }
    setBusy(true);
    try {
      const answer = await guarded(() => send(action));
      const acks = answer.acks.map(
        (a) => `${a.instance_id}: ${a.accepted ? "accepted" : `refused (${a.reason})`}`,
      );
      setResult(`${answer.action}: ${acks.join(", ") || "no engine answered"}`);
      void queryClient.invalidateQueries({ queryKey: ["alerts"] });
    } catch (e) {
      setResult(e instanceof ApiError ? `refused: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  }

  const paused = state?.status === "paused";
  return (
    <div className="stack">
      <div className="row">
        {paused ? (
          <button type="button" disabled={busy} onClick={() => void run("resume")}>
            Resume trading
          </button>
        ) : (
          <button
            type="button"
            disabled={busy || state === undefined}
            onClick={() => void run("pause")}
          >
            Pause trading
          </button>
        )}
        {state?.kill_switch ? (
          hasRole(user, "admin") && (
            <button type="button" disabled={busy} onClick={() => void run("clear")}>
              Clear kill switch
            </button>
          )
        ) : (
          <button
            type="button"
            className="danger"
            disabled={busy || state === undefined}
            onClick={() => void run("kill")}
          >
            Engage kill switch
          </button>
        )}
      </div>
      {result && (
        <p role="status" className="muted" data-testid="control-result">
          {result}
        </p>
      )}
    </div>
  );
}
