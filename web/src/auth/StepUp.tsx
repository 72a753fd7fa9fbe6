// Dangerous actions (clearing the kill switch, setting a parameter, changing users) need a
// code entered in the last minutes. `useGuarded()` runs an action; when the API answers that
// it needs a fresh code, a dialog asks for one and the action is retried once.

import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
} from "react";
import { StepUpRequired } from "../api/client";
import { CodeForm } from "./CodeForm";
import { useSession, useUser } from "./session";

type Run = <T>(action: () => Promise<T>) => Promise<T>;

const StepUpContext = createContext<Run | null>(null);

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export function StepUpProvider({ children }: { children: ReactNode }) {
  const user = useUser();
  const { loggedIn } = useSession();
  const [pending, setPending] = useState<Pending | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    if (pending !== null) dialog.current?.showModal();
    else dialog.current?.close();
  }, [pending]);

  const run = useCallback<Run>(async (action) => {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof StepUpRequired)) throw error;
      await new Promise<void>((resolve, reject) => setPending({ resolve, reject }));
      return await action();
    }
  }, []);

  return (
    <StepUpContext.Provider value={run}>
      {children}
      <dialog
        ref={dialog}
        aria-labelledby="step-up-title"
        onCancel={() => {
          pending?.reject(new Error("step-up cancelled"));
          setPending(null);
        }}
      >
        <h2 id="step-up-title">Confirm it is you</h2>
        <p>This action needs a fresh code. We will send one to {user.email}.</p>
        {pending !== null && (
          <CodeForm
            fixedEmail={user.email}
            submitLabel="Confirm"
            onDone={(info) => {
              loggedIn(info);
              pending.resolve();
              setPending(null);
            }}
          />
        )}
        <button
          type="button"
          className="link"
          onClick={() => {
            pending?.reject(new Error("step-up cancelled"));
            setPending(null);
          }}
        >
          Cancel
        </button>
      </dialog>
    </StepUpContext.Provider>
  );
}

export function useGuarded(): Run {
  const run = useContext(StepUpContext);
  if (run === null) throw new Error("useGuarded outside StepUpProvider");
  return run;
}
