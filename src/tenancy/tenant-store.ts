// The tenants and their API keys as stored: the repository the vault uses
// (implemented with SQL in stores/sqlite/tenants.ts). Rows carry each setting
// in its column (settings.ts), secrets already sealed and keys only as hashes:
// nothing a store holds or returns is a secret in the clear.
import type { ColumnValue } from "./settings.js";

/** A tenant: its id, its creation, and one column per setting. */
export type TenantRow = { id: string; created_at: number } & Record<string, ColumnValue>;

/** What an operator may see of a key, as stored. */
export interface KeyRow {
  id: string;
  name: string | null;
  hint: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** A key to store: its hash, never the key. */
export interface NewKeyRow {
  id: string;
  tenantId: string;
  hash: string;
  hint: string;
  createdAt: number;
  name: string | null;
  expiresAt: number | null;
}

/** The tenant a presented key's hash belongs to, with what authentication checks of the key. */
export type KeyHolderRow = TenantRow & {
  key_id: string;
  expires_at: number | null;
  last_used_at: number | null;
};

export interface TenantStore {
  /** A new tenant with its first key, in one transaction. */
  create(tenant: TenantRow, key: NewKeyRow): Promise<void>;
  /** Reads the row, lets `change` make the next one, writes it: one transaction. */
  update(id: string, change: (row: TenantRow) => TenantRow): Promise<TenantRow | undefined>;
  get(id: string): Promise<TenantRow | undefined>;
  list(): Promise<TenantRow[]>;
  addKey(key: NewKeyRow): Promise<void>;
  /** The holder of an unrevoked key with this hash. */
  byKeyHash(hash: string): Promise<KeyHolderRow | undefined>;
  touchKey(keyId: string, at: number): Promise<void>;
  keys(tenantId: string): Promise<KeyRow[]>;
  key(tenantId: string, keyId: string): Promise<KeyRow | undefined>;
  /** Revokes an unrevoked key; a revoked one keeps its first revocation time. */
  revoke(tenantId: string, keyId: string, at: number): Promise<void>;
}
