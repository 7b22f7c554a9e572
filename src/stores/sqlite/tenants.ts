// Tenants and their API keys in the embedded database (tenancy/tenant-store.ts).
import { tenantSettings } from "../../tenancy/settings.js";
import type {
  KeyHolderRow,
  KeyRow,
  NewKeyRow,
  TenantRow,
  TenantStore,
} from "../../tenancy/tenant-store.js";
import type { Db } from "./database.js";

// The column names come from the settings table, never from input.
const settingColumns = tenantSettings.map((setting) => setting.column);

export function createSqliteTenantStore(db: Db): TenantStore {
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
     VALUES (@id, @tenantId, @hash, @hint, @createdAt, @name, @expiresAt)`,
  );
  const selectTenant = db.prepare<[string], TenantRow>("SELECT * FROM tenants WHERE id = ?");
  const selectTenants = db.prepare<[], TenantRow>("SELECT * FROM tenants ORDER BY created_at, id");
  const selectByKey = db.prepare<[string], KeyHolderRow>(
    `SELECT t.*, k.id AS key_id, k.expires_at, k.last_used_at
       FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
      WHERE k.hash = ? AND k.revoked_at IS NULL`,
  );
  const touch = db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
  const selectKeys = db.prepare<[string], KeyRow>(
    `SELECT id, name, hint, created_at, expires_at, revoked_at, last_used_at
       FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id`,
  );
  const selectKey = db.prepare<[string, string], KeyRow>(
    `SELECT id, name, hint, created_at, expires_at, revoked_at, last_used_at
       FROM api_keys WHERE tenant_id = ? AND id = ?`,
  );
  const revokeKey = db.prepare(
    "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
  );
  const create = db.transaction((tenant: TenantRow, key: NewKeyRow) => {
    insertTenant.run(tenant);
    insertKey.run(key);
  });
  const update = db.transaction(
    (id: string, change: (row: TenantRow) => TenantRow): TenantRow | undefined => {
      const row = selectTenant.get(id);
      if (!row) return undefined;
      const next = change(row);
      updateTenant.run(next);
      return next;
    },
  );

  // better-sqlite3 is synchronous: each method does its work at once and
  // answers a settled promise (async functions turn a throw into a rejection).
  return {
    create: async (tenant, key) => create(tenant, key),
    update: async (id, change) => update(id, change),
    get: async (id) => selectTenant.get(id),
    list: async () => selectTenants.all(),
    addKey: async (key) => void insertKey.run(key),
    byKeyHash: async (hash) => selectByKey.get(hash),
    touchKey: async (keyId, at) => void touch.run(at, keyId),
    keys: async (tenantId) => selectKeys.all(tenantId),
    key: async (tenantId, keyId) => selectKey.get(tenantId, keyId),
    revoke: async (tenantId, keyId, at) => void revokeKey.run(at, tenantId, keyId),
  };
}
