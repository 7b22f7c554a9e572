// The usage ledger on the group commit (src/stores/sqlite/generation-records.ts): a reservation
// and a task id are committed with the others of their turn and awaited before
// the submit and the announcement they guard; a task's later writes are
// committed at the end of the turn; every read of the ledger sees every write
// before it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import {
  type GenerationRecords,
  IdempotencyKeyTaken,
  utcDay,
} from "../../src/generation/record.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import type { Tenant } from "../../src/tenancy/vault.js";

let dir: string;
let db: Db;
/** Another connection (another process, a restart): sees only what is committed. */
let other: Db;
let ledger: GenerationRecords;
const tenant = { id: "ten_batching", imagesPerDay: 5 } as Tenant;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-ledger-batching-"));
  db = openStore(dir);
  db.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?, 't', 0)").run(tenant.id);
  other = openStore(dir);
  ledger = createSqliteGenerationRecords(db, systemClock);
});
afterEach(async () => {
  other.close();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const reserve = (n = 1, extra: { requestHash?: string; idempotencyKey?: string } = {}) =>
  ledger.reserve({ tenant, model: "m", requestedModel: "m", n, ...extra });
const onDisk = (id: string) =>
  other
    .prepare<
      [string],
      { state: string; upstream_task_id: string | null; delivered_at: number | null }
    >("SELECT state, upstream_task_id, delivered_at FROM generations WHERE id = ?")
    .get(id);

describe("ledger on the group commit", () => {
  it("commits a reservation with the others of its turn; reserved() settles once it is on disk", async () => {
    const unlimited = { ...tenant, imagesPerDay: null };
    // Three reservations started in one turn, none awaited before the next.
    const pending = [1, 2, 3].map(() =>
      ledger.reserve({ tenant: unlimited, model: "m", requestedModel: "m", n: 1 }),
    );
    const ids = await Promise.all(pending);
    // Not yet: the submits wait for reserved().
    for (const id of ids) expect(onDisk(id)).toBeUndefined();
    await Promise.all(ids.map((id) => ledger.reserved(id)));
    for (const id of ids) expect(onDisk(id)).toMatchObject({ state: "pending" });
  });

  it("commits a reservation with an Idempotency-Key at once (the unique index must see it)", async () => {
    const id = await reserve(1, { idempotencyKey: "key-now" });
    expect(onDisk(id)).toMatchObject({ state: "pending" });
    await expect(reserve(1, { idempotencyKey: "key-now" })).rejects.toBeInstanceOf(
      IdempotencyKeyTaken,
    );
  });

  it("submitted() settles once the task id is on disk: only then may the task be announced (regression)", async () => {
    const id = await reserve();
    await ledger.reserved(id);
    const written = ledger.submitted(id, "task-1");
    expect(onDisk(id)).toMatchObject({ state: "pending", upstream_task_id: null });
    await written;
    expect(onDisk(id)).toEqual({
      state: "running",
      upstream_task_id: "task-1",
      delivered_at: null,
    });
  });

  it("commits finished and delivered at the end of the turn", async () => {
    const id = await reserve();
    await ledger.submitted(id, "task-1");
    ledger.finished(id, { state: "succeeded", images: 1 });
    ledger.delivered(id);
    expect(onDisk(id)).toEqual({
      state: "running",
      upstream_task_id: "task-1",
      delivered_at: null,
    });
    await nextTurn();
    expect(onDisk(id)).toMatchObject({ state: "succeeded", upstream_task_id: "task-1" });
    expect(onDisk(id)?.delivered_at).toEqual(expect.any(Number));
  });

  it("a write that must be on disk at once commits the writes queued before it", async () => {
    const first = await reserve();
    await ledger.submitted(first, "task-1");
    ledger.finished(first, { state: "succeeded", images: 1 });
    expect(onDisk(first)).toMatchObject({ state: "running" });
    await reserve(1, { idempotencyKey: "key-2" });
    expect(onDisk(first)).toMatchObject({ state: "succeeded", upstream_task_id: "task-1" });
  });

  // Each read, in the turn of a deferred write, must see it (flush on read).
  const reads: Array<[string, (id: string) => Promise<void>]> = [
    ["get", async (id) => expect((await ledger.get(id))?.state).toBe("succeeded")],
    [
      "byIdempotencyKey",
      async () =>
        expect((await ledger.byIdempotencyKey(tenant.id, "key-1"))?.state).toBe("succeeded"),
    ],
    ["unfinished", async () => expect(await ledger.unfinished()).toEqual([])],
    [
      "joinableForRequest",
      // Delivered: no longer joinable.
      async () =>
        expect(
          await ledger.joinableForRequest(tenant.id, "hash-1", {
            createdSince: 0,
            finishedSince: 0,
          }),
        ).toEqual([]),
    ],
    [
      "report",
      async () => {
        const today = utcDay(systemClock.now());
        expect((await ledger.report(tenant.id, today, today)).totals).toMatchObject({
          succeeded: 1,
          images: 1,
        });
      },
    ],
  ];
  it.each(reads)("%s reads the writes deferred in its own turn", async (_name, read) => {
    const id = await reserve(1, { requestHash: "hash-1", idempotencyKey: "key-1" });
    void ledger.submitted(id, "task-1");
    ledger.finished(id, { state: "succeeded", images: 1 });
    ledger.delivered(id);
    expect(onDisk(id)?.state).toBe("pending"); // the rest is still queued
    await read(id);
  });

  it("imagesToday reads a refusal deferred in its own turn", async () => {
    const id = await reserve(3);
    ledger.finished(id, { state: "refused", errorCode: "refused" });
    expect(await ledger.imagesToday(tenant.id)).toBe(0);
  });

  it("keeps the daily budget exact over many reservations in one turn", async () => {
    // All eight started before any is awaited.
    const started = Array.from({ length: 8 }, () => reserve());
    const outcomes = (await Promise.allSettled(started)).map((settled) =>
      settled.status === "fulfilled" ? settled.value : (settled.reason as { code?: string }).code,
    );
    expect(outcomes.filter((o) => o === "insufficient_quota")).toHaveLength(3);
    expect(await ledger.imagesToday(tenant.id)).toBe(5);
    // A refusal queued in this turn gives its image back to the very next reservation.
    const first = outcomes[0] as string;
    expect(first).toMatch(/^gen/);
    ledger.finished(first, { state: "refused", errorCode: "refused" });
    await expect(reserve()).resolves.toEqual(expect.any(String));
    await expect(reserve()).rejects.toThrow(/budget/);
    const counted = other
      .prepare<[string], { used: number }>(
        "SELECT SUM(n) AS used FROM generations WHERE tenant_id = ? AND state <> 'refused'",
      )
      .get(tenant.id);
    expect(counted?.used).toBe(5);
  });
});
