// The generation record's state machine (generation/record.ts), and the SQLite
// store holding to it: a write that would move a final record is a no-op.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import {
  type GenerationRecords,
  type GenerationState,
  predecessorsOf,
  transitions,
} from "../../src/generation/record.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import type { Tenant } from "../../src/tenancy/vault.js";

const finals: GenerationState[] = ["succeeded", "failed", "refused", "unknown", "error"];

describe("the state machine", () => {
  it("final states are never left", () => {
    for (const state of finals) expect(transitions[state]).toEqual([]);
  });

  it("every final state is reached from a reservation and from a submitted task", () => {
    for (const state of finals) {
      expect(predecessorsOf(state)).toEqual(["pending", "running"]);
    }
  });

  it("a task is submitted from its reservation, or again while a call fails over", () => {
    expect(predecessorsOf("running")).toEqual(["pending", "running"]);
    expect(predecessorsOf("pending")).toEqual([]);
  });
});

describe("the SQLite store keeps to it", () => {
  let dir: string;
  let db: Db;
  let records: GenerationRecords;
  const tenant = { id: "ten_states", imagesPerDay: null } as Tenant;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagegate-record-"));
    db = openStore(dir);
    db.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?, 't', 0)").run(tenant.id);
    records = createSqliteGenerationRecords(db, systemClock);
  });
  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const reserve = () => records.reserve({ tenant, model: "m", requestedModel: "m", n: 1 });

  it("moves pending → running → succeeded, then stays", async () => {
    const id = await reserve();
    await records.submitted(id, "task-1", "ch_a");
    expect(await records.get(id)).toMatchObject({ state: "running", channelId: "ch_a" });
    records.finished(id, { state: "succeeded", images: 1 });
    expect(await records.get(id)).toMatchObject({ state: "succeeded", images: 1 });
    // A late outcome, or a late task id, changes nothing.
    records.finished(id, { state: "error", errorCode: "late" });
    await records.submitted(id, "task-2", "ch_b");
    expect(await records.get(id)).toMatchObject({
      state: "succeeded",
      upstreamTaskId: "task-1",
      channelId: "ch_a",
      images: 1,
    });
  });

  it("a refused generation is final: no submit is ever recorded on it", async () => {
    const id = await reserve();
    records.finished(id, { state: "refused", errorCode: "upstream_rejected" });
    await records.submitted(id, "task-1", "ch_a");
    expect(await records.get(id)).toMatchObject({ state: "refused", upstreamTaskId: null });
  });

  it("a delivery is recorded even when it is committed before the succeeded outcome", async () => {
    const id = await reserve();
    records.delivered(id);
    records.finished(id, { state: "succeeded", images: 1 });
    const record = await records.get(id);
    expect(record?.state).toBe("succeeded");
    expect(record?.deliveredAt).not.toBeNull();
  });
});
