// The typed API client (openapi-fetch over the generated schema.d.ts) and the one place that
// turns answers into values or errors: a 401 refreshes the session once and retries; a 403
// carrying `X-Step-Up: required` asks the user for a fresh code (see auth/StepUp.tsx).

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

export const CSRF_HEADERS = { "X-Requested-With": "polyarb" } as const;

export const client = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "", // this page's origin: pages and API are one app
  credentials: "same-origin",
  headers: CSRF_HEADERS,
  fetch: (request) => globalThis.fetch(request), // looked up per call (the tests replace it)
});

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The action needs a code entered in the last minutes (step-up). */
export class StepUpRequired extends ApiError {
  constructor(message: string) {
    super(403, message);
    this.name = "StepUpRequired";
  }
}

type Listener = () => void;
const loggedOutListeners = new Set<Listener>();

/** Called when the session is gone (refresh refused): the UI locks itself. */
export function onLoggedOut(listener: Listener): () => void {
  loggedOutListeners.add(listener);
  return () => loggedOutListeners.delete(listener);
}

export function announceLoggedOut(): void {
  for (const listener of loggedOutListeners) listener();
}

export type Refreshed = "ok" | "refused" | "unreachable";
let refreshing: Promise<Refreshed> | null = null;

/** Rotate the session's tokens (one refresh at a time, shared by every caller). */
export function refreshSession(): Promise<Refreshed> {
  if (refreshing === null) {
    refreshing = client
      .POST("/api/auth/refresh")
      .then(({ response }): Refreshed => {
        if (response.ok) return "ok";
        return response.status === 401 ? "refused" : "unreachable";
      })
      .catch((): Refreshed => "unreachable")
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

function detailOf(error: unknown, response: Response): string {
  if (error && typeof error === "object" && "detail" in error) {
    const detail = (error as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join(".")}: ${d.msg ?? ""}`)
        .join("; ");
    }
  }
  return `${String(response.status)} ${response.statusText}`;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer; throws ApiError / StepUpRequired otherwise. */
export async function call<T>(request: () => Promise<Answer<T>>): Promise<T> {
  let answer = await request();
  if (answer.response.status === 401) {
    if ((await refreshSession()) === "ok") {
      answer = await request();
    }
    if (answer.response.status === 401) {
      announceLoggedOut();
      throw new ApiError(401, "not logged in");
    }
  }
  const { response } = answer;
  if (!response.ok) {
    const message = detailOf(answer.error, response);
    if (response.status === 403 && response.headers.get("x-step-up") === "required") {
      throw new StepUpRequired(message);
    }
    throw new ApiError(response.status, message);
  }
  return answer.data as T;
}
