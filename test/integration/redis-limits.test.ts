// The limits replicas share on a real Redis (stores/redis/): concurrency slots
// and tenants' upload shares, each "replica" a client and a lease keeper of its
// own on one key prefix. IMAGEGATE_TEST_REDIS_URL points the tests at another
// server; each test works under a random prefix and deletes its keys after.
import { Redis as IORedis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRedisConcurrencyGate } from "../../src/stores/redis/concurrency-gate.js";
import { openRedis, type Redis } from "../../src/stores/redis/connection.js";
import { createLeasedMembers, type LeasedMembers } from "../../src/stores/redis/leased-members.js";
import { createRedisUploadShares } from "../../src/stores/redis/upload-shares.js";
import type { ConcurrencyGate } from "../../src/tenancy/limits.js";
import { createUploadBudget, type UploadBudget } from "../../src/tenancy/upload-budget.js";
import { dropPrefix, freshPrefix, testRedisUrl } from "../helpers/redis.js";

const redisUrl = testRedisUrl;

interface Replica {
  redis: Redis;
  leases: LeasedMembers;
  gate: ConcurrencyGate;
  budget(options: { totalBytes: number; perTenantBytes: number }): UploadBudget;
  /** Lease/release errors reported by the lease keeper. */
  errors: unknown[];
}

let prefix = "";
let replicas: Replica[] = [];
let clients: Redis[] = [];

async function client(): Promise<Redis> {
  const redis = await openRedis(redisUrl);
  clients.push(redis);
  return redis;
}

async function replica(leaseMs = 30_000): Promise<Replica> {
  const redis = await client();
  const errors: unknown[] = [];
  const leases = createLeasedMembers({ redis, leaseMs, onError: (err) => errors.push(err) });
  const shares = createRedisUploadShares({ redis, prefix, leases });
  const made: Replica = {
    redis,
    leases,
    errors,
    gate: createRedisConcurrencyGate({ redis, prefix, leases }),
    budget: (options) => createUploadBudget({ ...options, shares }),
  };
  replicas.push(made);
  return made;
}

/** Takes a slot on `gate` or throws (for vi.waitFor). */
async function slot(gate: ConcurrencyGate, tenantId: string, max: number | null) {
  const release = await gate.tryAcquire(tenantId, max);
  if (release === undefined) throw new Error("no slot free");
  return release;
}

/** Fulfilled values and rejection reasons, in order. */
function split<T>(settled: PromiseSettledResult<T>[]) {
  const values: T[] = [];
  const reasons: unknown[] = [];
  for (const result of settled) {
    if (result.status === "fulfilled") values.push(result.value);
    else reasons.push(result.reason);
  }
  return { values, reasons };
}

function newPrefix() {
  prefix = freshPrefix();
}
newPrefix();

afterEach(async () => {
  try {
    // Stops every renewal; gives back what a connected replica holds.
    await Promise.all(replicas.map((r) => r.leases.close()));
    const admin = await openRedis(redisUrl);
    try {
      await dropPrefix(prefix, admin);
    } finally {
      admin.disconnect();
    }
  } finally {
    for (const redis of clients) redis.disconnect();
    replicas = [];
    clients = [];
    newPrefix();
  }
});

describe("redis: concurrency slots shared by replicas", () => {
  it("admits exactly max across two replicas taking at once; a release is seen by the other", async () => {
    const a = await replica();
    const b = await replica();
    const attempts = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b));
    const settled = await Promise.allSettled(attempts.map((r) => r.gate.acquire("acme", 3)));
    const { values: releases, reasons } = split(settled);
    expect(releases).toHaveLength(3);
    expect(reasons).toHaveLength(7);
    for (const reason of reasons) {
      expect(reason).toMatchObject({ code: "concurrency_limit_exceeded", status: 429 });
      expect((reason as { headers: Record<string, string> }).headers["retry-after"]).toBe("1");
    }
    const firstTaken = settled.findIndex((result) => result.status === "fulfilled");
    const holder = attempts[firstTaken] as Replica;
    const otherReplica = holder === a ? b : a;
    expect(await a.gate.inFlight("acme")).toBe(3);
    expect(await b.gate.inFlight("acme")).toBe(3);

    // At max: tryAcquire refuses without an error, on either replica.
    expect(await a.gate.tryAcquire("acme", 3)).toBeUndefined();
    expect(await b.gate.tryAcquire("acme", 3)).toBeUndefined();
    // Another tenant has slots of its own.
    const other = await a.gate.acquire("other", 3);

    // A release on the replica that took the slot frees it for the other.
    releases[0]?.();
    const taken = await vi.waitFor(() => slot(otherReplica.gate, "acme", 3), { timeout: 2_000 });
    expect(await holder.gate.inFlight("acme")).toBe(3);
    expect(await holder.gate.tryAcquire("acme", 3)).toBeUndefined();
    await expect(otherReplica.gate.acquire("acme", 3)).rejects.toMatchObject({
      code: "concurrency_limit_exceeded",
    });
    taken();
    other();
  });

  it("a null max is never refused but counted; a release is idempotent", async () => {
    const a = await replica();
    const b = await replica();
    const held = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).gate.acquire("free", null)),
    );
    expect(await a.gate.inFlight("free")).toBe(6);
    const extra = await b.gate.tryAcquire("free", null);
    expect(extra).toBeTypeOf("function");
    expect(await b.gate.inFlight("free")).toBe(7);

    // Released twice: one slot given back, not two. (A release is sent on its
    // replica's connection, ahead of what that replica asks next.)
    const [first, second] = held as [() => void, () => void];
    first();
    first();
    expect(await a.gate.inFlight("free")).toBe(6);
    second(); // taken on b
    second();
    expect(await b.gate.inFlight("free")).toBe(5);
    extra?.();
    expect(await b.gate.inFlight("free")).toBe(4);

    // The counted slots still count against a max.
    await expect(a.gate.acquire("free", 4)).rejects.toMatchObject({
      code: "concurrency_limit_exceeded",
    });
    expect(await a.gate.tryAcquire("free", 5)).toBeTypeOf("function");
  });

  it("leases.close() gives back every slot the replica holds", async () => {
    const a = await replica();
    const b = await replica();
    for (let i = 0; i < 2; i++) await a.gate.acquire("acme", 2);
    await a.gate.acquire("beta", 1);
    await a.gate.acquire("gamma", null);
    expect(await b.gate.tryAcquire("acme", 2)).toBeUndefined();
    expect(await b.gate.tryAcquire("beta", 1)).toBeUndefined();

    await a.leases.close();
    expect(await a.gate.inFlight("acme")).toBe(0);
    expect(await b.gate.inFlight("beta")).toBe(0);
    expect(await b.gate.inFlight("gamma")).toBe(0);
    expect(await b.gate.tryAcquire("acme", 2)).toBeTypeOf("function");
    expect(await b.gate.tryAcquire("beta", 1)).toBeTypeOf("function");
  });

  it("a dead replica's slots free themselves when their lease ends, not before", async () => {
    const leaseMs = 1_500;
    const a = await replica(leaseMs);
    const b = await replica(leaseMs);
    await a.gate.acquire("acme", 2);
    await a.gate.acquire("acme", 2);
    const lastTake = Date.now();
    // A dies: no more renewals, and nothing given back.
    a.redis.disconnect();
    await expect(b.gate.acquire("acme", 2)).rejects.toMatchObject({
      code: "concurrency_limit_exceeded",
    });
    expect(await b.gate.inFlight("acme")).toBe(2);

    const taken = await vi.waitFor(() => slot(b.gate, "acme", 2), {
      timeout: leaseMs * 4,
      interval: 50,
    });
    // Redis's clock decides; the two clocks are the same machine's.
    expect(Date.now() - lastTake).toBeGreaterThanOrEqual(leaseMs - 100);
    expect(taken).toBeTypeOf("function");
    expect(await b.gate.tryAcquire("acme", 2)).toBeTypeOf("function");
    expect(await b.gate.tryAcquire("acme", 2)).toBeUndefined();
  });

  // A live replica renews its slots: the other stays refused for as long as
  // it holds them, across several leases.
  async function staysRefusedWhileRenewed(leaseMs: number) {
    const a = await replica(leaseMs);
    const b = await replica(leaseMs);
    const held = await a.gate.acquire("acme", 1);
    const start = Date.now();
    const until = start + leaseMs * 3.5;
    let stolenAfterMs: number | undefined;
    await vi.waitFor(
      async () => {
        if (stolenAfterMs === undefined) {
          const stolen = await b.gate.tryAcquire("acme", 1);
          if (stolen !== undefined) {
            stolenAfterMs = Date.now() - start;
            stolen();
            return;
          }
        }
        if (Date.now() < until) throw new Error("still watching");
      },
      { timeout: leaseMs * 6, interval: 25 },
    );
    // B never took the slot A holds and renews.
    expect(stolenAfterMs).toBeUndefined();
    expect(a.errors).toEqual([]);
    held();
    await vi.waitFor(() => slot(b.gate, "acme", 1), { timeout: 2_000 });
  }

  it("a live replica keeps its slots across several leases (lease 1.5 s)", async () => {
    await staysRefusedWhileRenewed(1_500);
  });

  it("a live replica keeps its slots across several leases (lease 300 ms)", async () => {
    await staysRefusedWhileRenewed(300);
  });
});

describe("redis: tenants' upload shares across replicas", () => {
  it("caps a tenant's share across replicas; force, release, other tenants", async () => {
    const a = (await replica()).budget({ totalBytes: 10_000, perTenantBytes: 100 });
    const b = (await replica()).budget({ totalBytes: 10_000, perTenantBytes: 100 });

    const sixty = await a.reserve("acme", 60);
    await expect(b.reserve("acme", 50)).rejects.toMatchObject({
      code: "upload_limit_exceeded",
      status: 429,
      headers: { "retry-after": "2" },
    });
    // The refused request holds nothing, here or in Redis.
    expect(b.inFlight()).toBe(0);
    const forty = await b.reserve("acme", 40);
    await expect(a.reserve("acme", 1)).rejects.toMatchObject({ code: "upload_limit_exceeded" });

    // Bytes already received are recorded whatever the share says.
    const forced = await b.reserve("acme", 500, { force: true });
    expect(b.inFlight()).toBe(540);
    forced();
    forced();
    expect(b.inFlight()).toBe(40);

    // Another tenant is not held back by acme's share.
    const other = await b.reserve("other", 100);
    other();

    // A release on one replica frees the share for the other.
    sixty();
    sixty();
    expect(a.inFlight()).toBe(0);
    const fifty = await vi.waitFor(() => b.reserve("acme", 50), { timeout: 2_000 });
    await expect(a.reserve("acme", 11)).rejects.toMatchObject({ code: "upload_limit_exceeded" });
    const ten = await a.reserve("acme", 10);
    ten();
    fifty();
    forty();
  });

  it("a tenant holding nothing may take one upload larger than its share, and nothing beside it", async () => {
    const a = (await replica()).budget({ totalBytes: 10_000, perTenantBytes: 100 });
    const b = (await replica()).budget({ totalBytes: 10_000, perTenantBytes: 100 });
    const big = await a.reserve("acme", 150);
    await expect(b.reserve("acme", 1)).rejects.toMatchObject({ code: "upload_limit_exceeded" });
    await expect(a.reserve("acme", 1)).rejects.toMatchObject({ code: "upload_limit_exceeded" });
    big();
    await vi.waitFor(async () => (await b.reserve("acme", 150))(), { timeout: 2_000 });
  });

  it("the total stays each process's own: 503 server_busy even where Redis has room", async () => {
    const one = await replica();
    const two = await replica();
    const small = one.budget({ totalBytes: 100, perTenantBytes: 1_000 });
    const other = two.budget({ totalBytes: 100, perTenantBytes: 1_000 });

    const first = await small.reserve("acme", 80);
    await expect(small.reserve("beta", 30)).rejects.toMatchObject({
      code: "server_busy",
      status: 503,
      headers: { "retry-after": "2" },
    });
    expect(small.inFlight()).toBe(80);
    // The refused request's share went back to Redis.
    await vi.waitFor(async () => expect(await one.redis.zcard(`${prefix}uploads:beta`)).toBe(0), {
      timeout: 2_000,
    });
    // The other process has its own total: the same request fits there.
    const there = await other.reserve("beta", 30);
    expect(other.inFlight()).toBe(30);
    // An idle process takes one upload larger than its total.
    const huge = await two.budget({ totalBytes: 100, perTenantBytes: 1_000 }).reserve("gamma", 500);
    huge();
    there();
    first();
  });
});

describe("redis away", () => {
  it("the gate and the upload shares answer 503 dependency_unavailable with retry-after", async () => {
    const a = await replica();
    const budget = a.budget({ totalBytes: 10_000, perTenantBytes: 100 });
    a.redis.disconnect();
    const expected = {
      code: "dependency_unavailable",
      status: 503,
      headers: { "retry-after": "2" },
    };
    await expect(a.gate.acquire("acme", 1)).rejects.toMatchObject(expected);
    await expect(a.gate.acquire("acme", null)).rejects.toMatchObject(expected);
    await expect(a.gate.tryAcquire("acme", 1)).rejects.toMatchObject(expected);
    await expect(a.gate.inFlight("acme")).rejects.toMatchObject(expected);
    await expect(budget.reserve("acme", 10)).rejects.toMatchObject(expected);
    expect(budget.inFlight()).toBe(0);
  });

  it("a client whose server is gone (connection refused, reconnecting) answers 503 at once", async () => {
    // A port nothing listens on: a server that went away while the client runs.
    const closed = new IORedis("redis://127.0.0.1:1", {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    closed.on("error", () => {});
    clients.push(closed);
    closed.connect().catch(() => {});
    const leases = createLeasedMembers({ redis: closed, leaseMs: 1_000 });
    const gate = createRedisConcurrencyGate({ redis: closed, prefix, leases });
    await expect(gate.acquire("acme", 1)).rejects.toMatchObject({
      code: "dependency_unavailable",
      status: 503,
      headers: { "retry-after": "2" },
    });
    await leases.close();
  });
});
