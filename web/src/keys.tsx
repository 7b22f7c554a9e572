// A tenant's API keys: the list (hints only: the gateway keeps hashes),
// issuing one (its key shown once, here), and revoking one after a
// confirmation.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { type ApiKey, admin, messageOf } from "./api.js";
import { dateTime } from "./format.js";
import { Badge, ErrorNote } from "./ui.js";

export interface ShownKey {
  tenantName: string;
  keyId: string;
  apiKey: string;
}

/** The new key, shown once, with a copy button and a warning; focus lands on it. */
export function NewKeyBox({ shown, onDismiss }: { shown: ShownKey; onDismiss: () => void }) {
  const box = useRef<HTMLElement>(null);
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);

  useLayoutEffect(() => box.current?.focus(), []);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(shown.apiKey);
      setCopied("Copied to the clipboard.");
    } catch {
      // Without clipboard access (a plain-http origin), select it for Ctrl+C.
      field.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };

  return (
    <section
      class="new-key"
      ref={box}
      tabIndex={-1}
      aria-labelledby="new-key-title"
      aria-describedby="new-key-warning"
    >
      <h3 id="new-key-title">New API key for {shown.tenantName}</h3>
      <p id="new-key-warning" class="warn-text">
        Copy it now: it is shown this once. The gateway keeps only its hash and cannot show it
        again.
      </p>
      <div class="key-row">
        <label class="visually-hidden" for="new-key-value">
          New API key
        </label>
        <input
          ref={field}
          id="new-key-value"
          class="mono key-value"
          type="text"
          readOnly
          value={shown.apiKey}
          onFocus={(event) => event.currentTarget.select()}
        />
        <button type="button" class="primary" onClick={copy}>
          Copy
        </button>
        <button type="button" class="ghost" onClick={onDismiss}>
          Done, I saved it
        </button>
      </div>
      <p class="small muted" role="status">
        {copied}
      </p>
    </section>
  );
}

/** "2026-05-04 13:07": a key's dates need no seconds. */
const minute = (seconds: number | null) => dateTime(seconds).slice(0, 16);

function keyState(key: ApiKey, now: number): { text: string; tone: "ok" | "bad" | "neutral" } {
  if (key.revoked_at !== null) return { text: "Revoked", tone: "bad" };
  if (key.expires_at !== null && key.expires_at * 1000 <= now) {
    return { text: "Expired", tone: "neutral" };
  }
  return { text: "Active", tone: "ok" };
}

export function KeysPanel(props: {
  tenantId: string;
  tenantName: string;
  keys: ApiKey[];
  onIssued: (shown: ShownKey) => void;
  onChanged: () => Promise<void>;
}) {
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const confirmButton = useRef<HTMLButtonElement>(null);

  // Before the next paint: a keyboard user's next key press already lands on it.
  useLayoutEffect(() => {
    if (confirming !== null) confirmButton.current?.focus();
  }, [confirming]);

  const issue = async (event: Event) => {
    event.preventDefault();
    const body: { name?: string; expires_in?: number } = {};
    if (name.trim() !== "") body.name = name.trim();
    if (days.trim() !== "") {
      const value = Number(days);
      if (!Number.isInteger(value) || value < 1) {
        setError("Expires in: a whole number of days, or empty for never.");
        return;
      }
      body.expires_in = value * 86_400;
    }
    setBusy(true);
    setError(null);
    try {
      const issued = await admin.issueKey(props.tenantId, body);
      setName("");
      setDays("");
      props.onIssued({ tenantName: props.tenantName, keyId: issued.id, apiKey: issued.api_key });
      await props.onChanged();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    setBusy(true);
    setError(null);
    try {
      await admin.revokeKey(props.tenantId, key.id);
      setConfirming(null);
      setStatus(`Key ${key.hint} revoked: its next request is refused.`);
      await props.onChanged();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const now = Date.now();
  const confirmingKey = props.keys.find((key) => key.id === confirming);
  return (
    <div class="keys">
      <div class="table-wrap">
        <table class="data">
          <caption class="visually-hidden">API keys of {props.tenantName}</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.keys.length === 0 && (
              <tr>
                <td colSpan={7} class="empty">
                  No keys.
                </td>
              </tr>
            )}
            {props.keys.map((key) => {
              const state = keyState(key, now);
              return (
                <tr key={key.id} class={state.text === "Active" ? "" : "inactive"}>
                  <th scope="row" class="mono">
                    {key.hint}
                  </th>
                  <td>{key.name ?? "—"}</td>
                  <td class="nowrap">{minute(key.created_at)}</td>
                  <td class="nowrap">
                    {key.expires_at === null ? "never" : minute(key.expires_at)}
                  </td>
                  <td class="nowrap">
                    {key.last_used_at === null ? "never" : minute(key.last_used_at)}
                  </td>
                  <td>
                    <Badge tone={state.tone}>{state.text}</Badge>
                  </td>
                  <td class="row-actions">
                    {state.text === "Active" && (
                      <button
                        type="button"
                        class="danger-outline small-button"
                        aria-label={`Revoke key ${key.hint}`}
                        aria-expanded={confirming === key.id}
                        aria-controls={confirming === key.id ? "revoke-confirm" : undefined}
                        onClick={() => setConfirming(confirming === key.id ? null : key.id)}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {confirmingKey && (
        <div class="confirm-bar" id="revoke-confirm">
          <p>
            Revoke key <span class="mono">{confirmingKey.hint}</span>
            {confirmingKey.name ? ` (${confirmingKey.name})` : ""}? Its next request is refused;
            this cannot be undone.
          </p>
          <div class="actions">
            <button
              ref={confirmButton}
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => revoke(confirmingKey)}
            >
              Revoke {confirmingKey.hint}
            </button>
            <button type="button" class="ghost" onClick={() => setConfirming(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <p class="small muted" role="status">
        {status}
      </p>
      <form class="issue-form" onSubmit={issue} noValidate>
        <h5>Issue a key</h5>
        <div class="field-row">
          <div class="field">
            <label for="key-name">Key name (optional)</label>
            <input
              id="key-name"
              type="text"
              maxLength={100}
              autoComplete="off"
              value={name}
              onInput={(event) => setName(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="key-days">Expires in days (optional)</label>
            <input
              id="key-days"
              type="number"
              min={1}
              step={1}
              inputMode="numeric"
              placeholder="never"
              value={days}
              onInput={(event) => setDays(event.currentTarget.value)}
            />
          </div>
          <div class="field field-button">
            <button type="submit" class="primary" disabled={busy}>
              Issue key
            </button>
          </div>
        </div>
        <ErrorNote message={error} />
      </form>
    </div>
  );
}
