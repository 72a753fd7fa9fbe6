import { describe, expect, it } from "vitest";
import { loadPage, RELOADED_AT_KEY, type ReloadDeps, reloadForNewBuild } from "./chunks";

function fakeTab(now: number): ReloadDeps & { reloads: number; items: Map<string, string> } {
  const items = new Map<string, string>();
  const tab = {
    items,
    reloads: 0,
    storage: {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
    },
    now: () => now,
    reload: () => {
      tab.reloads += 1;
    },
  };
  return tab;
}

const settled = (promise: Promise<unknown>) =>
  Promise.race([
    promise.then(
      () => "resolved",
      () => "rejected",
    ),
    new Promise((resolve) => setTimeout(() => resolve("pending"), 20)),
  ]);

describe("reloadForNewBuild", () => {
  it("reloads once, then not again within a minute, then again after it", () => {
    const tab = fakeTab(1_000_000);
    expect(reloadForNewBuild(tab)).toBe(true);
    expect(tab.items.get(RELOADED_AT_KEY)).toBe("1000000");
    expect(reloadForNewBuild({ ...tab, now: () => 1_059_999 })).toBe(false);
    expect(tab.reloads).toBe(1);
    expect(reloadForNewBuild({ ...tab, now: () => 1_060_000 })).toBe(true);
    expect(tab.reloads).toBe(2);
  });
});

describe("loadPage", () => {
  it("hands React.lazy the picked component", async () => {
    const tab = fakeTab(5);
    const loaded = await loadPage(
      async () => ({ Page: "the page" }),
      (m) => m.Page,
      tab,
    );
    expect(loaded).toEqual({ default: "the page" });
    expect(tab.reloads).toBe(0);
  });

  it("reloads on a vanished chunk and never settles, so nothing half-loaded renders", async () => {
    const tab = fakeTab(1_000_000);
    const missing = loadPage(
      () => Promise.reject(new TypeError("Failed to fetch dynamically imported module")),
      (m: { Page: string }) => m.Page,
      tab,
    );
    expect(await settled(missing)).toBe("pending");
    expect(tab.reloads).toBe(1);
  });

  it("lets the error through when the tab reloaded a moment ago", async () => {
    const tab = fakeTab(1_000_000);
    tab.items.set(RELOADED_AT_KEY, "990000");
    const missing = loadPage(
      () => Promise.reject(new TypeError("Failed to fetch dynamically imported module")),
      (m: { Page: string }) => m.Page,
      tab,
    );
    await expect(missing).rejects.toThrow("Failed to fetch");
    expect(tab.reloads).toBe(0);
  });
});
