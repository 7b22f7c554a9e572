// A tenant's settings as a form, for creating one and for editing its
// limits: name, requests a minute, tasks at once, images a day, the models
// its keys may use, and its own upstream key (write-only: never shown back).
import { useState } from "preact/hooks";
import type { ModelMapping, Tenant, TenantSettings } from "./api.js";
import { ErrorNote, LimitField, limitOf } from "./ui.js";

const limitFields = [
  { key: "rpm", label: "Requests per minute", hint: "Past it: 429 rate_limit_exceeded." },
  {
    key: "max_concurrent",
    label: "Tasks at once",
    hint: "Upstream tasks in flight; past it: 429 at once.",
  },
  {
    key: "images_per_day",
    label: "Images per UTC day",
    hint: "All models together; past it: 429 insufficient_quota.",
  },
] as const;
type LimitKey = (typeof limitFields)[number]["key"];

const text = (value: number | null | undefined) => (value == null ? "" : String(value));

export interface TenantFormProps {
  /** "new" or the tenant's id: makes the fields' ids unique on the page. */
  idPrefix: string;
  models: ModelMapping[];
  tenant?: Tenant;
  submitLabel: string;
  onSubmit(body: TenantSettings): Promise<void>;
}

export function TenantForm(props: TenantFormProps) {
  const { tenant } = props;
  const [name, setName] = useState(tenant?.name ?? "");
  const [limits, setLimits] = useState<Record<LimitKey, string>>({
    rpm: text(tenant?.rpm),
    max_concurrent: text(tenant?.max_concurrent),
    images_per_day: text(tenant?.images_per_day),
  });
  const [allModels, setAllModels] = useState(tenant?.models == null);
  const [chosen, setChosen] = useState<string[]>(tenant?.models ?? []);
  const [upstreamKey, setUpstreamKey] = useState("");
  const [removeKey, setRemoveKey] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = (field: string) => `${props.idPrefix}-${field}`;

  // The allowlist may name models the map hides, or aliases: they stay choosable.
  const shown = props.models.filter((model) => !model.hidden).map((model) => model.id);
  const choices = [...shown, ...chosen.filter((model) => !shown.includes(model))];

  const bodyOf = (): TenantSettings | string => {
    if (name.trim() === "") return "Give the tenant a name.";
    const body: TenantSettings = { name: name.trim() };
    for (const field of limitFields) {
      const value = limitOf(limits[field.key]);
      if (value !== null && (!Number.isInteger(value) || value < 1)) {
        return `${field.label} must be a whole number of 1 or more, or empty for no limit.`;
      }
      body[field.key] = value;
    }
    if (!allModels && chosen.length === 0) return "Choose at least one model, or allow all.";
    body.models = allModels ? null : chosen;
    if (upstreamKey.trim() !== "") body.upstream_key = upstreamKey.trim();
    else if (removeKey) body.upstream_key = null;
    return body;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const body = bodyOf();
    if (typeof body === "string") {
      setError(body);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit(body);
      setUpstreamKey("");
      setRemoveKey(false);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="tenant-form" onSubmit={submit} noValidate>
      <div class="field">
        <label for={id("name")}>Name</label>
        <input
          id={id("name")}
          type="text"
          required
          maxLength={100}
          autoComplete="off"
          value={name}
          onInput={(event) => setName(event.currentTarget.value)}
        />
      </div>
      <div class="field-row">
        {limitFields.map((field) => (
          <LimitField
            key={field.key}
            id={id(field.key)}
            label={field.label}
            hint={field.hint}
            value={limits[field.key]}
            onInput={(value) => setLimits({ ...limits, [field.key]: value })}
          />
        ))}
      </div>
      <fieldset class="models">
        <legend>Models its keys may use</legend>
        <div class="radio-row">
          <label>
            <input
              type="radio"
              name={id("models-mode")}
              checked={allModels}
              onChange={() => setAllModels(true)}
            />
            All models
          </label>
          <label>
            <input
              type="radio"
              name={id("models-mode")}
              checked={!allModels}
              onChange={() => setAllModels(false)}
            />
            Only these
          </label>
        </div>
        {!allModels && (
          <div class="checkbox-grid">
            {choices.map((model) => (
              <label key={model}>
                <input
                  type="checkbox"
                  checked={chosen.includes(model)}
                  onChange={(event) =>
                    setChosen(
                      event.currentTarget.checked
                        ? [...chosen, model]
                        : chosen.filter((other) => other !== model),
                    )
                  }
                />
                <span class="mono">{model}</span>
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <div class="field">
        <label for={id("upstream-key")}>
          {tenant?.has_upstream_key
            ? "Replace its own upstream key"
            : "Own upstream key (optional)"}
        </label>
        <input
          id={id("upstream-key")}
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={upstreamKey}
          aria-describedby={id("upstream-key-hint")}
          onInput={(event) => setUpstreamKey(event.currentTarget.value)}
        />
        <span class="hint" id={id("upstream-key-hint")}>
          {tenant?.has_upstream_key
            ? "It has a key of its own (sealed, never shown). Leave empty to keep it."
            : "Sealed with the master key and never shown again; without one it uses the shared channels."}
        </span>
      </div>
      {tenant?.has_upstream_key && (
        <label class="check">
          <input
            type="checkbox"
            checked={removeKey}
            disabled={upstreamKey.trim() !== ""}
            onChange={(event) => setRemoveKey(event.currentTarget.checked)}
          />
          Remove its own upstream key (use the shared channels)
        </label>
      )}
      <ErrorNote message={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Saving…" : props.submitLabel}
        </button>
      </div>
    </form>
  );
}
