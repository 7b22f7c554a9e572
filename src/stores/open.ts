// The one place that chooses the store's engine: SQLite in the data dir (the
// default), or PostgreSQL at IMAGEGATE_DATABASE_URL, shared by replicas. Both
// give the same repositories; the gateway and the CLI open them through here,
// with the master key checked against what the store was sealed with.
import { randomBytes } from "node:crypto";
import type { ChannelStore } from "../channels/store.js";
import type { Clock } from "../clock.js";
import type { GenerationRecords } from "../generation/record.js";
import { describeMadePrivate, makePrivate } from "../storage/private-files.js";
import type { SmallBlobs } from "../storage/small-blobs.js";
import type { TenantStore } from "../tenancy/tenant-store.js";
import type { LatencyStore } from "../upstream/latency-model.js";
import { checkMasterKey, type MasterKeyAccess, rotateMasterKey } from "./master-key.js";
import { createPostgresChannelStore } from "./postgres/channels.js";
import { openPostgres, postgresAnswers } from "./postgres/database.js";
import { createPostgresGenerationRecords } from "./postgres/generation-records.js";
import { postgresLatencyStore } from "./postgres/latency.js";
import { postgresMasterKey } from "./postgres/master-key.js";
import { postgresSmallBlobs } from "./postgres/small-blobs.js";
import { createPostgresTenantStore } from "./postgres/tenants.js";
import { createSqliteChannelStore } from "./sqlite/channels.js";
import { databaseAnswers, openStore } from "./sqlite/database.js";
import { createSqliteGenerationRecords } from "./sqlite/generation-records.js";
import { sqliteLatencyStore } from "./sqlite/latency.js";
import { sqliteMasterKey } from "./sqlite/master-key.js";
import { sqliteSmallBlobs } from "./sqlite/small-blobs.js";
import { createSqliteTenantStore } from "./sqlite/tenants.js";
import { createWriteQueue } from "./sqlite/write-queue.js";

export interface Stores {
  engine: "sqlite" | "postgres";
  ledger: GenerationRecords;
  tenants: TenantStore;
  channels: ChannelStore;
  latency: LatencyStore;
  smallBlobs: SmallBlobs;
  /** Whether the database answers a query now (readiness). */
  answers(): Promise<boolean>;
  /** Re-seals every stored upstream credential (`imagegate master-key rotate`). */
  rotateMasterKey(oldKey: Buffer, newKey: Buffer): Promise<number>;
  /** Writes what is queued, then closes the connections or the file. */
  close(): Promise<void>;
}

export interface OpenStoresOptions {
  dataDir: string;
  /** IMAGEGATE_DATABASE_URL; undefined: SQLite in the data dir. */
  databaseUrl: string | undefined;
  masterKey: Buffer | undefined;
  clock: Clock;
  /** A write nothing waited on failed (it is retried, or given up and reported here). */
  onWriteError: (err: unknown) => void;
  /** A connection to the database dropped (it is replaced, or the listener reconnects). */
  onConnectionError?: (err: Error) => void;
  /** Something the operator should know, in one line (modes fixed on the data dir). */
  onNote?: (note: string, fields: object) => void;
  /** False for master-key rotation, which opens the store with the old key in hand. */
  checkMasterKey?: boolean;
  /** This process's name in the task leases it holds (PostgreSQL); default random. */
  replicaId?: string | undefined;
  /** How long a task lease lasts without renewal (PostgreSQL; default 10 s). */
  leaseMs?: number | undefined;
}

export async function openStores(options: OpenStoresOptions): Promise<Stores> {
  const stores =
    options.databaseUrl === undefined
      ? openSqlite(options)
      : await openPostgresStores(options, options.databaseUrl);
  if (options.checkMasterKey !== false) {
    try {
      await checkMasterKey(stores.access, options.masterKey);
    } catch (err) {
      await stores.close();
      throw err;
    }
  }
  const { access, ...rest } = stores;
  return rest;
}

type Opened = Stores & { access: MasterKeyAccess };

function openSqlite(options: OpenStoresOptions): Opened {
  const { dataDir, clock, masterKey } = options;
  // Before the store opens: SQLite gives its -wal and -shm files the db file's mode.
  const madePrivate = makePrivate(dataDir);
  const note = describeMadePrivate(dataDir, madePrivate);
  if (note) {
    options.onNote?.(note, { fixed: madePrivate.fixed.length, failed: madePrivate.failed.length });
  }
  const db = openStore(dataDir);
  // One group commit for everything the gateway writes to its database.
  const writes = createWriteQueue(db, options.onWriteError);
  const access = sqliteMasterKey(db);
  return {
    engine: "sqlite",
    ledger: createSqliteGenerationRecords(db, clock, { writes }),
    tenants: createSqliteTenantStore(db),
    channels: createSqliteChannelStore({ db, clock, masterKey }),
    latency: sqliteLatencyStore(db, () => clock.now()),
    smallBlobs: sqliteSmallBlobs(db, writes),
    answers: async () => databaseAnswers(db),
    rotateMasterKey: (oldKey, newKey) => rotateMasterKey(access, oldKey, newKey),
    access,
    async close() {
      writes.close();
      db.close();
    },
  };
}

async function openPostgresStores(options: OpenStoresOptions, url: string): Promise<Opened> {
  const { clock, masterKey } = options;
  const pool = await openPostgres(url, {
    onIdleError: (err) => options.onConnectionError?.(err),
  });
  const ledger = createPostgresGenerationRecords(pool, clock, {
    url,
    owner: options.replicaId ?? randomBytes(8).toString("hex"),
    leaseMs: options.leaseMs,
    onWriteError: options.onWriteError,
    onListenError: options.onConnectionError,
  });
  const access = postgresMasterKey(pool);
  return {
    engine: "postgres",
    ledger,
    tenants: createPostgresTenantStore(pool),
    channels: createPostgresChannelStore({ pool, clock, masterKey }),
    latency: postgresLatencyStore(pool, () => clock.now()),
    smallBlobs: postgresSmallBlobs(pool),
    answers: () => postgresAnswers(pool),
    rotateMasterKey: (oldKey, newKey) => rotateMasterKey(access, oldKey, newKey),
    access,
    async close() {
      await ledger.close();
      await pool.end();
    },
  };
}
