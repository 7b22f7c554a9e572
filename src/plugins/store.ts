// The embedded database and what lives in it: the vault (tenants, keys), the
// generation records, the operator's channels, the learned latencies, small
// result images, and the one group commit that every write goes through. The
// one place that chooses the store's engine. Closed last: everything else
// writes into it.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { ChannelStore } from "../channels/store.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { GenerationRecords } from "../generation/record.js";
import { describeMadePrivate, makePrivate } from "../storage/private-files.js";
import type { SmallBlobs } from "../storage/small-blobs.js";
import { createSqliteChannelStore } from "../stores/sqlite/channels.js";
import { type Db, openStore } from "../stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../stores/sqlite/generation-records.js";
import { sqliteLatencyStore } from "../stores/sqlite/latency.js";
import { checkMasterKey } from "../stores/sqlite/master-key.js";
import { sqliteSmallBlobs } from "../stores/sqlite/small-blobs.js";
import { createSqliteTenantStore } from "../stores/sqlite/tenants.js";
import { createWriteQueue, type WriteQueue } from "../stores/sqlite/write-queue.js";
import { createVault, type Vault } from "../tenancy/vault.js";
import type { LatencyStore } from "../upstream/latency-model.js";

export interface StoreParts {
  db: Db;
  writes: WriteQueue;
  ledger: GenerationRecords;
  vault: Vault;
  channelStore: ChannelStore;
  latencyStore: LatencyStore;
  smallBlobs: SmallBlobs;
}

declare module "fastify" {
  interface FastifyInstance {
    store: StoreParts;
  }
}

export const storePluginName = "imagegate-store";

export interface StorePluginOptions {
  config: Config;
  clock: Clock;
}

async function store(app: FastifyInstance, { config, clock }: StorePluginOptions): Promise<void> {
  // Before the store opens: SQLite gives its -wal and -shm files the db file's mode.
  const madePrivate = makePrivate(config.dataDir);
  const privacyNote = describeMadePrivate(config.dataDir, madePrivate);
  if (privacyNote) {
    app.log.warn(
      { fixed: madePrivate.fixed.length, failed: madePrivate.failed.length },
      privacyNote,
    );
  }
  const db = openStore(config.dataDir);
  try {
    checkMasterKey(db, config.masterKey);
  } catch (err) {
    db.close();
    throw err;
  }
  // One group commit for everything the gateway writes to its database.
  const writes = createWriteQueue(db, (err) =>
    app.log.error({ err }, "a write to the database failed and was given up"),
  );
  app.decorate("store", {
    db,
    writes,
    ledger: createSqliteGenerationRecords(db, clock, { writes }),
    vault: createVault({ store: createSqliteTenantStore(db), clock, masterKey: config.masterKey }),
    channelStore: createSqliteChannelStore({ db, clock, masterKey: config.masterKey }),
    latencyStore: sqliteLatencyStore(db, () => clock.now()),
    smallBlobs: sqliteSmallBlobs(db, writes),
  });
  app.addHook("onClose", async () => {
    writes.close();
    db.close();
  });
}

export const storePlugin = fp(store, { name: storePluginName, fastify: "5.x" });
