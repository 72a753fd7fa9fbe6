// Pages are separate chunks. After an upgrade the old chunk files are gone, so a tab left open
// fails to load the next page it visits: reload it to get the new build. At most once a minute,
// so a chunk missing for another reason cannot loop; that error then shows as usual.

export const RELOADED_AT_KEY = "polyarb-chunk-reload-at";
const RELOAD_GAP_MS = 60_000;

export interface ReloadDeps {
  storage: Pick<Storage, "getItem" | "setItem">;
  now: () => number;
  reload: () => void;
}

function browser(): ReloadDeps {
  return {
    storage: window.sessionStorage,
    now: () => Date.now(),
    reload: () => window.location.reload(),
  };
}

/** Reload the tab unless it already did so in the last minute; says whether it reloads. */
export function reloadForNewBuild(deps: ReloadDeps = browser()): boolean {
  const last = Number(deps.storage.getItem(RELOADED_AT_KEY) ?? "0");
  const now = deps.now();
  if (now - last < RELOAD_GAP_MS) return false;
  deps.storage.setItem(RELOADED_AT_KEY, String(now));
  deps.reload();
  return true;
}

/**
 * Load a page's chunk for React.lazy. When the chunk cannot be fetched, the tab reloads and the
 * promise never settles, so Suspense keeps its fallback up until the new page arrives instead of
 * rendering a half-loaded module (the error would surface before the reload took over).
 */
export function loadPage<M, C>(
  load: () => Promise<M>,
  pick: (module: M) => C,
  deps?: ReloadDeps,
): Promise<{ default: C }> {
  return load().then(
    (module) => ({ default: pick(module) }),
    (error: unknown) => {
      if (reloadForNewBuild(deps ?? browser())) return new Promise<never>(() => {});
      throw error;
    },
  );
}
