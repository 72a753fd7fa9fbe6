// The dashboard in a real browser (Debian's chromium driven by playwright-core), against a real
// `polyarb run --venue sim` paper-trading with the dashboard in-process. Started by
// tests/web/test_dashboard_e2e.py, which provides (environment):
//   DASHBOARD_URL  the app's URL          LOGIN_EMAIL  an admin account allowed to log in
//   MAIL_DIR       where the test's SMTP server writes each mail (one file per message)
//   OUT_DIR        screenshots, the downloaded CSV     CHROMIUM  the browser's executable
// Every step logs a line; any failed expectation ends the run with a non-zero code. At the end
// it writes OUT_DIR/stop-engine: the test then stops the engine (and its dashboard), and the
// page must say that the live stream is away. No console error is allowed before that.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.DASHBOARD_URL;
const email = process.env.LOGIN_EMAIL;
const mailDir = process.env.MAIL_DIR;
const outDir = process.env.OUT_DIR;
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
assert.ok(url && email && mailDir && outDir, "DASHBOARD_URL, LOGIN_EMAIL, MAIL_DIR, OUT_DIR");

const started = Date.now();
function step(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);
}

function mails() {
  return readdirSync(mailDir).sort();
}

async function codeAfter(before, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const fresh = mails().filter((name) => !before.includes(name));
    if (fresh.length > 0) {
      const body = readFileSync(join(mailDir, fresh[0]), "utf8");
      const match = /code is (\d{6})/.exec(body);
      assert.ok(match, `no code in the mail: ${body}`);
      return match[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no login code was mailed");
}

const consoleErrors = [];
let missingChunks = 0;
let forbidden = 0;
const profile = mkdtempSync(join(tmpdir(), "polyarb-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1360, height: 900 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync", // the profile (--user-data-dir) is the fresh folder given above
  ],
});
context.setDefaultTimeout(20_000);
const page = context.pages()[0] ?? (await context.newPage());
page.on("console", (message) => {
  if (message.type() !== "error") return;
  // The browser logs every 401 answer as "Failed to load resource"; those are the API saying
  // "not logged in" where the test expects it (the login page, after logout or tampering).
  if (/Failed to load resource: the server responded with a status of 401/.test(message.text()))
    return;
  // One 403 is expected too: the step-up answer (`X-Step-Up: required`) before the prompt.
  if (/status of 403/.test(message.text())) forbidden += 1;
  // And one 404: the page chunk that is made to vanish, as after an upgrade (below).
  else if (/status of 404/.test(message.text())) missingChunks += 1;
  else consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(`page error: ${error.message}`));
page.on("dialog", (dialog) => void dialog.accept()); // "Engage the kill switch?"

async function shot(name) {
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
}

async function login() {
  await page.getByLabel("Email").fill(email);
  const before = mails();
  await page.getByRole("button", { name: "Send me a code" }).click();
  const code = await codeAfter(before);
  await page.getByLabel(/6-digit code/).fill(code);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("whoami").waitFor();
  assert.ok(((await page.getByTestId("whoami").textContent()) ?? "").includes(email));
}

async function text(testId) {
  return ((await page.getByTestId(testId).first().textContent()) ?? "").trim();
}

async function waitText(testId, expected, timeoutMs = 20_000) {
  await page.waitForFunction(
    ([id, want]) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() === want,
    [testId, expected],
    { timeout: timeoutMs },
  );
}

try {
  step("the login page");
  await page.goto(url);
  await page.getByRole("button", { name: "Send me a code" }).waitFor();
  await shot("login");
  await login();
  const loggedInAt = Date.now();
  step("logged in: overview");

  await waitText("engine-status", "running");
  const tradesBefore = await text("pnl-trades");
  const realizedBefore = await text("pnl-realized");
  step(`P&L today: ${realizedBefore}, trades ${tradesBefore}; waiting for it to move live`);
  await page.waitForFunction(
    ([trades, realized]) =>
      document.querySelector('[data-testid="pnl-trades"]')?.textContent?.trim() !== trades ||
      document.querySelector('[data-testid="pnl-realized"]')?.textContent?.trim() !== realized,
    [tradesBefore, realizedBefore],
    { timeout: 40_000 },
  );
  // The latest trades (HTTP, refetched when the stream reports fills) show rows.
  await page.getByTestId("latest-trades").locator("tbody tr").first().waitFor({ timeout: 20_000 });
  step(`moved: trades ${await text("pnl-trades")}, realized ${await text("pnl-realized")}`);
  await shot("overview");

  step("pause, then resume");
  await page.getByRole("button", { name: "Pause trading" }).click();
  await waitText("engine-status", "paused");
  assert.match(await text("control-result"), /pause: .*accepted/);
  await shot("overview-paused");
  await page.getByRole("button", { name: "Resume trading" }).click();
  await waitText("engine-status", "running");

  step("markets: search, then one market's depth chart");
  await page.getByRole("link", { name: "Markets", exact: true }).click();
  const rows = page.locator("tbody tr");
  await rows.first().waitFor();
  const count = await rows.count();
  assert.ok(count > 0, "no market listed");
  const firstLink = rows.first().getByRole("link");
  const question = ((await firstLink.textContent()) ?? "").trim();
  await page.getByLabel("Search").fill(question.slice(0, 12));
  assert.ok((await rows.count()) >= 1);
  await shot("markets");
  await page.getByRole("link", { name: question }).first().click();
  await page.getByRole("heading", { level: 1, name: question }).waitFor();
  await page.getByTestId("depth-chart").first().waitFor({ timeout: 20_000 });
  assert.ok((await page.getByTestId("depth-chart").count()) >= 2, "one chart per outcome");
  await page.locator(".recharts-area").first().waitFor();
  await shot("market-depth");

  step("trades and signals: filter, export CSV");
  await page.getByRole("link", { name: "Trades & signals" }).click();
  await page.getByRole("heading", { name: "Trades", exact: true }).waitFor();
  await page.locator("table").first().locator("tbody tr").first().waitFor();
  await shot("trades-signals");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByTestId("export-csv").click(),
  ]);
  const csvPath = join(outDir, "trades.csv");
  await download.saveAs(csvPath);
  const csv = readFileSync(csvPath, "utf8").trim().split(/\r?\n/);
  assert.ok(csv.length >= 2, `the CSV has a header and trades: ${csv.length} lines`);
  assert.match(csv[0], /fill_id/);
  step(`CSV: ${csv.length - 1} trades`);
  await page.getByLabel("Strategy").fill("no_such_strategy");
  await page.getByText("no data yet").first().waitFor();

  // The admin page's chunk is gone the first time it is asked for (an upgrade replaced the
  // bundle while this tab was open): the tab reloads itself and the page still shows.
  await page.route(/\/assets\/Admin-[^/]+\.js$/, (route) => route.fulfill({ status: 404 }), {
    times: 1,
  });
  await page.evaluate(() => {
    window.polyarbBeforeReload = true;
  });
  for (const [link, heading, name] of [
    ["Strategies", "Strategies", "strategies"],
    ["P&L", "P&L", "pnl"],
    ["Errors & alerts", "Errors and alerts", "errors"],
    ["Audit & users", "Audit and users", "admin"],
  ]) {
    step(`page: ${heading}`);
    await page.getByRole("link", { name: link, exact: true }).click();
    await page.getByRole("heading", { level: 1, name: heading }).waitFor();
    await page.waitForLoadState("networkidle").catch(() => {});
    assert.equal(await page.getByText("Could not load").count(), 0, `${heading} failed to load`);
    await shot(name);
  }
  assert.equal(missingChunks, 1, "the vanished chunk was asked for once");
  assert.equal(
    await page.evaluate(() => window.polyarbBeforeReload),
    undefined,
    "the tab reloaded to get the new bundle",
  );
  // The pause and resume above are in the audit log and the alerts.
  await page.getByRole("cell", { name: "pause", exact: true }).first().waitFor();

  step("light theme, and a phone's width");
  await page.getByRole("link", { name: "Overview" }).click();
  const before = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.getByRole("button", { name: /switch to the (light|dark) theme/ }).click();
  const after = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.ok(before !== after && ["light", "dark"].includes(after), `${before} → ${after}`);
  await shot("overview-other-theme");
  await page.setViewportSize({ width: 390, height: 844 });
  await waitText("engine-status", "running");
  // Charts re-measure on the next frames: the page must settle to the phone's width.
  await page
    .waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth + 1, null, {
      timeout: 5000,
    })
    .catch(() => {});
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - window.innerWidth,
  );
  assert.ok(overflow <= 1, `the page scrolls sideways on a phone by ${overflow}px`);
  await shot("overview-phone");
  await page.setViewportSize({ width: 1360, height: 900 });

  step("keyboard: the skip link and the navigation are reachable by Tab");
  await page.goto(url);
  await page.getByTestId("whoami").waitFor();
  const focused = () => page.evaluate(() => document.activeElement?.textContent);
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Skip to content");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Overview");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Markets");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Markets" }).waitFor();

  // Step-up: clearing the kill switch needs a code entered within JWT_STEP_UP_TTL_S (the test
  // sets the minimum, 60 s): once the login's code is that old, the page must ask for a fresh one.
  step("kill switch: engage (operator), then clear (admin, step-up)");
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("button", { name: "Engage kill switch" }).click();
  await page.getByTestId("banner-kill").waitFor();
  await waitText("kill-switch", "engaged");
  const stepUpAfter = Number(process.env.STEP_UP_TTL_S ?? "60") * 1000 + 2000;
  const wait = loggedInAt + stepUpAfter - Date.now();
  step(`waiting ${(Math.max(0, wait) / 1000).toFixed(0)} s for the login code to be too old`);
  if (wait > 0) await page.waitForTimeout(wait);
  await page.getByRole("button", { name: "Clear kill switch" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm it is you" });
  await dialog.waitFor();
  const beforeStepUp = mails();
  await dialog.getByRole("button", { name: "Send me a code" }).click();
  await dialog.getByLabel(/6-digit code/).fill(await codeAfter(beforeStepUp));
  await shot("step-up");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await waitText("kill-switch", "off");
  assert.match(await text("control-result"), /kill_switch_clear: .*accepted/);
  assert.equal(await page.getByTestId("banner-kill").count(), 0);

  step("log out: the UI locks");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Send me a code" }).waitFor();
  await page.goto(`${url}/pnl`);
  await page.getByRole("button", { name: "Send me a code" }).waitFor();
  assert.equal(await page.getByTestId("whoami").count(), 0);
  assert.equal((await page.request.get(`${url}/api/state`)).status(), 401);

  step("log in again, then tamper with the cookies: the UI locks");
  await login();
  await page.getByRole("heading", { level: 1, name: "P&L" }).waitFor(); // back where it was
  const cookies = await context.cookies();
  const session = cookies.filter((c) => c.name.includes("polyarb-"));
  assert.equal(session.length, 2, `the session's two cookies: ${cookies.map((c) => c.name)}`);
  await context.addCookies(
    session.map((c) => ({
      ...c,
      value: `${c.value.slice(0, -4)}${c.value.slice(-4).split("").reverse().join("")}x`,
    })),
  );
  await page.reload();
  await page.getByRole("button", { name: "Send me a code" }).waitFor();
  assert.equal(await page.getByTestId("whoami").count(), 0);

  assert.deepEqual(consoleErrors, [], "console errors");
  assert.equal(forbidden, 1, "one 403: the step-up answer");

  step("log in a third time, then the engine stops: the page says the stream is away");
  await page.goto(url);
  await login();
  await waitText("engine-status", "running");
  writeFileSync(join(outDir, "stop-engine"), "");
  await page.getByTestId("banner-stream").waitFor({ timeout: 40_000 });
  assert.match(await text("banner-stream"), /disconnected/);
  await shot("disconnected");
  step("done");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  if (consoleErrors.length > 0) console.error("console errors:", consoleErrors);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
