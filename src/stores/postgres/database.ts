// Shared state in PostgreSQL (IMAGEGATE_DATABASE_URL), for replicas: the same
// tables as the embedded store, one pool per process, and versioned migrations
// that every replica runs at start under an advisory lock, so that two
// replicas starting at once migrate once.
import pg from "pg";

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// Each entry moves the schema one version up; `schema_version` in meta records
// where a database stands. Times are clock milliseconds (BIGINT, read back as
// numbers: see `types` below).
const migrations: readonly string[] = [
  `CREATE TABLE meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
   CREATE TABLE tenants (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     created_at BIGINT NOT NULL,
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
     name TEXT,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     revoked_at BIGINT,
     last_used_at BIGINT
   );
   CREATE INDEX api_keys_tenant ON api_keys(tenant_id);
   CREATE TABLE channels (
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
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE generations (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id),
     day TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     model TEXT NOT NULL,
     requested_model TEXT NOT NULL,
     n INTEGER NOT NULL,
     state TEXT NOT NULL,
     upstream_task_id TEXT,
     channel_id TEXT,
     images INTEGER NOT NULL DEFAULT 0,
     error_code TEXT,
     finished_at BIGINT,
     plan TEXT,
     results TEXT,
     error TEXT,
     request_hash TEXT,
     idempotency_key TEXT,
     delivered_at BIGINT
   );
   CREATE INDEX generations_tenant_day ON generations(tenant_id, day);
   CREATE UNIQUE INDEX generations_idempotency
     ON generations(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX generations_request ON generations(tenant_id, request_hash, created_at);
   CREATE INDEX generations_unfinished ON generations(state)
     WHERE state IN ('pending', 'running');
   CREATE INDEX generations_channel_day ON generations(channel_id, day)
     WHERE channel_id IS NOT NULL;
   CREATE TABLE model_latency (
     model TEXT PRIMARY KEY,
     samples INTEGER NOT NULL,
     mean_log DOUBLE PRECISION NOT NULL,
     var_log DOUBLE PRECISION NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE small_blobs (
     id TEXT PRIMARY KEY,
     bytes BYTEA NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE INDEX small_blobs_created ON small_blobs(created_at);`,
  // v2: the replica watching each unfinished generation, and until when
  // (generation/record.ts's TaskLeases), in the database's clock.
  `ALTER TABLE generations ADD COLUMN owner TEXT;
   ALTER TABLE generations ADD COLUMN lease_expires_at BIGINT;
   CREATE INDEX generations_leases ON generations(lease_expires_at)
     WHERE state IN ('pending', 'running');`,
  // v3: when a result was ready upstream (the lag the console shows), and the
  // index of the operator's newest-first listing.
  `ALTER TABLE generations ADD COLUMN ready_at BIGINT;
   CREATE INDEX generations_created ON generations(created_at, id COLLATE "C");`,
];

/** The database's clock in milliseconds: leases compare against one clock, whatever the replicas' say. */
export const sqlNowMs = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

/** An arbitrary constant: the advisory lock every replica's migration takes. */
const migrationLock = 0x1a6e_6a7e;

// BIGINT (int8) and the NUMERIC that SUM() gives: numbers. Clock milliseconds
// and usage counts are far below 2^53.
const typeParsers = new Map<number, (value: string) => unknown>([
  [pg.types.builtins.INT8, Number],
  [pg.types.builtins.NUMERIC, Number],
]);
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    return (
      typeParsers.get(oid) ??
      (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format)
    );
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  /** Connections this process may hold (default 10). */
  max?: number;
  /** Called for an error on an idle connection (a server restart): the pool replaces it. */
  onIdleError?: (err: Error) => void;
}

/**
 * Connects to the database at `url` and brings its schema up to date. The
 * URL's password never reaches an error message of ours: pg's own messages
 * name the host, not the credentials.
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Pool> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A replica must not hang on a query whose server went away.
    query_timeout: 30_000,
  });
  // Without a listener an idle connection's error would crash the process.
  pool.on("error", (err) => options.onIdleError?.(err));
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return pool;
}

/** Runs the migrations not yet run, one transaction each, under the migration lock. */
export async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [migrationLock]);
    try {
      const exists = await client.query<{ found: string | null }>(
        "SELECT to_regclass('meta')::text AS found",
      );
      let current = 0;
      if (exists.rows[0]?.found !== null) {
        const row = await client.query<{ value: string }>(
          "SELECT value FROM meta WHERE key = 'schema_version'",
        );
        current = Number(row.rows[0]?.value ?? 0);
      }
      for (let version = current; version < migrations.length; version++) {
        await client.query("BEGIN");
        try {
          await client.query(migrations[version] as string);
          await client.query(
            `INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
            [String(version + 1)],
          );
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        }
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [migrationLock]);
    }
  } finally {
    client.release();
  }
}

/** Runs `work` in one transaction on one connection; rolled back if it throws. */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Whether PostgreSQL's error is a unique index refusing a row. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "23505";
}

/** Whether the database answers a query (readiness). */
export async function postgresAnswers(pool: Pool): Promise<boolean> {
  try {
    await pool.query("SELECT 1");
    return true;
  } catch {
    return false;
  }
}

export interface Listener {
  close(): Promise<void>;
}

/**
 * LISTENs on `channel` over a connection of its own, reconnecting after a
 * drop (notifications sent meanwhile are lost: whoever waits on them also
 * reads what it waits for, now and then).
 */
export function listen(
  url: string,
  channel: string,
  onNotification: (payload: string) => void,
  onError?: (err: Error) => void,
): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    const next = new pg.Client({ connectionString: url, types, connectionTimeoutMillis: 5_000 });
    next.on("notification", (message) => {
      if (message.channel === channel && message.payload !== undefined) {
        onNotification(message.payload);
      }
    });
    const again = (err?: Error) => {
      if (err) onError?.(err);
      if (client === next) client = undefined;
      next.removeAllListeners("end");
      void next.end().catch(() => {});
      if (!closed && retry === undefined) {
        retry = setTimeout(() => {
          retry = undefined;
          void connect();
        }, 1_000);
        retry.unref();
      }
    };
    next.on("error", again);
    next.on("end", () => again());
    try {
      await next.connect();
      // The channel is a constant of ours, never input.
      await next.query(`LISTEN ${channel}`);
      if (closed) await next.end();
      else client = next;
    } catch (err) {
      again(err as Error);
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      const current = client;
      client = undefined;
      current?.removeAllListeners("end");
      await current?.end().catch(() => {});
    },
  };
}
