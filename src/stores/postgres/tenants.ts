// Tenants and their API keys in PostgreSQL (tenancy/tenant-store.ts), with the
// embedded store's rows and semantics (stores/sqlite/tenants.ts).
import { tenantSettings } from "../../tenancy/settings.js";
import type {
  KeyHolderRow,
  KeyRow,
  NewKeyRow,
  TenantRow,
  TenantStore,
} from "../../tenancy/tenant-store.js";
import { inTransaction, type Pool, type PoolClient } from "./database.js";

// The column names come from the settings table, never from input.
const settingColumns = tenantSettings.map((setting) => setting.column);

const insertTenantSql = `INSERT INTO tenants (id, created_at, ${settingColumns.join(", ")})
  VALUES ($1, $2, ${settingColumns.map((_, i) => `$${i + 3}`).join(", ")})`;
const updateTenantSql = `UPDATE tenants
  SET ${settingColumns.map((column, i) => `${column} = $${i + 2}`).join(", ")}
  WHERE id = $1`;
const insertKeySql = `INSERT INTO api_keys (id, tenant_id, hash, hint, created_at, name, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`;
const keyColumns = "id, name, hint, created_at, expires_at, revoked_at, last_used_at";

const settingValues = (row: TenantRow) => settingColumns.map((column) => row[column] ?? null);

function insertKey(db: Pool | PoolClient, key: NewKeyRow): Promise<unknown> {
  return db.query(insertKeySql, [
    key.id,
    key.tenantId,
    key.hash,
    key.hint,
    key.createdAt,
    key.name,
    key.expiresAt,
  ]);
}

export function createPostgresTenantStore(pool: Pool): TenantStore {
  const one = async <T extends object>(sql: string, params: unknown[]): Promise<T | undefined> =>
    (await pool.query<T>(sql, params)).rows[0];

  return {
    async create(tenant, key) {
      await inTransaction(pool, async (client) => {
        await client.query(insertTenantSql, [
          tenant.id,
          tenant.created_at,
          ...settingValues(tenant),
        ]);
        await insertKey(client, key);
      });
    },
    update: (id, change) =>
      inTransaction(pool, async (client) => {
        // Locked until the transaction ends: a concurrent update waits and
        // changes this one's result, not the row both read.
        const found = await client.query<TenantRow>(
          "SELECT * FROM tenants WHERE id = $1 FOR UPDATE",
          [id],
        );
        const row = found.rows[0];
        if (!row) return undefined;
        const next = change(row);
        await client.query(updateTenantSql, [next.id, ...settingValues(next)]);
        return next;
      }),
    get: (id) => one<TenantRow>("SELECT * FROM tenants WHERE id = $1", [id]),
    list: async () =>
      (await pool.query<TenantRow>("SELECT * FROM tenants ORDER BY created_at, id")).rows,
    async addKey(key) {
      await insertKey(pool, key);
    },
    byKeyHash: (hash) =>
      one<KeyHolderRow>(
        `SELECT t.*, k.id AS key_id, k.expires_at, k.last_used_at
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
          WHERE k.hash = $1 AND k.revoked_at IS NULL`,
        [hash],
      ),
    async touchKey(keyId, at) {
      await pool.query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2", [at, keyId]);
    },
    keys: async (tenantId) =>
      (
        await pool.query<KeyRow>(
          `SELECT ${keyColumns} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`,
          [tenantId],
        )
      ).rows,
    key: (tenantId, keyId) =>
      one<KeyRow>(`SELECT ${keyColumns} FROM api_keys WHERE tenant_id = $1 AND id = $2`, [
        tenantId,
        keyId,
      ]),
    async revoke(tenantId, keyId, at) {
      await pool.query(
        "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        [at, tenantId, keyId],
      );
    },
  };
}
