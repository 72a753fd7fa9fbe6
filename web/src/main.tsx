import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ApiError } from "./api/client";
import { SessionProvider } from "./auth/session";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 2000,
      refetchInterval: 15_000, // a backstop: the live stream refreshes the views as things happen
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
  },
});

// Pages are separate chunks (App.tsx). After an upgrade the old chunks are gone, so a tab left
// open fails to load the next page: reload it to get the new build (at most once a minute, so a
// chunk missing for another reason cannot loop; that error then shows as usual).
const RELOADED_AT = "polyarb-chunk-reload-at";
window.addEventListener("vite:preloadError", (event) => {
  const last = Number(window.sessionStorage.getItem(RELOADED_AT) ?? "0");
  if (Date.now() - last < 60_000) return;
  window.sessionStorage.setItem(RELOADED_AT, String(Date.now()));
  event.preventDefault();
  window.location.reload();
});

const root = document.getElementById("root");
if (root === null) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <App />
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
);
