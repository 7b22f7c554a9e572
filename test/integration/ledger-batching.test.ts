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
import { type GenerationRecords, utcDay } from "../../src/generation/record.js";
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
    const ids = [1, 2, 3].map(() =>
      ledger.reserve({ tenant: unlimited, model: "m", requestedModel: "m", n: 1 }),
    );
    // Not yet: the submits wait for reserved().
    for (const id of ids) expect(onDisk(id)).toBeUndefined();
    await Promise.all(ids.map((id) => ledger.reserved(id)));
    for (const id of ids) expect(onDisk(id)).toMatchObject({ state: "pending" });
  });

  it("commits a reservation with an Idempotency-Key at once (the unique index must see it)", () => {
    const id = reserve(1, { idempotencyKey: "key-now" });
    expect(onDisk(id)).toMatchObject({ state: "pending" });
    expect(() => reserve(1, { idempotencyKey: "key-now" })).toThrow(/UNIQUE/);
  });

  it("submitted() settles once the task id is on disk: only then may the task be announced (regression)", async () => {
    const id = reserve();
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
    const id = reserve();
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
    const first = reserve();
    await ledger.submitted(first, "task-1");
    ledger.finished(first, { state: "succeeded", images: 1 });
    expect(onDisk(first)).toMatchObject({ state: "running" });
    reserve(1, { idempotencyKey: "key-2" });
    expect(onDisk(first)).toMatchObject({ state: "succeeded", upstream_task_id: "task-1" });
  });

  // Each read, in the turn of a deferred write, must see it (flush on read).
  const reads: Array<[string, (id: string) => void]> = [
    ["get", (id) => expect(ledger.get(id)?.state).toBe("succeeded")],
    [
      "byIdempotencyKey",
      () => expect(ledger.byIdempotencyKey(tenant.id, "key-1")?.state).toBe("succeeded"),
    ],
    ["unfinished", () => expect(ledger.unfinished()).toEqual([])],
    [
      "joinableForRequest",
      // Delivered: no longer joinable.
      () =>
        expect(
          ledger.joinableForRequest(tenant.id, "hash-1", { createdSince: 0, finishedSince: 0 }),
        ).toEqual([]),
    ],
    [
      "report",
      () => {
        const today = utcDay(systemClock.now());
        expect(ledger.report(tenant.id, today, today).totals).toMatchObject({
          succeeded: 1,
          images: 1,
        });
      },
    ],
  ];
  it.each(reads)("%s reads the writes deferred in its own turn", (_name, read) => {
    const id = reserve(1, { requestHash: "hash-1", idempotencyKey: "key-1" });
    void ledger.submitted(id, "task-1");
    ledger.finished(id, { state: "succeeded", images: 1 });
    ledger.delivered(id);
    expect(onDisk(id)?.state).toBe("pending"); // the rest is still queued
    read(id);
  });

  it("imagesToday reads a refusal deferred in its own turn", () => {
    const id = reserve(3);
    ledger.finished(id, { state: "refused", errorCode: "refused" });
    expect(ledger.imagesToday(tenant.id)).toBe(0);
  });

  it("keeps the daily budget exact over many reservations in one turn", () => {
    const outcomes = Array.from({ length: 8 }, () => {
      try {
        return reserve();
      } catch (err) {
        return (err as { code?: string }).code;
      }
    });
    expect(outcomes.filter((o) => o === "insufficient_quota")).toHaveLength(3);
    expect(ledger.imagesToday(tenant.id)).toBe(5);
    // A refusal queued in this turn gives its image back to the very next reservation.
    const first = outcomes[0] as string;
    ledger.finished(first, { state: "refused", errorCode: "refused" });
    expect(() => reserve()).not.toThrow();
    expect(() => reserve()).toThrow(/budget/);
    const counted = other
      .prepare<[string], { used: number }>(
        "SELECT SUM(n) AS used FROM generations WHERE tenant_id = ? AND state <> 'refused'",
      )
      .get(tenant.id);
    expect(counted?.used).toBe(5);
  });
});
