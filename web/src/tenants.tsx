// Tenants: the list with their limits, a form to create one (its first key
// shown once), and for the chosen tenant its settings, enable/disable and keys.
import { useCallback, useEffect, useState } from "preact/hooks";
import { admin, type ModelMapping, messageOf, type Tenant, type TenantWithKeys } from "./api.js";
import type { TenantList } from "./app.js";
import { dateTime, limit } from "./format.js";
import { KeysPanel, NewKeyBox, type ShownKey } from "./keys.js";
import { TenantForm } from "./tenant-form.js";
import { Badge, ErrorNote, SectionHeader } from "./ui.js";

export function Tenants(props: { tenants: TenantList; models: ModelMapping[] }) {
  const { tenants, reload } = props.tenants;
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [shownKey, setShownKey] = useState<ShownKey | null>(null);
  const [status, setStatus] = useState("");

  const create = async (body: Parameters<typeof admin.createTenant>[0]) => {
    const created = await admin.createTenant(body);
    setCreating(false);
    setSelected(created.id);
    setShownKey({ tenantName: created.name, keyId: created.key_id, apiKey: created.api_key });
    setStatus(`Tenant ${created.name} created.`);
    await reload();
  };

  return (
    <section aria-labelledby="section-title">
      <SectionHeader title="Tenants">
        <button
          type="button"
          class="primary"
          aria-expanded={creating}
          aria-controls="new-tenant"
          onClick={() => setCreating(!creating)}
        >
          {creating ? "Close the form" : "New tenant"}
        </button>
      </SectionHeader>
      <p class="visually-hidden" role="status">
        {status}
      </p>
      <ErrorNote message={props.tenants.error} />

      {shownKey && <NewKeyBox shown={shownKey} onDismiss={() => setShownKey(null)} />}

      {creating && (
        <div class="card" id="new-tenant">
          <h3>New tenant</h3>
          <TenantForm
            idPrefix="new"
            models={props.models}
            submitLabel="Create tenant"
            onSubmit={create}
          />
        </div>
      )}

      <div class="table-wrap card flush">
        <table class="data tenants-table">
          <caption class="visually-hidden">Tenants and their limits</caption>
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Requests / min
              </th>
              <th scope="col" class="num">
                Tasks at once
              </th>
              <th scope="col" class="num">
                Images / day
              </th>
              <th scope="col">Models</th>
              <th scope="col">Own key</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tenants.length === 0 && (
              <tr>
                <td colSpan={9} class="empty">
                  No tenants yet.
                </td>
              </tr>
            )}
            {tenants.map((tenant) => (
              <tr key={tenant.id} class={selected === tenant.id ? "selected" : ""}>
                <th scope="row">
                  <span class="cell-title">{tenant.name}</span>
                  <span class="mono muted small">{tenant.id}</span>
                </th>
                <td>
                  {tenant.disabled ? (
                    <Badge tone="bad">Disabled</Badge>
                  ) : (
                    <Badge tone="ok">Active</Badge>
                  )}
                </td>
                <td class="num">{limit(tenant.rpm)}</td>
                <td class="num">{limit(tenant.max_concurrent)}</td>
                <td class="num">{limit(tenant.images_per_day)}</td>
                <td class="models-cell">
                  {tenant.models === null ? "all" : tenant.models.join(", ")}
                </td>
                <td>{tenant.has_upstream_key ? "yes" : "no"}</td>
                <td>{dateTime(tenant.created_at)}</td>
                <td class="row-actions">
                  <button
                    type="button"
                    class="small-button"
                    aria-pressed={selected === tenant.id}
                    aria-label={`Manage ${tenant.name}`}
                    onClick={() => setSelected(selected === tenant.id ? null : tenant.id)}
                  >
                    Manage
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {selected !== null && (
        <TenantDetail
          key={selected}
          id={selected}
          models={props.models}
          onIssued={setShownKey}
          onChanged={reload}
        />
      )}
    </section>
  );
}

function TenantDetail(props: {
  id: string;
  models: ModelMapping[];
  onIssued: (shown: ShownKey) => void;
  onChanged: () => Promise<void>;
}) {
  const [tenant, setTenant] = useState<TenantWithKeys | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setTenant(await admin.tenant(props.id));
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  }, [props.id]);
  useEffect(() => {
    void load();
  }, [load]);

  const changed = async (updated?: Tenant) => {
    if (updated && tenant) setTenant({ ...tenant, ...updated });
    await Promise.all([load(), props.onChanged()]);
  };

  const toggle = async () => {
    if (!tenant) return;
    setBusy(true);
    setError(null);
    try {
      const updated = await admin.updateTenant(tenant.id, { disabled: !tenant.disabled });
      setStatus(
        updated.disabled
          ? `${updated.name} disabled: all its keys are refused.`
          : `${updated.name} enabled: its keys work again.`,
      );
      await changed(updated);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  if (tenant === null) {
    return (
      <div class="card">
        {error ? <ErrorNote message={error} /> : <p class="muted">Loading the tenant…</p>}
      </div>
    );
  }

  return (
    <section class="tenant-detail" aria-labelledby="tenant-detail-title">
      <div class="detail-header">
        <div>
          <h3 id="tenant-detail-title">
            {tenant.name}{" "}
            {tenant.disabled ? <Badge tone="bad">Disabled</Badge> : <Badge tone="ok">Active</Badge>}
          </h3>
          <p class="mono muted small">{tenant.id}</p>
        </div>
        <button
          type="button"
          class={tenant.disabled ? "primary" : "danger-outline"}
          disabled={busy}
          onClick={toggle}
        >
          {tenant.disabled ? "Enable tenant" : "Disable tenant"}
        </button>
      </div>
      <p class="small muted" role="status">
        {status}
      </p>
      <ErrorNote message={error} />
      <div class="detail-grid">
        <div class="card">
          <h4>Limits and models</h4>
          <TenantForm
            key={tenant.id}
            idPrefix={`edit-${tenant.id}`}
            models={props.models}
            tenant={tenant}
            submitLabel="Save changes"
            onSubmit={async (body) => {
              const updated = await admin.updateTenant(tenant.id, body);
              setStatus(`${updated.name}: changes saved; they apply to its next request.`);
              await changed(updated);
            }}
          />
        </div>
        <div class="card">
          <h4>API keys</h4>
          <KeysPanel
            tenantId={tenant.id}
            tenantName={tenant.name}
            keys={tenant.keys}
            onIssued={props.onIssued}
            onChanged={() => changed()}
          />
        </div>
      </div>
    </section>
  );
}
