// Persistence: an embedded SQLite file in the data dir (better-sqlite3). Holds
// tenants and key hashes; secrets are only ever stored hashed or sealed.
import { join } from "node:path";
import Database from "better-sqlite3";
import { createPrivateFile, mkdirPrivateSync } from "../../storage/private-files.js";

export type Db = Database.Database;

// Each entry moves the schema one version up; `user_version` records where a
// database file stands.
const migrations: readonly string[] = [
  `CREATE TABLE tenants (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     disabled INTEGER NOT NULL DEFAULT 0,
     rpm INTEGER,
     max_concurrent INTEGER,
     images_per_day INTEGER,
     models TEXT,
     upstream_key_sealed TEXT
   );
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id),
     hash TEXT NOT NULL UNIQUE,
     hint TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER,
     last_used_at INTEGER
   );
   CREATE INDEX api_keys_tenant ON api_keys(tenant_id);`,
  // v2: a check value sealed with the master key (a wrong key is caught at
  // start, not at the first BYOK request), and one row per generation for
  // usage, quotas and (later) resuming tasks.
  `CREATE TABLE meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   CREATE TABLE generations (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id),
     day TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     model TEXT NOT NULL,
     requested_model TEXT NOT NULL,
     n INTEGER NOT NULL,
     state TEXT NOT NULL,
     upstream_task_id TEXT,
     images INTEGER NOT NULL DEFAULT 0,
     error_code TEXT,
     finished_at INTEGER
   );
   CREATE INDEX generations_tenant_day ON generations(tenant_id, day);
   ALTER TABLE api_keys ADD COLUMN name TEXT;`,
  // v3: enough of each generation to resume it after a restart, serve it
  // through the async API, and answer a retried request with the same task.
  `ALTER TABLE generations ADD COLUMN plan TEXT;
   ALTER TABLE generations ADD COLUMN results TEXT;
   ALTER TABLE generations ADD COLUMN error TEXT;
   ALTER TABLE generations ADD COLUMN request_hash TEXT;
   ALTER TABLE generations ADD COLUMN idempotency_key TEXT;
   CREATE UNIQUE INDEX generations_idempotency
     ON generations(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX generations_request ON generations(tenant_id, request_hash, created_at);
   CREATE INDEX generations_unfinished ON generations(state)
     WHERE state IN ('pending', 'running');`,
  // v4: when a generation's images were answered to a caller, so that a later
  // identical request is never mistaken for a retry of a delivered one.
  "ALTER TABLE generations ADD COLUMN delivered_at INTEGER;",
  // v5: what each upstream model's tasks take, learned online (latency-model.ts).
  `CREATE TABLE model_latency (
     model TEXT PRIMARY KEY,
     samples INTEGER NOT NULL,
     mean_log REAL NOT NULL,
     var_log REAL NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  // v6: small result images as rows (storage/small-blobs.ts), swept by age.
  `CREATE TABLE small_blobs (
     id TEXT PRIMARY KEY,
     bytes BLOB NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX small_blobs_created ON small_blobs(created_at);`,
  // v7: upstream accounts (channels/), and the channel that accepted each task:
  // its reads and downloads go there, and its usage is that account's.
  `CREATE TABLE channels (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     provider TEXT NOT NULL,
     base_url TEXT NOT NULL,
     credential_sealed TEXT NOT NULL,
     models TEXT NOT NULL,
     priority INTEGER NOT NULL,
     weight INTEGER NOT NULL,
     max_concurrent INTEGER,
     enabled INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   ALTER TABLE generations ADD COLUMN channel_id TEXT;
   CREATE INDEX generations_channel_day ON generations(channel_id, day)
     WHERE channel_id IS NOT NULL;`,
  // v8: when a result was ready upstream (the lag the console shows), and the
  // index of the operator's newest-first listing.
  `ALTER TABLE generations ADD COLUMN ready_at INTEGER;
   CREATE INDEX generations_created ON generations(created_at, id);`,
];

/**
 * Opens (creating if need be) the database in `dataDir`. A new database file
 * is 0600, and so are the -wal and -shm files SQLite makes after it; callers
 * run makePrivate() first to bring an existing data dir into line.
 */
export function openStore(dataDir: string): Db {
  mkdirPrivateSync(dataDir);
  const path = join(dataDir, "imagegate.db");
  createPrivateFile(path);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // WAL + NORMAL: durable across process crashes, no fsync per commit.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

/** The database of an existing data dir, or an error saying there is none (store migrate's source). */
export function openExistingStore(dataDir: string): Db {
  const path = join(dataDir, "imagegate.db");
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch {
    throw new Error(`${dataDir} holds no imagegate database (imagegate.db)`);
  }
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** Whether the database answers a query (readiness). */
export function databaseAnswers(db: Db): boolean {
  return db.prepare("SELECT 1 AS ok").get() !== undefined;
}
