// Email, then the 6-digit code: the login page and the step-up prompt share it.

import { type FormEvent, useId, useState } from "react";
import { ApiError, call, client, type Schemas } from "../api/client";

interface Props {
  fixedEmail?: string; // step-up: the logged-in user's own email
  onDone: (info: Schemas["SessionInfo"]) => void;
  submitLabel?: string;
}

function ErrorText({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" className="error-text">
      {error}
    </p>
  );
}

export function CodeForm({ fixedEmail, onDone, submitLabel = "Log in" }: Props) {
  const id = useId();
  const [email, setEmail] = useState(fixedEmail ?? "");
  const [attempt, setAttempt] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // One request at a time: the buttons are disabled meanwhile and a failure is shown.
  async function busyWhile(work: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "the request failed");
    } finally {
      setBusy(false);
    }
  }

  function requestCode(event: FormEvent) {
    event.preventDefault();
    return busyWhile(async () => {
      const answer = await call(() => client.POST("/api/auth/otp/request", { body: { email } }));
      setAttempt(answer.attempt_id);
      setMessage(answer.message);
    });
  }

  function verify(event: FormEvent) {
    event.preventDefault();
    if (attempt === null) return;
    return busyWhile(async () => {
      const info = await call(() =>
        client.POST("/api/auth/otp/verify", {
          body: { email, attempt_id: attempt, code: code.trim() },
        }),
      );
      onDone(info);
    });
  }

  if (attempt === null) {
    return (
      <form onSubmit={requestCode} className="stack">
        <label htmlFor={`${id}-email`}>Email</label>
        <input
          id={`${id}-email`}
          type="email"
          autoComplete="email"
          required
          value={email}
          readOnly={fixedEmail !== undefined}
          onChange={(e) => setEmail(e.target.value)}
        />
        <button type="submit" disabled={busy}>
          Send me a code
        </button>
        <ErrorText error={error} />
      </form>
    );
  }
  return (
    <form onSubmit={verify} className="stack">
      <p aria-live="polite">{message}</p>
      <label htmlFor={`${id}-code`}>6-digit code sent to {email}</label>
      <input
        id={`${id}-code`}
        inputMode="numeric"
        autoComplete="one-time-code"
        pattern="[0-9]{6}"
        maxLength={6}
        required
        value={code}
        onChange={(e) => setCode(e.target.value)}
      />
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
      <button type="button" className="link" onClick={() => setAttempt(null)}>
        Use another code
      </button>
      <ErrorText error={error} />
    </form>
  );
}
