// The key vault: tenants, their API keys (stored as hashes) and their upstream
// credentials (sealed with the master key, opened only when a request needs one).
import type { Clock } from "../clock.js";
import { InvalidRequestError } from "../errors.js";
import { newId } from "./ids.js";
import { generateApiKey, hashApiKey, keyHint, seal, unseal } from "./secrets.js";
import type { Db } from "./store.js";

export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
  disabled: boolean;
  rpm: number | null;
  maxConcurrent: number | null;
  imagesPerDay: number | null;
  /** Allowed model names (ids or aliases); null means all. */
  models: string[] | null;
  hasUpstreamKey: boolean;
}

export interface TenantSettings {
  name: string;
  rpm?: number | null | undefined;
  maxConcurrent?: number | null | undefined;
  imagesPerDay?: number | null | undefined;
  models?: string[] | null | undefined;
  upstreamKey?: string | null | undefined;
}

export interface IssuedKey {
  id: string;
  /** The only time the plaintext key exists outside the caller. */
  apiKey: string;
  hint: string;
  name: string | null;
  expiresAt: number | null;
}

export interface TenantChanges {
  name?: string | undefined;
  rpm?: number | null | undefined;
  maxConcurrent?: number | null | undefined;
  imagesPerDay?: number | null | undefined;
  models?: string[] | null | undefined;
  /** A new credential, or null to use the shared channels (IMAGEGATE_UPSTREAM_KEY, /admin/channels). */
  upstreamKey?: string | null | undefined;
  disabled?: boolean | undefined;
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

interface TenantRow {
  id: string;
  name: string;
  created_at: number;
  disabled: number;
  rpm: number | null;
  max_concurrent: number | null;
  images_per_day: number | null;
  models: string | null;
  upstream_key_sealed: string | null;
}

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
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    disabled: row.disabled !== 0,
    rpm: row.rpm,
    maxConcurrent: row.max_concurrent,
    imagesPerDay: row.images_per_day,
    models: row.models === null ? null : (JSON.parse(row.models) as string[]),
    hasUpstreamKey: row.upstream_key_sealed !== null,
  };
}

export function createVault(options: VaultOptions): Vault {
  const { db, clock, masterKey } = options;
  const insertTenant = db.prepare(
    `INSERT INTO tenants (id, name, created_at, rpm, max_concurrent, images_per_day, models, upstream_key_sealed)
     VALUES (@id, @name, @created_at, @rpm, @max_concurrent, @images_per_day, @models, @upstream_key_sealed)`,
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

  function sealCredential(plaintext: string | null | undefined): string | null {
    if (plaintext === undefined || plaintext === null) return null;
    if (!masterKey) {
      throw new InvalidRequestError(
        "Storing an upstream_key needs IMAGEGATE_MASTER_KEY to be configured (it seals credentials at rest).",
        "upstream_key",
        "master_key_required",
      );
    }
    return seal(masterKey, plaintext);
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
    if (changes.name !== undefined) next.name = changes.name;
    if (changes.rpm !== undefined) next.rpm = changes.rpm;
    if (changes.maxConcurrent !== undefined) next.max_concurrent = changes.maxConcurrent;
    if (changes.imagesPerDay !== undefined) next.images_per_day = changes.imagesPerDay;
    if (changes.models !== undefined) {
      next.models = changes.models === null ? null : JSON.stringify(changes.models);
    }
    if (changes.upstreamKey !== undefined) {
      next.upstream_key_sealed = sealCredential(changes.upstreamKey);
    }
    if (changes.disabled !== undefined) next.disabled = changes.disabled ? 1 : 0;
    db.prepare(
      `UPDATE tenants SET name = @name, rpm = @rpm, max_concurrent = @max_concurrent,
              images_per_day = @images_per_day, models = @models,
              upstream_key_sealed = @upstream_key_sealed, disabled = @disabled
        WHERE id = @id`,
    ).run(next);
    return toTenant(next);
  });

  return {
    createTenant(settings, keyOptions) {
      const id = newId("ten");
      const sealed = sealCredential(settings.upstreamKey);
      return db.transaction(() => {
        insertTenant.run({
          id,
          name: settings.name,
          created_at: clock.now(),
          rpm: settings.rpm ?? null,
          max_concurrent: settings.maxConcurrent ?? null,
          images_per_day: settings.imagesPerDay ?? null,
          models: settings.models ? JSON.stringify(settings.models) : null,
          upstream_key_sealed: sealed,
        });
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
      if (row?.disabled !== 0) return undefined;
      const now = clock.now();
      if (row.expires_at !== null && row.expires_at <= now) return undefined;
      if (row.last_used_at === null || now - row.last_used_at >= lastUsedResolutionMs) {
        touchKey.run(now, row.key_id);
      }
      return toTenant(row);
    },

    upstreamCredential(tenant) {
      if (tenant.hasUpstreamKey && masterKey) {
        const row = selectTenant.get(tenant.id);
        if (row?.upstream_key_sealed) return unseal(masterKey, row.upstream_key_sealed);
      }
      return undefined;
    },
  };
}
