// The key vault: tenants, their API keys (stored as hashes) and their upstream
// credentials (sealed with the master key, opened only when a request needs one).
import type { Clock } from "../clock.js";
import { gatewayError } from "../errors.js";
import type { Db } from "../stores/sqlite/database.js";
import { newId } from "./ids.js";
import { generateApiKey, hashApiKey, keyHint, seal, unseal } from "./secrets.js";
import {
  type ColumnValue,
  kindOf,
  type SettingEntry,
  shownProperty,
  type Tenant,
  type TenantChanges,
  type TenantSettings,
  tenantSettings,
} from "./settings.js";

// A tenant's settings (and so Tenant, TenantSettings, TenantChanges) are
// declared once, in settings.ts; the vault stores each in its column.
export type { Tenant, TenantChanges, TenantSettings } from "./settings.js";

export interface IssuedKey {
  id: string;
  /** The only time the plaintext key exists outside the caller. */
  apiKey: string;
  hint: string;
  name: string | null;
  expiresAt: number | null;
}

export interface KeyOptions {
  name?: string | null | undefined;
  /** Clock ms after which the key stops working. */
  expiresAt?: number | null | undefined;
}

/** What an operator may see of a key: never the key or its hash. */
export interface ApiKeyInfo {
  id: string;
  name: string | null;
  hint: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface Vault {
  createTenant(settings: TenantSettings, key?: KeyOptions): { tenant: Tenant; key: IssuedKey };
  /** Undefined when there is no such tenant. */
  updateTenant(id: string, changes: TenantChanges): Tenant | undefined;
  listTenants(): Tenant[];
  getTenant(id: string): Tenant | undefined;
  issueKey(tenantId: string, options?: KeyOptions): IssuedKey | undefined;
  listKeys(tenantId: string): ApiKeyInfo[] | undefined;
  /** Revokes at once: the next request with the key is refused. Idempotent. */
  revokeKey(tenantId: string, keyId: string): ApiKeyInfo | undefined;
  /** The tenant behind a presented API key, if the key and its tenant are live. */
  authenticate(apiKey: string): Tenant | undefined;
  /** The tenant's own upstream key (its private channel), if it brought one. */
  upstreamCredential(tenant: Tenant): string | undefined;
}

export interface VaultOptions {
  db: Db;
  clock: Clock;
  masterKey: Buffer | undefined;
}

/** A row of `tenants`: its key, its creation, and one column a setting (settings.ts). */
type TenantRow = { id: string; created_at: number } & Record<string, ColumnValue>;

const settings: readonly SettingEntry[] = tenantSettings;
const settingColumns = settings.map((setting) => setting.column);
/** The column that holds the tenant's own upstream key, sealed. */
const upstreamKeyColumn = (
  settings.find((setting) => setting.property === "upstreamKey") as SettingEntry
).column;

interface KeyRow {
  id: string;
  name: string | null;
  hint: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

// Writing last_used_at on every request would put a disk write on the hot
// path; once a minute per key is precise enough for an operator.
const lastUsedResolutionMs = 60_000;

function toKeyInfo(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    hint: row.hint,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

function toTenant(row: TenantRow): Tenant {
  const tenant: Record<string, unknown> = { id: row.id, createdAt: row.created_at };
  for (const setting of settings) {
    tenant[shownProperty(setting)] = kindOf(setting).fromColumn(row[setting.column] ?? null);
  }
  return tenant as unknown as Tenant;
}

export function createVault(options: VaultOptions): Vault {
  const { db, clock, masterKey } = options;
  // The column names come from the settings table, never from input.
  const insertTenant = db.prepare(
    `INSERT INTO tenants (id, created_at, ${settingColumns.join(", ")})
     VALUES (@id, @created_at, ${settingColumns.map((column) => `@${column}`).join(", ")})`,
  );
  const updateTenant = db.prepare(
    `UPDATE tenants SET ${settingColumns.map((column) => `${column} = @${column}`).join(", ")}
      WHERE id = @id`,
  );
  const insertKey = db.prepare(
    `INSERT INTO api_keys (id, tenant_id, hash, hint, created_at, name, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const selectTenant = db.prepare<[string], TenantRow>("SELECT * FROM tenants WHERE id = ?");
  const selectTenants = db.prepare<[], TenantRow>("SELECT * FROM tenants ORDER BY created_at, id");
  const selectByKey = db.prepare<
    [string],
    TenantRow & { key_id: string; expires_at: number | null; last_used_at: number | null }
  >(
    `SELECT t.*, k.id AS key_id, k.expires_at, k.last_used_at
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
      WHERE k.hash = ? AND k.revoked_at IS NULL`,
  );
  const touchKey = db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
  const selectKeys = db.prepare<[string], KeyRow>(
    `SELECT id, name, hint, created_at, expires_at, revoked_at, last_used_at
       FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`,
  );
  const selectKey = db.prepare<[string, string], KeyRow>(
    `SELECT id, name, hint, created_at, expires_at, revoked_at, last_used_at
       FROM api_keys WHERE tenant_id = ? AND id = ?`,
  );
  const revoke = db.prepare(
    "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
  );

  function sealCredential(plaintext: string, field: string): string {
    if (!masterKey) {
      throw gatewayError("master_key_required", { secret: `an ${field}` }, { param: field });
    }
    return seal(masterKey, plaintext);
  }

  /** A setting's value as its column holds it: a secret sealed. */
  function toColumn(setting: SettingEntry, value: unknown): ColumnValue {
    return kindOf(setting).toColumn(value, (plaintext) => sealCredential(plaintext, setting.field));
  }

  function insertNewKey(tenantId: string, keyOptions: KeyOptions = {}): IssuedKey {
    const apiKey = generateApiKey();
    const id = newId("key");
    const hint = keyHint(apiKey);
    const name = keyOptions.name ?? null;
    const expiresAt = keyOptions.expiresAt ?? null;
    insertKey.run(id, tenantId, hashApiKey(apiKey), hint, clock.now(), name, expiresAt);
    return { id, apiKey, hint, name, expiresAt };
  }

  const updateTx = db.transaction((id: string, changes: TenantChanges): Tenant | undefined => {
    const row = selectTenant.get(id);
    if (!row) return undefined;
    const next: TenantRow = { ...row };
    const given = changes as Record<string, unknown>;
    for (const setting of settings) {
      const value = given[setting.property];
      if (value !== undefined) next[setting.column] = toColumn(setting, value);
    }
    updateTenant.run(next);
    return toTenant(next);
  });

  return {
    createTenant(values, keyOptions) {
      const id = newId("ten");
      // Sealed before the transaction: a missing master key writes nothing.
      const row: TenantRow = { id, created_at: clock.now() };
      const given = values as Record<string, unknown>;
      for (const setting of settings) {
        const value = given[setting.property];
        row[setting.column] = toColumn(setting, value ?? kindOf(setting).initial);
      }
      return db.transaction(() => {
        insertTenant.run(row);
        const key = insertNewKey(id, keyOptions);
        return { tenant: toTenant(selectTenant.get(id) as TenantRow), key };
      })();
    },

    updateTenant: (id, changes) => updateTx(id, changes),

    listTenants() {
      return selectTenants.all().map(toTenant);
    },

    getTenant(id) {
      const row = selectTenant.get(id);
      return row ? toTenant(row) : undefined;
    },

    issueKey(tenantId, keyOptions) {
      if (!selectTenant.get(tenantId)) return undefined;
      return insertNewKey(tenantId, keyOptions);
    },

    listKeys(tenantId) {
      if (!selectTenant.get(tenantId)) return undefined;
      return selectKeys.all(tenantId).map(toKeyInfo);
    },

    revokeKey(tenantId, keyId) {
      revoke.run(clock.now(), tenantId, keyId);
      const row = selectKey.get(tenantId, keyId);
      return row ? toKeyInfo(row) : undefined;
    },

    authenticate(apiKey) {
      // Looked up by the hash of the presented key: the time taken says
      // nothing about how close it is to any stored key.
      const row = selectByKey.get(hashApiKey(apiKey));
      if (!row) return undefined;
      const tenant = toTenant(row);
      if (tenant.disabled) return undefined;
      const now = clock.now();
      if (row.expires_at !== null && row.expires_at <= now) return undefined;
      if (row.last_used_at === null || now - row.last_used_at >= lastUsedResolutionMs) {
        touchKey.run(now, row.key_id);
      }
      return tenant;
    },

    upstreamCredential(tenant) {
      if (tenant.hasUpstreamKey && masterKey) {
        const row = selectTenant.get(tenant.id);
        const sealed = row?.[upstreamKeyColumn];
        if (typeof sealed === "string") return unseal(masterKey, sealed);
      }
      return undefined;
    },
  };
}
