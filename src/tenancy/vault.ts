// The key vault: tenants, their API keys (stored as hashes) and their upstream
// credentials (sealed with the master key, opened only when a request needs one).
import type { Clock } from "../clock.js";
import { gatewayError } from "../errors.js";
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
import type { KeyRow, NewKeyRow, TenantRow, TenantStore } from "./tenant-store.js";

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
  createTenant(
    settings: TenantSettings,
    key?: KeyOptions,
  ): Promise<{ tenant: Tenant; key: IssuedKey }>;
  /** Undefined when there is no such tenant. */
  updateTenant(id: string, changes: TenantChanges): Promise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  getTenant(id: string): Promise<Tenant | undefined>;
  issueKey(tenantId: string, options?: KeyOptions): Promise<IssuedKey | undefined>;
  listKeys(tenantId: string): Promise<ApiKeyInfo[] | undefined>;
  /** Revokes at once: the next request with the key is refused. Idempotent. */
  revokeKey(tenantId: string, keyId: string): Promise<ApiKeyInfo | undefined>;
  /** The tenant behind a presented API key, if the key and its tenant are live. */
  authenticate(apiKey: string): Promise<Tenant | undefined>;
  /** The tenant's own upstream key (its private channel), if it brought one. */
  upstreamCredential(tenant: Tenant): Promise<string | undefined>;
}

export interface VaultOptions {
  /** Where tenants and keys are kept (stores/sqlite/tenants.ts). */
  store: TenantStore;
  clock: Clock;
  masterKey: Buffer | undefined;
  /** A background write (a key's last use) that failed. */
  onWriteError?: ((err: unknown) => void) | undefined;
}

const settings: readonly SettingEntry[] = tenantSettings;
/** The column that holds the tenant's own upstream key, sealed. */
const upstreamKeyColumn = (
  settings.find((setting) => setting.property === "upstreamKey") as SettingEntry
).column;

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
  const { store, clock, masterKey } = options;

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

  /** A new key: the plaintext for the caller once, its hash for the store. */
  function newKey(tenantId: string, keyOptions: KeyOptions = {}) {
    const apiKey = generateApiKey();
    const issued: IssuedKey = {
      id: newId("key"),
      apiKey,
      hint: keyHint(apiKey),
      name: keyOptions.name ?? null,
      expiresAt: keyOptions.expiresAt ?? null,
    };
    const row: NewKeyRow = {
      id: issued.id,
      tenantId,
      hash: hashApiKey(apiKey),
      hint: issued.hint,
      createdAt: clock.now(),
      name: issued.name,
      expiresAt: issued.expiresAt,
    };
    return { issued, row };
  }

  return {
    async createTenant(values, keyOptions) {
      const id = newId("ten");
      // Sealed before the transaction: a missing master key writes nothing.
      const row: TenantRow = { id, created_at: clock.now() };
      const given = values as Record<string, unknown>;
      for (const setting of settings) {
        const value = given[setting.property];
        row[setting.column] = toColumn(setting, value ?? kindOf(setting).initial);
      }
      const key = newKey(id, keyOptions);
      await store.create(row, key.row);
      return { tenant: toTenant((await store.get(id)) as TenantRow), key: key.issued };
    },

    async updateTenant(id, changes) {
      const given = changes as Record<string, unknown>;
      // Sealed before the store's transaction: a missing master key writes nothing.
      const columns: Record<string, ColumnValue> = {};
      for (const setting of settings) {
        const value = given[setting.property];
        if (value !== undefined) columns[setting.column] = toColumn(setting, value);
      }
      const next = await store.update(id, (row) => ({ ...row, ...columns }));
      return next === undefined ? undefined : toTenant(next);
    },

    async listTenants() {
      return (await store.list()).map(toTenant);
    },

    async getTenant(id) {
      const row = await store.get(id);
      return row ? toTenant(row) : undefined;
    },

    async issueKey(tenantId, keyOptions) {
      if (!(await store.get(tenantId))) return undefined;
      const key = newKey(tenantId, keyOptions);
      await store.addKey(key.row);
      return key.issued;
    },

    async listKeys(tenantId) {
      if (!(await store.get(tenantId))) return undefined;
      return (await store.keys(tenantId)).map(toKeyInfo);
    },

    async revokeKey(tenantId, keyId) {
      await store.revoke(tenantId, keyId, clock.now());
      const row = await store.key(tenantId, keyId);
      return row ? toKeyInfo(row) : undefined;
    },

    async authenticate(apiKey) {
      // Looked up by the hash of the presented key: the time taken says
      // nothing about how close it is to any stored key.
      const row = await store.byKeyHash(hashApiKey(apiKey));
      if (!row) return undefined;
      const tenant = toTenant(row);
      if (tenant.disabled) return undefined;
      const now = clock.now();
      if (row.expires_at !== null && row.expires_at <= now) return undefined;
      if (row.last_used_at === null || now - row.last_used_at >= lastUsedResolutionMs) {
        // In the background: authentication does not wait on the write.
        store.touchKey(row.key_id, now).catch((err) => options.onWriteError?.(err));
      }
      return tenant;
    },

    async upstreamCredential(tenant) {
      if (tenant.hasUpstreamKey && masterKey) {
        const row = await store.get(tenant.id);
        const sealed = row?.[upstreamKeyColumn];
        if (typeof sealed === "string") return unseal(masterKey, sealed);
      }
      return undefined;
    },
  };
}
