// Sign-in with the admin token. The token is checked with one admin call (the
// model map, which the tenant forms need anyway) and then kept in api.ts's
// memory only: the input is cleared and nothing is stored.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, admin, type ModelMapping, messageOf, signIn, signOut } from "./api.js";
import { ErrorNote } from "./ui.js";

export function SignIn(props: {
  notice: string | null;
  onSignedIn: (models: ModelMapping[]) => void;
}) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  useLayoutEffect(() => input.current?.focus(), []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const given = token.trim();
    if (given === "") {
      setError("Enter the admin token (IMAGEGATE_ADMIN_TOKEN).");
      return;
    }
    setBusy(true);
    setError(null);
    signIn(given);
    try {
      const models = await admin.models();
      setToken("");
      props.onSignedIn(models.data);
    } catch (err) {
      signOut();
      setError(
        err instanceof ApiError && err.status === 401
          ? "That admin token was not accepted."
          : messageOf(err),
      );
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <form class="card sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title" noValidate>
        <p class="brand">
          <span class="brand-mark" aria-hidden="true" />
          imagegate
        </p>
        <h1 id="sign-in-title">Operator console</h1>
        <p class="muted">
          Sign in with the gateway's admin token. It stays in this tab's memory only: reloading or
          closing the tab signs you out.
        </p>
        {props.notice && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        <div class="field">
          <label for="admin-token">Admin token</label>
          <input
            ref={input}
            id="admin-token"
            name="admin-token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            value={token}
            aria-invalid={error !== null}
            aria-describedby={error === null ? undefined : "sign-in-error"}
            onInput={(event) => setToken(event.currentTarget.value)}
          />
        </div>
        <div id="sign-in-error">
          <ErrorNote message={error} />
        </div>
        <button type="submit" class="primary wide" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
