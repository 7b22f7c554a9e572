// The store and what lives in it: the vault (tenants, keys), the generation
// records, the operator's channels, the learned latencies and small result
// images, on the engine the configuration chooses (stores/open.ts): SQLite in
// the data dir, or PostgreSQL shared by replicas. Closed last: everything else
// writes into it.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { ChannelStore } from "../channels/store.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { GenerationRecords } from "../generation/record.js";
import type { SmallBlobs } from "../storage/small-blobs.js";
import { openStores, type Stores } from "../stores/open.js";
import { createVault, type Vault } from "../tenancy/vault.js";
import type { LatencyStore } from "../upstream/latency-model.js";

export interface StoreParts {
  engine: Stores["engine"];
  ledger: GenerationRecords;
  vault: Vault;
  channelStore: ChannelStore;
  latencyStore: LatencyStore;
  smallBlobs: SmallBlobs;
  /** Whether the database answers now (readiness). */
  answers(): Promise<boolean>;
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
  const onWriteError = (err: unknown) =>
    app.log.error({ err }, "a write to the database failed and was given up");
  const stores = await openStores({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    masterKey: config.masterKey,
    clock,
    onWriteError,
    onNote: (note, fields) => app.log.warn(fields, note),
    onConnectionError: (err) =>
      app.log.warn({ err: { message: err.message } }, "a database connection dropped"),
  });
  if (config.databaseUrl !== undefined && config.s3 === undefined) {
    app.log.warn(
      "IMAGEGATE_DATABASE_URL without IMAGEGATE_S3_BUCKET: results over 128 KB stay in this replica's data dir, where other replicas cannot serve them",
    );
  }
  app.decorate("store", {
    engine: stores.engine,
    ledger: stores.ledger,
    vault: createVault({
      store: stores.tenants,
      clock,
      masterKey: config.masterKey,
      onWriteError: (err) => app.log.warn({ err }, "a key's last use could not be recorded"),
    }),
    channelStore: stores.channels,
    latencyStore: stores.latency,
    smallBlobs: stores.smallBlobs,
    answers: stores.answers,
  });
  app.addHook("onClose", async () => {
    await stores.close();
  });
}

export const storePlugin = fp(store, { name: storePluginName, fastify: "5.x" });
