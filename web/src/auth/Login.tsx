import { CodeForm } from "./CodeForm";
import { useSession } from "./session";

export function Login() {
  const { loggedIn } = useSession();
  return (
    <main className="login">
      <h1>polyarb</h1>
      <p>Log in with a one-time code sent to your email.</p>
      <CodeForm onDone={loggedIn} />
    </main>
  );
}
