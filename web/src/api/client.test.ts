import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// The client calls the page's origin: give the module one before it loads.
vi.stubGlobal("location", { origin: "http://dash.test" });
const { ApiError, StepUpRequired, call, client, onLoggedOut } = await import("./client");

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A fetch answering from a script, per path, in order; records what was asked. */
function scriptedFetch(script: Record<string, Reply[]>) {
  const asked: string[] = [];
  const fetchMock = vi.fn(async (input: Request) => {
    const path = new URL(input.url).pathname;
    asked.push(`${input.method} ${path}`);
    const reply = script[path]?.shift();
    if (reply === undefined) throw new Error(`unexpected ${input.method} ${path}`);
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
      headers: { "content-type": "application/json", ...reply.headers },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return asked;
}

const STATE = { engines: [] };

describe("call", () => {
  let loggedOut: ReturnType<typeof vi.fn>;
  let stop: () => void;
  beforeEach(() => {
    loggedOut = vi.fn();
    stop = onLoggedOut(loggedOut as () => void);
  });
  afterEach(() => {
    stop();
    vi.unstubAllGlobals();
    vi.stubGlobal("location", { origin: "http://dash.test" });
  });

  it("sends the CSRF header and returns the data", async () => {
    const fetchMock = vi.fn(async (request: Request) => {
      expect(request.headers.get("x-requested-with")).toBe("polyarb");
      return Response.json(STATE);
    });
    vi.stubGlobal("fetch", fetchMock);
    expect(await call(() => client.GET("/api/state"))).toEqual(STATE);
    expect(fetchMock).toHaveBeenCalledOnce();
  });

  it("refreshes the session once on 401 and retries", async () => {
    const asked = scriptedFetch({
      "/api/state": [
        { status: 401, body: { detail: "not logged in" } },
        { status: 200, body: STATE },
      ],
      "/api/auth/refresh": [{ status: 200, body: {} }],
    });
    expect(await call(() => client.GET("/api/state"))).toEqual(STATE);
    expect(asked).toEqual(["GET /api/state", "POST /api/auth/refresh", "GET /api/state"]);
    expect(loggedOut).not.toHaveBeenCalled();
  });

  it("locks the page when the refresh is refused", async () => {
    scriptedFetch({
      "/api/state": [{ status: 401, body: { detail: "not logged in" } }],
      "/api/auth/refresh": [{ status: 401, body: { detail: "not logged in" } }],
    });
    await expect(call(() => client.GET("/api/state"))).rejects.toMatchObject({ status: 401 });
    expect(loggedOut).toHaveBeenCalledOnce();
  });

  it("shares one refresh between concurrent calls", async () => {
    const asked = scriptedFetch({
      "/api/state": [
        { status: 401 },
        { status: 401 },
        { status: 200, body: STATE },
        { status: 200, body: STATE },
      ],
      "/api/auth/refresh": [{ status: 200, body: {} }],
    });
    await Promise.all([call(() => client.GET("/api/state")), call(() => client.GET("/api/state"))]);
    expect(asked.filter((a) => a.endsWith("/refresh"))).toHaveLength(1);
  });

  it("turns a step-up answer into StepUpRequired, other refusals into ApiError", async () => {
    scriptedFetch({
      "/api/controls/kill-switch/clear": [
        { status: 403, body: { detail: "step-up required" }, headers: { "x-step-up": "required" } },
        { status: 403, body: { detail: "needs the admin role" } },
      ],
    });
    const clear = () =>
      call(() =>
        client.POST("/api/controls/kill-switch/clear", { body: { reason: "", target: "" } }),
      );
    await expect(clear()).rejects.toBeInstanceOf(StepUpRequired);
    const refused = await clear().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).not.toBeInstanceOf(StepUpRequired);
    expect((refused as Error).message).toBe("needs the admin role");
  });

  it("names the fields of a validation error", async () => {
    scriptedFetch({
      "/api/trades": [
        {
          status: 422,
          body: { detail: [{ loc: ["query", "strategy"], msg: "String should match pattern" }] },
        },
      ],
    });
    await expect(
      call(() => client.GET("/api/trades", { params: { query: { strategy: "Bad!" } } })),
    ).rejects.toThrow("query.strategy: String should match pattern");
  });
});
