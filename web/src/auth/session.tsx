// Who is logged in. The session lives in HttpOnly cookies the page cannot read: it asks
// /api/auth/me (refreshing once on 401) and locks itself whenever the API says it is over.

import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from "react";
import { call, client, onLoggedOut, type Schemas } from "../api/client";

export type SessionInfo = Schemas["SessionInfo"];

type SessionState = { status: "loading" } | { status: "out" } | { status: "in"; info: SessionInfo };

interface SessionApi {
  state: SessionState;
  loggedIn: (info: SessionInfo) => void;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(info: SessionInfo, role: "viewer" | "operator" | "admin"): boolean {
  return (RANK[info.role] ?? -1) >= (RANK[role] ?? 99);
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });
  const queryClient = useQueryClient();

  const lock = useCallback(() => {
    setState({ status: "out" });
    queryClient.clear(); // nothing from the session stays on screen or in memory
  }, [queryClient]);

  useEffect(() => {
    let cancelled = false;
    call(() => client.GET("/api/auth/me"))
      .then((info) => {
        if (!cancelled) setState({ status: "in", info });
      })
      .catch(() => {
        if (!cancelled) setState({ status: "out" });
      });
    const stop = onLoggedOut(lock);
    return () => {
      cancelled = true;
      stop();
    };
  }, [lock]);

  const loggedIn = useCallback((info: SessionInfo) => setState({ status: "in", info }), []);
  const logout = useCallback(async () => {
    try {
      await client.POST("/api/auth/logout", { body: { everywhere: false } });
    } finally {
      lock();
    }
  }, [lock]);

  return (
    <SessionContext.Provider value={{ state, loggedIn, logout }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionApi {
  const value = useContext(SessionContext);
  if (value === null) throw new Error("useSession outside SessionProvider");
  return value;
}

/** The logged-in user's info (inside the app's logged-in part only). */
export function useUser(): SessionInfo {
  const { state } = useSession();
  if (state.status !== "in") throw new Error("useUser while logged out");
  return state.info;
}
