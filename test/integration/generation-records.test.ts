// The generation records (src/generation/record.ts) as a contract: the same
// cases against the embedded store (SQLite in a temporary data dir) and
// PostgreSQL (a schema of its own per test): the state machine, the daily
// budget under concurrency, Idempotency-Keys, the joinable and unfinished
// reads and the usage reports. PostgreSQL alone shares its records between
// replicas: the budget across two ledgers, the task leases and the outcome
// notifications are tested against it with two or three ledgers, each on a
// pool of its own (one per simulated replica).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Clock, systemClock } from "../../src/clock.js";
import {
  type GenerationOutcome,
  type GenerationRecord,
  type GenerationRecords,
  IdempotencyKeyTaken,
  LeaseLost,
  type ReserveRequest,
  type TaskPlan,
} from "../../src/generation/record.js";
import { openPostgres, type Pool } from "../../src/stores/postgres/database.js";
import {
  createPostgresGenerationRecords,
  type PostgresLedger,
} from "../../src/stores/postgres/generation-records.js";
import { createPostgresTenantStore } from "../../src/stores/postgres/tenants.js";
import { openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import { createSqliteTenantStore } from "../../src/stores/sqlite/tenants.js";
import { createWriteQueue } from "../../src/stores/sqlite/write-queue.js";
import type { TenantStore } from "../../src/tenancy/tenant-store.js";
import { createVault, type Tenant } from "../../src/tenancy/vault.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";

/** A clock that reads what the test set: days and times are known values. */
interface ManualClock extends Clock {
  set(ms: number): void;
}

function manualClock(start: number): ManualClock {
  let now = start;
  return {
    ...systemClock,
    now: () => now,
    set(ms) {
      now = ms;
    },
  };
}

const day1 = Date.UTC(2024, 2, 1, 10, 0, 0);
const day2 = Date.UTC(2024, 2, 2, 10, 0, 0);

/** One engine's generation records over one fresh database. */
interface Opened {
  ledger: GenerationRecords;
  clock: ManualClock;
  tenant(name: string, imagesPerDay?: number | null): Promise<Tenant>;
  close(): Promise<void>;
}

async function createTenant(
  store: TenantStore,
  name: string,
  imagesPerDay: number | null,
): Promise<Tenant> {
  const vault = createVault({ store, clock: systemClock, masterKey: undefined });
  return (await vault.createTenant({ name, imagesPerDay })).tenant;
}

const engines: { name: string; open(): Promise<Opened> }[] = [
  {
    name: "sqlite",
    async open() {
      const dir = await mkdtemp(join(tmpdir(), "imagegate-generations-"));
      const db = openStore(dir);
      const writes = createWriteQueue(db);
      const clock = manualClock(day1);
      const tenants = createSqliteTenantStore(db);
      return {
        ledger: createSqliteGenerationRecords(db, clock, { writes }),
        clock,
        tenant: (name, imagesPerDay = null) => createTenant(tenants, name, imagesPerDay),
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
      const schema = await freshSchema("generations");
      const pool = await openPostgres(schema.url);
      const clock = manualClock(day1);
      const tenants = createPostgresTenantStore(pool);
      const ledger = createPostgresGenerationRecords(pool, clock, {
        url: schema.url,
        owner: "only",
      });
      return {
        ledger,
        clock,
        tenant: (name, imagesPerDay = null) => createTenant(tenants, name, imagesPerDay),
        async close() {
          try {
            await ledger.close();
            await pool.end();
          } finally {
            await schema.drop();
          }
        },
      };
    },
  },
];

const plan: TaskPlan = {
  n: 2,
  expectedMs: 30_000,
  responseFormat: "b64_json",
  echo: { size: "1024x1024", quality: "high" },
  mask: { original: "blob-original", mask: "blob-mask" },
};

const results = [
  { id: "blob-1", contentType: "image/png", size: 1234 },
  { id: "blob-2", contentType: undefined, size: 99 },
];

function request(tenant: Tenant, changes: Partial<ReserveRequest> = {}): ReserveRequest {
  return { tenant, model: "m1", requestedModel: "m1", n: 1, ...changes };
}

const succeeded = (images: number): GenerationOutcome => ({ state: "succeeded", images });
const ended = (
  state: "failed" | "refused" | "unknown" | "error",
  changes: { channelId?: string } = {},
): GenerationOutcome => ({ state, errorCode: `${state}_code`, ...changes });

/** The reasons of the rejected settlements, the fulfilled values apart. */
function split<T>(settled: PromiseSettledResult<T>[]): { values: T[]; reasons: unknown[] } {
  const values: T[] = [];
  const reasons: unknown[] = [];
  for (const result of settled) {
    if (result.status === "fulfilled") values.push(result.value);
    else reasons.push(result.reason);
  }
  return { values, reasons };
}

const ids = (records: GenerationRecord[]) => records.map((record) => record.id);
const sorted = (values: string[]) => [...values].sort();

describe.each(engines)("the $name generation records", (engine) => {
  let store: Opened;
  let ledger: GenerationRecords;
  let clock: ManualClock;
  beforeEach(async () => {
    store = await engine.open();
    ledger = store.ledger;
    clock = store.clock;
  });
  afterEach(async () => {
    await store.close();
  });

  describe("the state machine", () => {
    it("goes reserved → submitted → succeeded → delivered, and a final state is never left", async () => {
      const tenant = await store.tenant("acme");
      clock.set(day1);
      const id = await ledger.reserve({
        tenant,
        model: "gpt-image-1",
        requestedModel: "dall-e-3",
        n: 2,
        plan,
        requestHash: "hash-1",
        idempotencyKey: "key-1",
      });
      await ledger.reserved(id);
      expect(id).toMatch(/^gen_/);
      const reserved: GenerationRecord = {
        id,
        tenantId: tenant.id,
        createdAt: day1,
        finishedAt: null,
        model: "gpt-image-1",
        requestedModel: "dall-e-3",
        n: 2,
        state: "pending",
        upstreamTaskId: null,
        channelId: null,
        images: 0,
        plan,
        results: [],
        error: null,
        requestHash: "hash-1",
        idempotencyKey: "key-1",
        deliveredAt: null,
        readyAt: null,
      };
      expect(await ledger.get(id)).toEqual(reserved);
      expect(await ledger.byIdempotencyKey(tenant.id, "key-1")).toEqual(reserved);

      clock.set(day1 + 1_000);
      await ledger.submitted(id, "task-1", "ch_1");
      const running = {
        ...reserved,
        state: "running",
        upstreamTaskId: "task-1",
        channelId: "ch_1",
      };
      expect(await ledger.get(id)).toEqual(running);

      clock.set(day1 + 5_000);
      // In the background, but the very next read sees it.
      ledger.finished(id, { state: "succeeded", images: 2, results });
      const done = { ...running, state: "succeeded", images: 2, results, finishedAt: day1 + 5_000 };
      expect(await ledger.get(id)).toEqual(done);

      // Final: a later outcome or task id changes nothing.
      clock.set(day1 + 6_000);
      ledger.finished(id, {
        state: "failed",
        errorCode: "late",
        error: { status: 500, type: "server_error", code: null, message: "late" },
        upstreamTaskId: "task-late",
        channelId: "ch_late",
      });
      await ledger.submitted(id, "task-2", "ch_2");
      expect(await ledger.get(id)).toEqual(done);

      clock.set(day1 + 7_000);
      ledger.delivered(id);
      expect(await ledger.get(id)).toEqual({ ...done, deliveredAt: day1 + 7_000 });
      clock.set(day1 + 8_000);
      ledger.delivered(id);
      expect(await ledger.get(id)).toEqual({ ...done, deliveredAt: day1 + 7_000 });
    });

    it("ends a reservation directly, keeping the error and an ambiguous submit's channel", async () => {
      const tenant = await store.tenant("acme");
      const unknownId = await ledger.reserve(request(tenant));
      const lateId = await ledger.reserve(request(tenant, { n: 3 }));
      await Promise.all([ledger.reserved(unknownId), ledger.reserved(lateId)]);
      const error = { status: 502, type: "upstream_error", code: "bad_gateway", message: "gone" };
      clock.set(day1 + 2_000);
      ledger.finished(unknownId, {
        state: "unknown",
        errorCode: "submit_unknown",
        error,
        channelId: "ch_9",
      });
      // The submitted write was lost: the outcome sets the task id again.
      ledger.finished(lateId, { state: "succeeded", images: 3, upstreamTaskId: "task-late" });
      expect(await ledger.get(unknownId)).toMatchObject({
        state: "unknown",
        error,
        channelId: "ch_9",
        upstreamTaskId: null,
        images: 0,
        finishedAt: day1 + 2_000,
      });
      expect(await ledger.get(lateId)).toMatchObject({
        state: "succeeded",
        images: 3,
        upstreamTaskId: "task-late",
        channelId: null,
        error: null,
        results: [],
      });
      // Running again after a final state is refused too.
      await ledger.submitted(unknownId, "task-x", "ch_x");
      expect(await ledger.get(unknownId)).toMatchObject({ state: "unknown", channelId: "ch_9" });
      expect(await ledger.get("gen_none")).toBeUndefined();
    });
  });

  describe("the daily budget", () => {
    it("admits exactly the budget of reservations made at once", async () => {
      const tenant = await store.tenant("acme", 4);
      const settled = await Promise.allSettled(
        Array.from({ length: 10 }, () => ledger.reserve(request(tenant))),
      );
      const { values, reasons } = split(settled);
      expect(values).toHaveLength(4);
      expect(new Set(values).size).toBe(4);
      expect(reasons).toHaveLength(6);
      for (const reason of reasons) {
        expect(reason).toMatchObject({ code: "insufficient_quota", status: 429 });
      }
      await Promise.all(values.map((id) => ledger.reserved(id)));
      expect(await ledger.imagesToday(tenant.id)).toBe(4);
      await expect(ledger.reserve(request(tenant))).rejects.toMatchObject({
        code: "insufficient_quota",
        status: 429,
      });
    });

    it("counts n images per reservation, and not what was refused", async () => {
      const tenant = await store.tenant("acme", 4);
      const other = await store.tenant("other", 4);
      const first = await ledger.reserve(request(tenant, { n: 3 }));
      await ledger.reserved(first);
      await expect(ledger.reserve(request(tenant, { n: 2 }))).rejects.toMatchObject({
        code: "insufficient_quota",
        status: 429,
      });
      const second = await ledger.reserve(request(tenant, { n: 1 }));
      await ledger.reserved(second);
      expect(await ledger.imagesToday(tenant.id)).toBe(4);
      // Another tenant's budget is its own.
      expect(await ledger.reserve(request(other, { n: 4 }))).toMatch(/^gen_/);

      // A refused submit cost nothing: its images are free again. A failed one still counts.
      ledger.finished(first, ended("refused"));
      ledger.finished(second, ended("failed"));
      expect(await ledger.imagesToday(tenant.id)).toBe(1);
      const settled = await Promise.allSettled(
        Array.from({ length: 6 }, () => ledger.reserve(request(tenant))),
      );
      const { values, reasons } = split(settled);
      expect(values).toHaveLength(3);
      expect(reasons).toHaveLength(3);
      for (const reason of reasons) expect(reason).toMatchObject({ code: "insufficient_quota" });
      await Promise.all(values.map((id) => ledger.reserved(id)));
      expect(await ledger.imagesToday(tenant.id)).toBe(4);

      // A new UTC day: a new budget.
      clock.set(day2);
      expect(await ledger.imagesToday(tenant.id)).toBe(0);
      expect(await ledger.reserve(request(tenant, { n: 4 }))).toMatch(/^gen_/);
    });
  });

  describe("Idempotency-Keys", () => {
    it("refuses a tenant's key twice, lets another tenant use it, and frees it on release", async () => {
      const limited = await store.tenant("limited", 100);
      const unlimited = await store.tenant("unlimited");
      for (const tenant of [limited, unlimited]) {
        const id = await ledger.reserve(request(tenant, { idempotencyKey: "same" }));
        const again = ledger.reserve(request(tenant, { idempotencyKey: "same" }));
        await expect(again).rejects.toBeInstanceOf(IdempotencyKeyTaken);
        expect((await ledger.byIdempotencyKey(tenant.id, "same"))?.id).toBe(id);

        await ledger.releaseIdempotencyKey(id);
        expect(await ledger.byIdempotencyKey(tenant.id, "same")).toBeUndefined();
        expect(await ledger.get(id)).toMatchObject({ id, idempotencyKey: null });
        const reused = await ledger.reserve(request(tenant, { idempotencyKey: "same" }));
        expect(reused).not.toBe(id);
        expect((await ledger.byIdempotencyKey(tenant.id, "same"))?.id).toBe(reused);
      }
      expect(await ledger.imagesToday(limited.id)).toBe(2);
    });

    it("lets exactly one of the requests with one key made at once reserve", async () => {
      const tenant = await store.tenant("acme", 100);
      const settled = await Promise.allSettled(
        Array.from({ length: 5 }, () => ledger.reserve(request(tenant, { idempotencyKey: "k" }))),
      );
      const { values, reasons } = split(settled);
      expect(values).toHaveLength(1);
      expect(reasons).toHaveLength(4);
      for (const reason of reasons) expect(reason).toBeInstanceOf(IdempotencyKeyTaken);
      expect((await ledger.byIdempotencyKey(tenant.id, "k"))?.id).toBe(values[0]);
      expect(await ledger.imagesToday(tenant.id)).toBe(1);
    });
  });

  describe("reads", () => {
    it("joinableForRequest: the request's live or recent, undelivered generations, newest first", async () => {
      const tenant = await store.tenant("acme");
      const other = await store.tenant("other");
      const at = async (ms: number, changes: Partial<ReserveRequest> = {}) => {
        clock.set(ms);
        const id = await ledger.reserve(request(tenant, { requestHash: "h", ...changes }));
        await ledger.reserved(id);
        return id;
      };
      const tooOld = await at(1_000);
      const pending = await at(2_000);
      const running = await at(3_000);
      await ledger.submitted(running, "task-r", "ch_1");
      const finishedLongAgo = await at(4_000);
      clock.set(4_500);
      ledger.finished(finishedLongAgo, succeeded(1));
      const recent = await at(5_000);
      clock.set(6_000);
      ledger.finished(recent, succeeded(1));
      const refused = await at(6_500);
      ledger.finished(refused, ended("refused"));
      const delivered = await at(7_000);
      ledger.finished(delivered, succeeded(1));
      ledger.delivered(delivered);
      await at(8_000, { requestHash: "another" });
      await at(8_500, { tenant: other });
      const failed = await at(9_000);
      ledger.finished(failed, ended("failed"));

      const joinable = await ledger.joinableForRequest(tenant.id, "h", {
        createdSince: 2_000,
        finishedSince: 5_000,
      });
      expect(ids(joinable)).toEqual([failed, recent, running, pending]);
      expect(joinable.map((record) => record.state)).toEqual([
        "failed",
        "succeeded",
        "running",
        "pending",
      ]);
      expect(joinable[2]).toMatchObject({ upstreamTaskId: "task-r", channelId: "ch_1" });
      // Wider windows take the older ones in; the refused and the delivered never.
      expect(
        ids(await ledger.joinableForRequest(tenant.id, "h", { createdSince: 0, finishedSince: 0 })),
      ).toEqual([failed, recent, finishedLongAgo, running, pending, tooOld]);
      expect(
        await ledger.joinableForRequest(tenant.id, "none", { createdSince: 0, finishedSince: 0 }),
      ).toEqual([]);
    });

    it("unfinished: the reserved and running generations of every tenant, only those", async () => {
      const tenant = await store.tenant("acme");
      const other = await store.tenant("other");
      expect(await ledger.unfinished()).toEqual([]);
      const reserveAt = async (ms: number, who: Tenant) => {
        clock.set(ms);
        const id = await ledger.reserve(request(who));
        await ledger.reserved(id);
        return id;
      };
      const pending = await reserveAt(1_000, tenant);
      const running = await reserveAt(2_000, other);
      await ledger.submitted(running, "task-1", "ch_1");
      const finals: string[] = [];
      for (const outcome of [
        succeeded(1),
        ended("failed"),
        ended("refused"),
        ended("unknown"),
        ended("error"),
      ]) {
        const id = await reserveAt(3_000 + finals.length, tenant);
        ledger.finished(id, outcome);
        finals.push(id);
      }
      const unfinished = await ledger.unfinished();
      expect(sorted(ids(unfinished))).toEqual(sorted([pending, running]));
      expect(unfinished.find((record) => record.id === running)).toMatchObject({
        state: "running",
        upstreamTaskId: "task-1",
        channelId: "ch_1",
        tenantId: other.id,
      });
      expect(unfinished.find((record) => record.id === pending)).toMatchObject({
        state: "pending",
        tenantId: tenant.id,
        createdAt: 1_000,
      });
    });
  });

  describe("usage reports", () => {
    it("counts a known mix by day and model, and by channel", async () => {
      const tenant = await store.tenant("acme");
      const other = await store.tenant("other");
      const generation = async (
        at: number,
        changes: Partial<ReserveRequest>,
        channelId: string | undefined,
        outcome: GenerationOutcome | undefined,
      ) => {
        clock.set(at);
        const id = await ledger.reserve(request(tenant, changes));
        await ledger.reserved(id);
        if (channelId !== undefined) await ledger.submitted(id, `task-${id}`, channelId);
        if (outcome !== undefined) ledger.finished(id, outcome);
      };
      // Day 1, m1: a success, a failure, a refusal and one never submitted.
      await generation(day1, { model: "m1", n: 2 }, "ch_1", succeeded(2));
      await generation(day1, { model: "m1", n: 1 }, "ch_1", ended("failed"));
      await generation(
        day1,
        { model: "m1", n: 3 },
        undefined,
        ended("refused", { channelId: "ch_1" }),
      );
      await generation(day1, { model: "m1", n: 1 }, undefined, undefined);
      // Day 1, m2: an ambiguous submit (its channel may bill it) and a partial success.
      await generation(
        day1,
        { model: "m2", n: 1 },
        undefined,
        ended("unknown", { channelId: "ch_1" }),
      );
      await generation(day1, { model: "m2", n: 4 }, "ch_2", succeeded(3));
      // Day 2, m1: one still running, one lost.
      await generation(day2, { model: "m1", n: 1 }, "ch_1", undefined);
      await generation(day2, { model: "m1", n: 2 }, "ch_1", ended("error"));
      // Another tenant's, on the same channel.
      clock.set(day1);
      const others = await ledger.reserve(request(other, { model: "m1", n: 1 }));
      await ledger.reserved(others);
      await ledger.submitted(others, "task-other", "ch_1");
      ledger.finished(others, succeeded(1));

      const report = await ledger.report(tenant.id, "2024-03-01", "2024-03-02");
      expect(report).toEqual({
        object: "usage",
        tenant_id: tenant.id,
        from: "2024-03-01",
        to: "2024-03-02",
        data: [
          {
            day: "2024-03-01",
            model: "m1",
            requests: 4,
            upstream_tasks: 2,
            images_requested: 3,
            images: 2,
            succeeded: 1,
            failed: 1,
          },
          {
            day: "2024-03-01",
            model: "m2",
            requests: 2,
            upstream_tasks: 2,
            images_requested: 5,
            images: 3,
            succeeded: 1,
            failed: 1,
          },
          {
            day: "2024-03-02",
            model: "m1",
            requests: 2,
            upstream_tasks: 2,
            images_requested: 3,
            images: 0,
            succeeded: 0,
            failed: 1,
          },
        ],
        totals: {
          requests: 8,
          upstream_tasks: 6,
          images_requested: 11,
          images: 5,
          succeeded: 2,
          failed: 3,
        },
      });
      const secondDay = await ledger.report(tenant.id, "2024-03-02", "2024-03-02");
      expect(secondDay.data).toEqual([report.data[2]]);
      expect(secondDay.totals).toEqual({
        requests: 2,
        upstream_tasks: 2,
        images_requested: 3,
        images: 0,
        succeeded: 0,
        failed: 1,
      });
      expect(await ledger.report(tenant.id, "2024-03-03", "2024-03-31")).toEqual({
        object: "usage",
        tenant_id: tenant.id,
        from: "2024-03-03",
        to: "2024-03-31",
        data: [],
        totals: {
          requests: 0,
          upstream_tasks: 0,
          images_requested: 0,
          images: 0,
          succeeded: 0,
          failed: 0,
        },
      });

      expect(await ledger.channelReport("ch_1", "2024-03-01", "2024-03-02")).toEqual({
        object: "channel_usage",
        channel_id: "ch_1",
        from: "2024-03-01",
        to: "2024-03-02",
        data: [
          { day: "2024-03-01", submits: 4, images: 3, failures: 2 },
          { day: "2024-03-02", submits: 2, images: 0, failures: 1 },
        ],
        totals: { submits: 6, images: 3, failures: 3 },
      });
      expect(await ledger.channelReport("ch_2", "2024-03-01", "2024-03-01")).toEqual({
        object: "channel_usage",
        channel_id: "ch_2",
        from: "2024-03-01",
        to: "2024-03-01",
        data: [{ day: "2024-03-01", submits: 1, images: 3, failures: 0 }],
        totals: { submits: 1, images: 3, failures: 0 },
      });
      expect((await ledger.channelReport("ch_none", "2024-03-01", "2024-03-02")).totals).toEqual({
        submits: 0,
        images: 0,
        failures: 0,
      });
    });
  });
});

// --- PostgreSQL: records shared by replicas ----------------------------------

const leaseMs = 300;

/** One schema, and a ledger per replica, each on a pool of its own. */
interface Replicas {
  schema: TestSchema;
  pools: Pool[];
  ledgers: PostgresLedger[];
  tenant(name: string, imagesPerDay?: number | null): Promise<Tenant>;
  close(): Promise<void>;
}

async function openReplicas(owners: string[], clock: Clock = systemClock): Promise<Replicas> {
  const schema = await freshSchema("replicas");
  const pools: Pool[] = [];
  const ledgers: PostgresLedger[] = [];
  try {
    for (const owner of owners) {
      // Named after its replica, so that the test can find its connections.
      const url = new URL(schema.url);
      url.searchParams.set("application_name", `${schema.name}_${owner}`);
      const pool = await openPostgres(url.toString());
      pools.push(pool);
      ledgers.push(
        createPostgresGenerationRecords(pool, clock, {
          url: url.toString(),
          owner,
          leaseMs,
          pendingGraceMs: 0,
        }),
      );
    }
  } catch (err) {
    await Promise.all(pools.map((pool) => pool.end()));
    await schema.drop();
    throw err;
  }
  const tenants = createPostgresTenantStore(pools[0] as Pool);
  return {
    schema,
    pools,
    ledgers,
    tenant: (name, imagesPerDay = null) => createTenant(tenants, name, imagesPerDay),
    async close() {
      try {
        await Promise.all(ledgers.map((ledger) => ledger.close()));
        await Promise.all(pools.map((pool) => pool.end()));
      } finally {
        await schema.drop();
      }
    },
  };
}

describe("postgres: generation records shared by replicas", () => {
  let replicas: Replicas | undefined;
  afterEach(async () => {
    await replicas?.close();
    replicas = undefined;
  });

  async function open(owners: string[], clock?: Clock) {
    replicas = await openReplicas(owners, clock);
    return replicas;
  }

  it("keeps the daily budget exact across two replicas reserving at once", async () => {
    const { ledgers, tenant: newTenant } = await open(["a", "b"], manualClock(day1));
    const [a, b] = ledgers as [PostgresLedger, PostgresLedger];
    const tenant = await newTenant("acme", 4);
    const settled = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).reserve(request(tenant))),
    );
    const { values, reasons } = split(settled);
    expect(values).toHaveLength(4);
    expect(reasons).toHaveLength(8);
    for (const reason of reasons) {
      expect(reason).toMatchObject({ code: "insufficient_quota", status: 429 });
    }
    expect(await a.imagesToday(tenant.id)).toBe(4);
    expect(await b.imagesToday(tenant.id)).toBe(4);
    // Each replica reads the other's reservations.
    for (const id of values) {
      expect(await a.get(id)).toMatchObject({ id, state: "pending", tenantId: tenant.id });
      expect(await b.get(id)).toMatchObject({ id, state: "pending", tenantId: tenant.id });
    }
    // A refusal written by one replica frees the budget for the other.
    a.finished(values[0] as string, ended("refused"));
    await a.drain();
    expect(await b.reserve(request(tenant))).toMatch(/^gen_/);
    await expect(a.reserve(request(tenant))).rejects.toMatchObject({ code: "insufficient_quota" });
  });

  describe("leases", () => {
    it("lets B take a generation over only once A stops renewing, and A not back while B's lease runs", async () => {
      const { ledgers, tenant: newTenant } = await open(["a", "b"]);
      const [a, b] = ledgers as [PostgresLedger, PostgresLedger];
      expect(a.leases?.leaseMs).toBe(leaseMs);
      const tenant = await newTenant("acme");
      const id = await a.reserve(request(tenant));

      // A renews for three lease lengths: B finds nothing to claim.
      const claimedByB: GenerationRecord[] = [];
      const started = Date.now();
      await vi.waitFor(
        async () => {
          await a.leases?.renew();
          claimedByB.push(...((await b.leases?.claimExpired(10)) ?? []));
          if (Date.now() - started < 3 * leaseMs) throw new Error("A is still renewing");
        },
        { timeout: 10_000, interval: 20 },
      );
      expect(claimedByB).toEqual([]);

      // A stops: once its lease has run out, B takes the generation.
      const taken = await vi.waitFor(
        async () => {
          const claimed = (await b.leases?.claimExpired(10)) ?? [];
          expect(claimed).toHaveLength(1);
          return claimed;
        },
        { timeout: 5_000, interval: 20 },
      );
      expect(taken).toEqual([
        expect.objectContaining({ id, state: "pending", tenantId: tenant.id }),
      ]);
      // B's lease now: A cannot claim it back, nor renew it as its own.
      await a.leases?.renew();
      expect(await a.leases?.claimExpired(10)).toEqual([]);
      expect(await b.leases?.claimExpired(10)).toEqual([]);

      // B does not renew: once its lease runs out, A may take it again.
      const back = await vi.waitFor(
        async () => {
          const claimed = (await a.leases?.claimExpired(10)) ?? [];
          expect(claimed).toHaveLength(1);
          return claimed;
        },
        { timeout: 5_000, interval: 20 },
      );
      expect(ids(back)).toEqual([id]);
    });

    it("never gives two replicas claiming at once the same generation", async () => {
      const { ledgers, tenant: newTenant } = await open(["dead", "b", "c"]);
      const [dead, b, c] = ledgers as [PostgresLedger, PostgresLedger, PostgresLedger];
      const tenant = await newTenant("acme");
      const reserved: string[] = [];
      for (let i = 0; i < 20; i++) reserved.push(await dead.reserve(request(tenant)));
      await dead.submitted(reserved[0] as string, "task-0", "ch_1");
      await dead.leases?.release();

      const [byB, byC] = await Promise.all([
        b.leases?.claimExpired(12) ?? [],
        c.leases?.claimExpired(12) ?? [],
      ]);
      expect(byB.length).toBeLessThanOrEqual(12);
      expect(byC.length).toBeLessThanOrEqual(12);
      const claimed = [...ids(byB), ...ids(byC)];
      expect(claimed).toHaveLength(20);
      expect(sorted(claimed)).toEqual(sorted(reserved));
      expect([...byB, ...byC].find((record) => record.id === reserved[0])).toMatchObject({
        state: "running",
        upstreamTaskId: "task-0",
        channelId: "ch_1",
      });
      // All taken, under fresh leases.
      expect(await b.leases?.claimExpired(20)).toEqual([]);
      expect(await c.leases?.claimExpired(20)).toEqual([]);
    });

    it("release() hands A's unfinished generations over at once, no one else's", async () => {
      const { ledgers, tenant: newTenant } = await open(["a", "b", "c"]);
      const [a, b, c] = ledgers as [PostgresLedger, PostgresLedger, PostgresLedger];
      const tenant = await newTenant("acme");
      const pending = await a.reserve(request(tenant));
      const running = await a.reserve(request(tenant));
      await a.submitted(running, "task-1", "ch_1");
      const done = await a.reserve(request(tenant));
      a.finished(done, succeeded(1));
      const ofB = await b.reserve(request(tenant));
      expect(await c.leases?.claimExpired(10)).toEqual([]);

      await a.leases?.release();
      const claimed = (await c.leases?.claimExpired(10)) ?? [];
      expect(sorted(ids(claimed))).toEqual(sorted([pending, running]));
      expect(claimed.find((record) => record.id === running)).toMatchObject({
        state: "running",
        upstreamTaskId: "task-1",
      });
      expect(sorted(ids(claimed))).not.toContain(ofB);
      expect(await b.leases?.claimExpired(10)).toEqual([]);
    });

    it("fences outcomes by the lease: a replica that lost it moves nothing, and its submit is refused", async () => {
      const { ledgers, tenant: newTenant } = await open(["a", "b"]);
      const [a, b] = ledgers as [PostgresLedger, PostgresLedger];
      const tenant = await newTenant("acme");
      const id = await a.reserve(request(tenant));
      await a.leases?.release();
      const claimed = await b.leases?.claimExpired(10);
      expect(claimed?.map((record) => record.id)).toEqual([id]);
      // A, which lost touch past its lease, comes back: nothing it writes lands.
      await expect(a.submitted(id, "task-late", "ch_1")).rejects.toBeInstanceOf(LeaseLost);
      a.finished(id, succeeded(1));
      await a.drain();
      expect(await b.get(id)).toMatchObject({ state: "pending", upstreamTaskId: null });
      // B, the owner now, settles it.
      b.finished(id, ended("unknown"));
      await b.drain();
      expect(await a.get(id)).toMatchObject({ state: "unknown" });
    });

    it("never claims a final generation, however old its lease", async () => {
      const { ledgers, tenant: newTenant } = await open(["a", "b"]);
      const [a, b] = ledgers as [PostgresLedger, PostgresLedger];
      const tenant = await newTenant("acme");
      const outcomes = [
        succeeded(1),
        ended("failed"),
        ended("refused"),
        ended("unknown"),
        ended("error"),
      ];
      for (const outcome of outcomes) {
        const id = await a.reserve(request(tenant));
        await a.submitted(id, `task-${id}`, "ch_1");
        a.finished(id, outcome);
      }
      await a.drain();
      // Reserved last: once its lease ran out, so had every final one's.
      const sentinel = await a.reserve(request(tenant));
      await a.leases?.release();

      const claimed = new Set<string>();
      await vi.waitFor(
        async () => {
          for (const record of (await b.leases?.claimExpired(10)) ?? []) claimed.add(record.id);
          expect(claimed).toContain(sentinel);
        },
        { timeout: 5_000, interval: 20 },
      );
      // And once more, after a whole lease length from the first claim.
      const started = Date.now();
      await vi.waitFor(
        async () => {
          for (const record of (await b.leases?.claimExpired(10)) ?? []) claimed.add(record.id);
          if (Date.now() - started < 2 * leaseMs) throw new Error("waiting a lease length");
        },
        { timeout: 5_000, interval: 20 },
      );
      expect([...claimed]).toEqual([sentinel]);
    });
  });

  describe("outcome notifications", () => {
    /** Until the listening connection of `owner`'s ledger has run its LISTEN. */
    async function listening(pool: Pool, schemaName: string, owner: string): Promise<void> {
      await vi.waitFor(
        async () => {
          const result = await pool.query<{ listening: number }>(
            `SELECT count(*)::int AS listening FROM pg_stat_activity
              WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %'`,
            [`${schemaName}_${owner}`],
          );
          expect(result.rows[0]?.listening).toBe(1);
        },
        { timeout: 5_000, interval: 20 },
      );
    }

    it("tells B of each generation A finished, once, and not of a write that changed nothing", async () => {
      const { ledgers, pools, schema, tenant: newTenant } = await open(["a", "b"]);
      const [a, b] = ledgers as [PostgresLedger, PostgresLedger];
      const tenant = await newTenant("acme");
      const heard: string[] = [];
      const unsubscribe = b.subscribe?.((id) => heard.push(id));
      expect(unsubscribe).toBeTypeOf("function");
      await listening(pools[0] as Pool, schema.name, "b");

      const first = await a.reserve(request(tenant));
      const second = await a.reserve(request(tenant));
      const third = await b.reserve(request(tenant));
      await a.submitted(first, "task-1", "ch_1");
      a.finished(first, succeeded(1));
      await vi.waitFor(() => expect(heard).toContain(first), { timeout: 5_000, interval: 10 });

      // No change, no notification: a second outcome for a final generation,
      // a reservation and a submit.
      a.finished(first, ended("failed"));
      await a.drain();
      const fourth = await a.reserve(request(tenant));
      await a.submitted(second, "task-2", "ch_1");
      // Then a change: it arrives after anything the writes above had sent.
      a.finished(second, ended("error"));
      await vi.waitFor(() => expect(heard).toContain(second), { timeout: 5_000, interval: 10 });
      expect(heard).toEqual([first, second]);
      expect(await a.get(first)).toMatchObject({ state: "succeeded", images: 1 });

      // B hears its own outcomes too (only the replica watching a generation may finish it).
      b.finished(third, ended("refused"));
      await vi.waitFor(() => expect(heard).toContain(third), { timeout: 5_000, interval: 10 });
      expect(heard).toEqual([first, second, third]);

      // Unsubscribed: no more calls, while another listener still hears.
      const alsoHeard: string[] = [];
      b.subscribe?.((id) => alsoHeard.push(id));
      unsubscribe?.();
      a.finished(fourth, succeeded(1));
      await vi.waitFor(() => expect(alsoHeard).toEqual([fourth]), { timeout: 5_000, interval: 10 });
      expect(heard).toEqual([first, second, third]);
    });
  });
});

describe.each(engines)("the $name records' listing for the operator", (engine) => {
  let store: Opened;
  beforeEach(async () => {
    store = await engine.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it("lists the newest first, by tenant and state, page after page, with the ready moment", async () => {
    const { ledger, clock } = store;
    const acme = await store.tenant("acme");
    const globex = await store.tenant("globex");
    const made: string[] = [];
    for (let index = 0; index < 5; index++) {
      // Two in the same millisecond: the id orders them.
      clock.set(day1 + Math.floor(index / 2) * 1000);
      const tenant = index % 2 === 0 ? acme : globex;
      const id = await ledger.reserve({ tenant, model: "m", requestedModel: "m", n: 1, plan });
      await ledger.reserved(id);
      made.push(id);
    }
    const [first, second] = made as [string, string];
    await ledger.submitted(first, "task-1");
    ledger.finished(first, { state: "succeeded", images: 1, readyAt: day1 + 500 });
    ledger.finished(second, { state: "failed", errorCode: "upstream_task_failed" });

    const newestFirst = [...made].sort((a, b) => {
      const at = (id: string) => Math.floor(made.indexOf(id) / 2);
      return at(b) - at(a) || (b < a ? -1 : 1);
    });
    expect(ids(await ledger.recent({ limit: 10 }))).toEqual(newestFirst);

    const page1 = await ledger.recent({ limit: 2 });
    const last = page1.at(-1) as GenerationRecord;
    const page2 = await ledger.recent({
      limit: 10,
      before: { createdAt: last.createdAt, id: last.id },
    });
    expect([...ids(page1), ...ids(page2)]).toEqual(newestFirst);

    expect(sorted(ids(await ledger.recent({ tenantId: acme.id, limit: 10 })))).toEqual(
      sorted([made[0], made[2], made[4]] as string[]),
    );
    expect(ids(await ledger.recent({ state: "failed", limit: 10 }))).toEqual([second]);
    const succeeded = await ledger.recent({ state: "succeeded", limit: 10 });
    expect(succeeded.map((record) => record.readyAt)).toEqual([day1 + 500]);
    expect((await ledger.get(second))?.readyAt).toBe(null);
  });
});
