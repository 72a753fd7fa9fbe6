import { lazy, Suspense, useEffect, useState } from "react";
import { BrowserRouter, NavLink, Route, Routes } from "react-router";
import { Login } from "./auth/Login";
import { StepUpProvider } from "./auth/StepUp";
import { hasRole, useSession, useUser } from "./auth/session";
import { loadPage } from "./lib/chunks";
import { LiveProvider } from "./live/LiveProvider";

// A chunk per page (recharts only in the pages that chart), fetched on first visit.
const Activity = lazy(() =>
  loadPage(
    () => import("./pages/Activity"),
    (m) => m.Activity,
  ),
);
const Admin = lazy(() =>
  loadPage(
    () => import("./pages/Admin"),
    (m) => m.Admin,
  ),
);
const Errors = lazy(() =>
  loadPage(
    () => import("./pages/Errors"),
    (m) => m.Errors,
  ),
);
const Markets = lazy(() =>
  loadPage(
    () => import("./pages/Markets"),
    (m) => m.Markets,
  ),
);
const MarketDepth = lazy(() =>
  loadPage(
    () => import("./pages/Markets"),
    (m) => m.MarketDepth,
  ),
);
const Overview = lazy(() =>
  loadPage(
    () => import("./pages/Overview"),
    (m) => m.Overview,
  ),
);
const Pnl = lazy(() =>
  loadPage(
    () => import("./pages/Pnl"),
    (m) => m.Pnl,
  ),
);
const Strategies = lazy(() =>
  loadPage(
    () => import("./pages/Strategies"),
    (m) => m.Strategies,
  ),
);

type Theme = "dark" | "light";

function initialTheme(): Theme {
  const saved = window.localStorage.getItem("polyarb-theme");
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    window.localStorage.setItem("polyarb-theme", theme);
  }, [theme]);
  const other = theme === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      className="link"
      onClick={() => setTheme(other)}
      aria-label={`switch to the ${other} theme`}
    >
      {other === "light" ? "☀ light" : "☾ dark"}
    </button>
  );
}

function Shell() {
  const user = useUser();
  const { logout } = useSession();
  const links: [string, string][] = [
    ["/", "Overview"],
    ["/markets", "Markets"],
    ["/activity", "Trades & signals"],
    ["/strategies", "Strategies"],
    ["/pnl", "P&L"],
    ["/errors", "Errors & alerts"],
  ];
  if (hasRole(user, "admin")) links.push(["/admin", "Audit & users"]);
  return (
    <StepUpProvider>
      <LiveProvider>
        <a className="skip" href="#main">
          Skip to content
        </a>
        <header className="top">
          <strong className="brand">polyarb</strong>
          <nav aria-label="pages">
            {links.map(([to, label]) => (
              <NavLink key={to} to={to} end={to === "/"}>
                {label}
              </NavLink>
            ))}
          </nav>
          <span className="who">
            <span data-testid="whoami">
              {user.email} ({user.role})
            </span>
            <ThemeToggle />
            <button type="button" onClick={() => void logout()}>
              Log out
            </button>
          </span>
        </header>
        <main id="main">
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Routes>
              <Route path="/" element={<Overview />} />
              <Route path="/markets" element={<Markets />} />
              <Route path="/markets/:conditionId" element={<MarketDepth />} />
              <Route path="/activity" element={<Activity />} />
              <Route path="/strategies" element={<Strategies />} />
              <Route path="/pnl" element={<Pnl />} />
              <Route path="/errors" element={<Errors />} />
              <Route path="/admin" element={<Admin />} />
              <Route path="*" element={<p>No such page.</p>} />
            </Routes>
          </Suspense>
        </main>
      </LiveProvider>
    </StepUpProvider>
  );
}

export function App() {
  const { state } = useSession();
  return (
    <BrowserRouter>
      {state.status === "loading" && <p className="muted">Loading…</p>}
      {state.status === "out" && (
        <>
          <div className="top-right">
            <ThemeToggle />
          </div>
          <Login />
        </>
      )}
      {state.status === "in" && <Shell />}
    </BrowserRouter>
  );
}
