// The repositories as a contract: the same cases against the embedded store
// (SQLite in a temporary data dir) and PostgreSQL (a schema of its own per
// test on the machine's server), so the second engine keeps the first's rows,
// semantics and errors: tenants and keys, channels and their version, the
// latency figures, small blobs, and the master key's check and rotation.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChannelStore } from "../../src/channels/store.js";
import { type Clock, systemClock } from "../../src/clock.js";
import type { SmallBlobs } from "../../src/storage/small-blobs.js";
import {
  checkMasterKey,
  type MasterKeyAccess,
  MasterKeyError,
  rotateMasterKey,
} from "../../src/stores/master-key.js";
import { createPostgresChannelStore } from "../../src/stores/postgres/channels.js";
import { openPostgres, type Pool } from "../../src/stores/postgres/database.js";
import { postgresLatencyStore } from "../../src/stores/postgres/latency.js";
import { postgresMasterKey } from "../../src/stores/postgres/master-key.js";
import { postgresSmallBlobs } from "../../src/stores/postgres/small-blobs.js";
import { createPostgresTenantStore } from "../../src/stores/postgres/tenants.js";
import { createSqliteChannelStore } from "../../src/stores/sqlite/channels.js";
import { openStore } from "../../src/stores/sqlite/database.js";
import { sqliteLatencyStore } from "../../src/stores/sqlite/latency.js";
import { sqliteMasterKey } from "../../src/stores/sqlite/master-key.js";
import { sqliteSmallBlobs } from "../../src/stores/sqlite/small-blobs.js";
import { createSqliteTenantStore } from "../../src/stores/sqlite/tenants.js";
import { createWriteQueue } from "../../src/stores/sqlite/write-queue.js";
import { UnsealError } from "../../src/tenancy/secrets.js";
import type { NewKeyRow, TenantRow, TenantStore } from "../../src/tenancy/tenant-store.js";
import { createVault } from "../../src/tenancy/vault.js";
import type { LatencyStore } from "../../src/upstream/latency-model.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";

/** One engine's repositories over one fresh database. */
interface Opened {
  tenants: TenantStore;
  channels(masterKey: Buffer | undefined, clock?: Clock): ChannelStore;
  latency(now: () => number): LatencyStore;
  blobs: SmallBlobs;
  masterKey: MasterKeyAccess;
  /** Every row of a table, by id: to see that nothing changed. */
  rows(table: "tenants" | "channels"): Promise<unknown[]>;
  close(): Promise<void>;
}

const engines: { name: string; open(): Promise<Opened> }[] = [
  {
    name: "sqlite",
    async open() {
      const dir = await mkdtemp(join(tmpdir(), "imagegate-stores-"));
      const db = openStore(dir);
      const writes = createWriteQueue(db);
      return {
        tenants: createSqliteTenantStore(db),
        channels: (masterKey, clock = systemClock) =>
          createSqliteChannelStore({ db, clock, masterKey }),
        latency: (now) => sqliteLatencyStore(db, now),
        blobs: sqliteSmallBlobs(db, writes),
        masterKey: sqliteMasterKey(db),
        rows: async (table) => db.prepare(`SELECT * FROM ${table} ORDER BY id`).all(),
        async close() {
          writes.close();
          db.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "postgres",
    async open() {
      const schema = await freshSchema("stores");
      const pool = await openPostgres(schema.url);
      return {
        tenants: createPostgresTenantStore(pool),
        channels: (masterKey, clock = systemClock) =>
          createPostgresChannelStore({ pool, clock, masterKey }),
        latency: (now) => postgresLatencyStore(pool, now),
        blobs: postgresSmallBlobs(pool),
        masterKey: postgresMasterKey(pool),
        rows: async (table) => (await pool.query(`SELECT * FROM ${table} ORDER BY id`)).rows,
        async close() {
          await pool.end();
          await schema.drop();
        },
      };
    },
  },
];

const key = () => randomBytes(32);

/** A clock whose every reading is a second after the last. */
function steppingClock(start = 1_700_000_000_000): Clock {
  let now = start;
  return { ...systemClock, now: () => (now += 1000) };
}

function tenantRow(id: string, createdAt: number, changes: Partial<TenantRow> = {}): TenantRow {
  return {
    id,
    created_at: createdAt,
    name: `tenant ${id}`,
    rpm: 60,
    max_concurrent: null,
    images_per_day: null,
    models: JSON.stringify(["gpt-image-1"]),
    upstream_key_sealed: null,
    disabled: 0,
    ...changes,
  };
}

function keyRow(id: string, tenantId: string, createdAt: number): NewKeyRow {
  return {
    id,
    tenantId,
    hash: `hash-${id}`,
    hint: `ig_${id}…`,
    createdAt,
    name: null,
    expiresAt: null,
  };
}

const channelInput = (name: string, apiKey = `sk-${name}`) => ({
  name,
  provider: "async" as const,
  baseUrl: `https://${name}.example`,
  apiKey,
});

describe.each(engines)("the $name repositories", (engine) => {
  let store: Opened;
  beforeEach(async () => {
    store = await engine.open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("tenants", () => {
    it("creates a tenant with its first key and reads both back as stored", async () => {
      await store.tenants.create(tenantRow("ten_b", 2000), keyRow("key_1", "ten_b", 2000));
      await store.tenants.create(
        tenantRow("ten_a", 1000, { rpm: null, max_concurrent: 3 }),
        keyRow("key_2", "ten_a", 1000),
      );

      expect(await store.tenants.get("ten_b")).toEqual({
        id: "ten_b",
        name: "tenant ten_b",
        created_at: 2000,
        disabled: 0,
        rpm: 60,
        max_concurrent: null,
        images_per_day: null,
        models: '["gpt-image-1"]',
        upstream_key_sealed: null,
      });
      expect(await store.tenants.get("ten_none")).toBeUndefined();
      // By creation time, not by id or insertion.
      expect((await store.tenants.list()).map((row) => [row.id, row.max_concurrent])).toEqual([
        ["ten_a", 3],
        ["ten_b", null],
      ]);
      expect(await store.tenants.keys("ten_b")).toEqual([
        {
          id: "key_1",
          name: null,
          hint: "ig_key_1…",
          created_at: 2000,
          expires_at: null,
          revoked_at: null,
          last_used_at: null,
        },
      ]);
    });

    it("creates nothing when the first key cannot be stored", async () => {
      await store.tenants.create(tenantRow("ten_a", 1000), keyRow("key_1", "ten_a", 1000));
      // The same hash as key_1's: the unique index refuses it, and the tenant with it.
      const clash = { ...keyRow("key_2", "ten_b", 2000), hash: "hash-key_1" };
      await expect(store.tenants.create(tenantRow("ten_b", 2000), clash)).rejects.toThrow();
      expect(await store.tenants.get("ten_b")).toBeUndefined();
      expect((await store.tenants.list()).map((row) => row.id)).toEqual(["ten_a"]);
    });

    it("updates through the change function, and not an unknown tenant", async () => {
      await store.tenants.create(tenantRow("ten_a", 1000), keyRow("key_1", "ten_a", 1000));
      const next = await store.tenants.update("ten_a", (row) => ({
        ...row,
        rpm: null,
        disabled: 1,
        models: null,
      }));
      expect(next).toMatchObject({ id: "ten_a", rpm: null, disabled: 1, models: null });
      expect(await store.tenants.get("ten_a")).toEqual(next);

      let called = false;
      const missing = await store.tenants.update("ten_none", (row) => {
        called = true;
        return row;
      });
      expect(missing).toBeUndefined();
      expect(called).toBe(false);
    });

    it("runs concurrent updates one after the other: none is lost", async () => {
      await store.tenants.create(
        tenantRow("ten_a", 1000, { rpm: 1 }),
        keyRow("key_1", "ten_a", 1000),
      );
      const increment = () =>
        store.tenants.update("ten_a", (row) => ({ ...row, rpm: (row.rpm as number) + 1 }));
      await Promise.all(Array.from({ length: 8 }, increment));
      expect((await store.tenants.get("ten_a"))?.rpm).toBe(9);
    });

    it("finds a key's holder by its hash until it is revoked; revocation keeps its first time", async () => {
      await store.tenants.create(
        tenantRow("ten_a", 1000, { upstream_key_sealed: "sealed" }),
        keyRow("key_1", "ten_a", 1000),
      );
      await store.tenants.create(tenantRow("ten_b", 1500), keyRow("key_b", "ten_b", 1500));
      await store.tenants.addKey({
        ...keyRow("key_2", "ten_a", 2000),
        name: "ci",
        expiresAt: 9000,
      });

      expect(await store.tenants.byKeyHash("hash-key_2")).toEqual({
        ...tenantRow("ten_a", 1000, { upstream_key_sealed: "sealed" }),
        key_id: "key_2",
        expires_at: 9000,
        last_used_at: null,
      });
      expect(await store.tenants.byKeyHash("hash-unknown")).toBeUndefined();

      await store.tenants.touchKey("key_2", 3000);
      expect((await store.tenants.byKeyHash("hash-key_2"))?.last_used_at).toBe(3000);

      // Another tenant's key is not this tenant's to revoke or show.
      await store.tenants.revoke("ten_a", "key_b", 3500);
      expect(await store.tenants.key("ten_a", "key_b")).toBeUndefined();
      expect(await store.tenants.byKeyHash("hash-key_b")).toMatchObject({ key_id: "key_b" });

      await store.tenants.revoke("ten_a", "key_2", 4000);
      await store.tenants.revoke("ten_a", "key_2", 5000);
      expect(await store.tenants.byKeyHash("hash-key_2")).toBeUndefined();
      expect(await store.tenants.key("ten_a", "key_2")).toEqual({
        id: "key_2",
        name: "ci",
        hint: "ig_key_2…",
        created_at: 2000,
        expires_at: 9000,
        revoked_at: 4000,
        last_used_at: 3000,
      });
      expect((await store.tenants.keys("ten_a")).map((row) => [row.id, row.revoked_at])).toEqual([
        ["key_1", null],
        ["key_2", 4000],
      ]);
      expect(await store.tenants.byKeyHash("hash-key_1")).toMatchObject({ key_id: "key_1" });
    });

    it("serves the vault: a tenant's key authenticates, its upstream key opens", async () => {
      const masterKey = key();
      const vault = createVault({ store: store.tenants, clock: systemClock, masterKey });
      const created = await vault.createTenant({ name: "acme", rpm: 5, upstreamKey: "sk-up" });
      const tenant = await vault.authenticate(created.key.apiKey);
      expect(tenant).toMatchObject({ id: created.tenant.id, name: "acme", rpm: 5 });
      expect(tenant && (await vault.upstreamCredential(tenant))).toBe("sk-up");
      await vault.revokeKey(created.tenant.id, created.key.id);
      expect(await vault.authenticate(created.key.apiKey)).toBeUndefined();
    });
  });

  describe("channels", () => {
    it("creates with defaults, lists, gets and opens credentials only in loadAll", async () => {
      const masterKey = key();
      const channels = store.channels(masterKey, steppingClock());
      expect(await channels.version()).toBe(0);
      const b = await channels.create(channelInput("b"));
      const a = await channels.create({
        ...channelInput("a"),
        models: ["gpt-image-1"],
        priority: 2,
        weight: 5,
        maxConcurrent: 4,
        enabled: false,
      });
      expect(b).toEqual({
        id: b.id,
        name: "b",
        provider: "async",
        baseUrl: "https://b.example",
        models: [],
        priority: 0,
        weight: 1,
        maxConcurrent: null,
        enabled: true,
        source: "admin",
        createdAt: 1_700_000_001_000,
      });
      expect(b.id).toMatch(/^ch_/);
      expect(await channels.version()).toBe(2);
      expect(await channels.get(a.id)).toEqual(a);
      expect(await channels.get("ch_none")).toBeUndefined();
      expect(await channels.list()).toEqual([b, a]);
      expect(await channels.loadAll()).toEqual([
        { ...b, credential: "sk-b" },
        { ...a, credential: "sk-a" },
      ]);
      // Stored sealed, never in the clear.
      const stored = JSON.stringify(await store.rows("channels"));
      expect(stored).not.toContain("sk-a");
      expect(stored).not.toContain("sk-b");
      // Without the master key: nothing to route with, and nothing to store.
      expect(await store.channels(undefined).loadAll()).toEqual([]);
      await expect(store.channels(undefined).create(channelInput("c"))).rejects.toMatchObject({
        code: "master_key_required",
      });
      expect(await channels.version()).toBe(2);
    });

    it("updates what is given, keeps the rest, and moves the version", async () => {
      const masterKey = key();
      const channels = store.channels(masterKey, steppingClock());
      const created = await channels.create({ ...channelInput("a"), maxConcurrent: 2 });
      const updated = await channels.update(created.id, {
        name: "renamed",
        apiKey: "sk-new",
        models: ["gpt-image-2"],
        maxConcurrent: null,
        enabled: false,
      });
      expect(updated).toEqual({
        ...created,
        name: "renamed",
        models: ["gpt-image-2"],
        maxConcurrent: null,
        enabled: false,
      });
      expect(await channels.get(created.id)).toEqual(updated);
      expect(await channels.loadAll()).toEqual([{ ...updated, credential: "sk-new" }]);
      expect(await channels.version()).toBe(2);
      // An empty change still writes (updated_at) and moves the version.
      expect(await channels.update(created.id, {})).toEqual(updated);
      expect(await channels.version()).toBe(3);
    });

    it("refuses a taken name and an unknown id without moving the version", async () => {
      const channels = store.channels(key(), steppingClock());
      const a = await channels.create(channelInput("a"));
      await channels.create(channelInput("b"));
      await expect(channels.create(channelInput("a"))).rejects.toMatchObject({
        code: "channel_name_taken",
        status: 409,
      });
      await expect(channels.update(a.id, { name: "b" })).rejects.toMatchObject({
        code: "channel_name_taken",
      });
      await expect(channels.update("ch_none", { weight: 3 })).rejects.toMatchObject({
        code: "channel_not_found",
        status: 404,
      });
      await expect(channels.remove("ch_none")).rejects.toMatchObject({
        code: "channel_not_found",
      });
      expect(await channels.version()).toBe(2);
      expect((await channels.list()).map((channel) => channel.name)).toEqual(["a", "b"]);
    });

    it("removes a channel and moves the version, seen by another store on the same data", async () => {
      const channels = store.channels(key());
      const a = await channels.create(channelInput("a"));
      const other = store.channels(undefined);
      expect(await other.version()).toBe(1);
      await channels.remove(a.id);
      expect(await channels.get(a.id)).toBeUndefined();
      expect(await other.list()).toEqual([]);
      expect(await other.version()).toBe(2);
    });

    it("moves the version once per change when changes run at once", async () => {
      const channels = store.channels(key());
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => channels.create(channelInput(`c${i}`))),
      );
      expect(await channels.version()).toBe(6);
      expect(await channels.list()).toHaveLength(6);
    });
  });

  describe("latency figures", () => {
    it("loads what was saved, the last save of a model winning", async () => {
      const latency = store.latency(() => 1000);
      expect(await latency.load()).toEqual([]);
      await latency.save([
        { model: "m1", samples: 3, meanLog: -0.123456789012345, varLog: 0.5 },
        { model: "m2", samples: 1, meanLog: 0, varLog: 0.25 },
      ]);
      await latency.save([{ model: "m1", samples: 4, meanLog: 0.1, varLog: 1e-9 }]);
      await latency.save([]);
      const loaded = await latency.load();
      expect(loaded.sort((x, y) => x.model.localeCompare(y.model))).toEqual([
        { model: "m1", samples: 4, meanLog: 0.1, varLog: 1e-9 },
        { model: "m2", samples: 1, meanLog: 0, varLog: 0.25 },
      ]);
    });
  });

  describe("small blobs", () => {
    it("puts, gets, removes and sweeps by age", async () => {
      const bytes = randomBytes(4096);
      await store.blobs.put("old-1", randomBytes(10), 1000);
      await store.blobs.put("old-2", Buffer.alloc(0), 1999);
      await store.blobs.put("new", bytes, 2000);
      const read = await store.blobs.get("new");
      expect(Buffer.isBuffer(read)).toBe(true);
      expect(read?.equals(bytes)).toBe(true);
      expect((await store.blobs.get("old-2"))?.length).toBe(0);
      expect(await store.blobs.get("none")).toBeUndefined();

      expect(await store.blobs.sweep(2000)).toBe(2);
      expect(await store.blobs.get("old-1")).toBeUndefined();
      expect(await store.blobs.sweep(2000)).toBe(0);
      await store.blobs.remove("new");
      expect(await store.blobs.get("new")).toBeUndefined();
    });
  });

  describe("master key", () => {
    async function addTenant(masterKey: Buffer, upstreamKey: string): Promise<string> {
      const vault = createVault({ store: store.tenants, clock: systemClock, masterKey });
      return (await vault.createTenant({ name: "byok", upstreamKey })).tenant.id;
    }

    it("writes the check at the first start with a key, then refuses any other key", async () => {
      const right = key();
      expect(await store.masterKey.readCheck()).toBeUndefined();
      // Nothing sealed yet: no key is fine, and writes nothing.
      await checkMasterKey(store.masterKey, undefined);
      expect(await store.masterKey.readCheck()).toBeUndefined();

      await checkMasterKey(store.masterKey, right);
      const check = await store.masterKey.readCheck();
      expect(check).toMatch(/^v1\./);
      await checkMasterKey(store.masterKey, right);
      expect(await store.masterKey.readCheck()).toBe(check);
      await expect(checkMasterKey(store.masterKey, key())).rejects.toThrow(
        "IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with (use `imagegate master-key rotate` to change it)",
      );
      // A check value there already is kept: the first start's key stays the key.
      expect(await store.masterKey.initCheck("another")).toBe(check);
    });

    it("refuses no key when credentials are sealed, and a key that does not open them", async () => {
      const right = key();
      await addTenant(right, "sk-tenant");
      await expect(checkMasterKey(store.masterKey, undefined)).rejects.toThrow(
        "IMAGEGATE_MASTER_KEY is not set, but the data dir holds sealed upstream credentials: set the key they were sealed with",
      );
      await expect(checkMasterKey(store.masterKey, key())).rejects.toThrow(
        /does not open the sealed upstream credentials/,
      );
      expect(await store.masterKey.readCheck()).toBeUndefined();
      await checkMasterKey(store.masterKey, right);
      expect(await store.masterKey.readCheck()).toBeDefined();
    });

    it("re-seals every credential with the new key", async () => {
      const oldKey = key();
      const newKey = key();
      await checkMasterKey(store.masterKey, oldKey);
      const tenantId = await addTenant(oldKey, "sk-tenant");
      await store.channels(oldKey).create(channelInput("a"));
      await store.channels(oldKey).create(channelInput("b"));

      expect(await rotateMasterKey(store.masterKey, oldKey, newKey)).toBe(3);

      const opened = (await store.channels(newKey).loadAll()).map((c) => c.credential);
      expect(opened.sort()).toEqual(["sk-a", "sk-b"]);
      await expect(store.channels(oldKey).loadAll()).rejects.toThrow(UnsealError);
      const vault = createVault({ store: store.tenants, clock: systemClock, masterKey: newKey });
      const tenant = await vault.getTenant(tenantId);
      expect(tenant && (await vault.upstreamCredential(tenant))).toBe("sk-tenant");
      await checkMasterKey(store.masterKey, newKey);
      await expect(checkMasterKey(store.masterKey, oldKey)).rejects.toThrow(MasterKeyError);
    });

    it("changes nothing when one credential does not open, or the old key is wrong", async () => {
      const oldKey = key();
      await checkMasterKey(store.masterKey, oldKey);
      await addTenant(oldKey, "sk-tenant");
      await store.channels(oldKey).create(channelInput("good"));
      const stray = await store.channels(key()).create(channelInput("stray"));
      const before = {
        tenants: await store.rows("tenants"),
        channels: await store.rows("channels"),
        check: await store.masterKey.readCheck(),
      };

      await expect(rotateMasterKey(store.masterKey, oldKey, key())).rejects.toThrow(
        `the old master key does not open the upstream credential of channel ${stray.id}; nothing was changed`,
      );
      await expect(rotateMasterKey(store.masterKey, key(), key())).rejects.toThrow(
        "the old master key is not the one this data dir was sealed with",
      );
      expect({
        tenants: await store.rows("tenants"),
        channels: await store.rows("channels"),
        check: await store.masterKey.readCheck(),
      }).toEqual(before);
      await checkMasterKey(store.masterKey, oldKey);
    });

    it("lets one of two rotations from the same key win, the other changing nothing", async () => {
      const oldKey = key();
      await checkMasterKey(store.masterKey, oldKey);
      await addTenant(oldKey, "sk-tenant");
      await store.channels(oldKey).create(channelInput("a"));
      const keys = [key(), key()];

      const results = await Promise.allSettled(
        keys.map((newKey) => rotateMasterKey(store.masterKey, oldKey, newKey)),
      );
      const won = results.findIndex((result) => result.status === "fulfilled");
      expect(results.map((result) => result.status).sort()).toEqual(["fulfilled", "rejected"]);
      expect(results[won]).toEqual({ status: "fulfilled", value: 2 });
      const lost = results[1 - won];
      expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(MasterKeyError);

      const winner = keys[won] as Buffer;
      await checkMasterKey(store.masterKey, winner);
      expect((await store.channels(winner).loadAll()).map((c) => c.credential)).toEqual(["sk-a"]);
    });
  });
});

describe("postgres: rotations from two replicas at once", () => {
  let schema: TestSchema;
  const pools: Pool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.end()));
    await schema.drop();
  });

  it("runs them one after the other: the second finds the first's key and changes nothing", async () => {
    schema = await freshSchema("rotate");
    // Named, so that the test can see its own connections wait.
    const url = new URL(schema.url);
    url.searchParams.set("application_name", schema.name);
    for (let i = 0; i < 2; i++) pools.push(await openPostgres(url.toString()));
    const [first, second] = pools as [Pool, Pool];
    const oldKey = key();
    const access = postgresMasterKey(first);
    await checkMasterKey(access, oldKey);
    await createPostgresChannelStore({ pool: first, clock: systemClock, masterKey: oldKey }).create(
      channelInput("a"),
    );

    // Both rotations are made to wait on a lock held here, then let go together:
    // without their own exclusion both would read the old state and both succeed.
    const holder = new pg.Client({ connectionString: schema.url });
    await holder.connect();
    const keys = [key(), key()];
    let settled: PromiseSettledResult<number>[];
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE channels IN ACCESS EXCLUSIVE MODE");
      const rotations = Promise.allSettled([
        rotateMasterKey(postgresMasterKey(first), oldKey, keys[0] as Buffer),
        rotateMasterKey(postgresMasterKey(second), oldKey, keys[1] as Buffer),
      ]);
      await expect
        .poll(
          async () =>
            (
              await holder.query<{ waiting: number }>(
                `SELECT count(*)::int AS waiting FROM pg_stat_activity
                  WHERE application_name = $1 AND wait_event_type = 'Lock'`,
                [schema.name],
              )
            ).rows[0]?.waiting,
          { timeout: 10_000, interval: 20 },
        )
        .toBe(2);
      await holder.query("COMMIT");
      settled = await rotations;
    } finally {
      await holder.end();
    }

    const won = settled.findIndex((result) => result.status === "fulfilled");
    expect(settled.map((result) => result.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = settled[1 - won];
    expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(MasterKeyError);
    const winner = keys[won] as Buffer;
    await checkMasterKey(access, winner);
    const channels = createPostgresChannelStore({
      pool: first,
      clock: systemClock,
      masterKey: winner,
    });
    expect((await channels.loadAll()).map((channel) => channel.credential)).toEqual(["sk-a"]);
  });
});
