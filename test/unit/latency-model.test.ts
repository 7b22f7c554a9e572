// The learned latency model: how it moves the schedule's prior towards what
// the upstream really takes, how it persists (in the background, only what
// changed, never failing a request), and that it loads back from SQLite.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock, TimerHandle } from "../../src/clock.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { sqliteLatencyStore } from "../../src/stores/sqlite/latency.js";
import {
  createLatencyModel,
  type LatencyModel,
  type LatencyStats,
  type LatencyStore,
} from "../../src/upstream/latency-model.js";

interface Timer extends TimerHandle {
  at: number;
  fn: () => void;
}

/** Time moves only in advance(), which fires the timers that fall due. */
class ManualClock implements Clock {
  time = 1_000_000;
  readonly timers = new Set<Timer>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.time + ms, fn, unref() {} };
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as Timer);
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers.delete(due);
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
}

/** A store that records every save (copies: the model keeps mutating its rows). */
function memoryStore(initial: LatencyStats[] = []) {
  const saves: LatencyStats[][] = [];
  const store: LatencyStore & { saves: LatencyStats[][]; fail?: Error } = {
    saves,
    load: async () => initial,
    async save(rows) {
      if (store.fail) throw store.fail;
      saves.push(rows.map((row) => ({ ...row })));
    },
  };
  return store;
}

/** One event-loop turn: a write the model started (from its timer) has settled. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

const expectedMs = 10_000;
/** Before anything is learned the window is the catalogue's figure give or take 2.5×. */
const initialFactor = 2.5;

const ratio = (prior: { lowMs: number; highMs: number }) => prior.highMs / prior.lowMs;

describe("latency model: the prior", () => {
  it("starts at the catalogue's expectation, give or take 2.5×, for any model", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    const prior = model.prior("gpt-image-2", expectedMs);
    expect(prior.lowMs).toBeCloseTo(expectedMs / initialFactor, 6);
    expect(prior.highMs).toBeCloseTo(expectedMs * initialFactor, 6);
    // It scales with the expectation (the catalogue gives the shape).
    const big = model.prior("gpt-image-2", 4 * expectedMs);
    expect(big.lowMs).toBeCloseTo(4 * prior.lowMs, 6);
    expect(big.highMs).toBeCloseTo(4 * prior.highMs, 6);
    expect(model.stats("gpt-image-2")).toBeUndefined();
  });

  it("converges on an upstream that takes twice the catalogue's figure", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    for (let i = 0; i < 200; i++) model.observe("gpt-image-2", expectedMs, 2 * expectedMs);
    const stats = model.stats("gpt-image-2") as LatencyStats;
    expect(stats.samples).toBe(200);
    expect(stats.meanLog).toBeCloseTo(Math.log(2), 2);
    const prior = model.prior("gpt-image-2", expectedMs);
    // Centred on 2× (geometrically), and narrow: every sample agreed.
    expect(Math.sqrt(prior.lowMs * prior.highMs)).toBeCloseTo(2 * expectedMs, -2);
    expect(ratio(prior)).toBeLessThan(1.2);
  });

  it("follows an upstream that changes, forgetting the old figure", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    for (let i = 0; i < 100; i++) model.observe("nano-banana", expectedMs, expectedMs);
    for (let i = 0; i < 300; i++) model.observe("nano-banana", expectedMs, 3 * expectedMs);
    // A plain average of all 400 would sit at ¾ ln 3; a bounded memory forgets the first 100.
    expect(model.stats("nano-banana")?.meanLog).toBeCloseTo(Math.log(3), 2);
    const prior = model.prior("nano-banana", expectedMs);
    expect(prior.lowMs).toBeLessThan(3 * expectedMs);
    expect(prior.highMs).toBeGreaterThan(3 * expectedMs);
  });

  it("narrows the window as consistent samples accumulate, and keeps them inside it", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    // 1.3× to 1.7× the expectation, in a fixed pattern.
    const samples = [1.5, 1.3, 1.7, 1.4, 1.6].map((f) => f * expectedMs);
    const ratios = [ratio(model.prior("grok-imagine-image", expectedMs))];
    for (let round = 0; round < 20; round++) {
      for (const sample of samples) model.observe("grok-imagine-image", expectedMs, sample);
      ratios.push(ratio(model.prior("grok-imagine-image", expectedMs)));
    }
    for (let i = 1; i < ratios.length; i++) expect(ratios[i]).toBeLessThan(ratios[i - 1] as number);
    expect(ratios[0]).toBeCloseTo(initialFactor ** 2, 6);
    expect(ratios[ratios.length - 1]).toBeLessThan(1.6);
    const prior = model.prior("grok-imagine-image", expectedMs);
    for (const sample of samples) {
      expect(sample).toBeGreaterThan(prior.lowMs);
      expect(sample).toBeLessThan(prior.highMs);
    }
  });

  it("keeps models apart", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    for (let i = 0; i < 50; i++) model.observe("gpt-image-2", expectedMs, 3 * expectedMs);
    const other = model.prior("nano-banana-pro", expectedMs);
    expect(other.lowMs).toBeCloseTo(expectedMs / initialFactor, 6);
    expect(other.highMs).toBeCloseTo(expectedMs * initialFactor, 6);
    expect(model.stats("nano-banana-pro")).toBeUndefined();
    for (let i = 0; i < 50; i++) model.observe("nano-banana-pro", expectedMs, expectedMs / 2);
    expect(model.stats("gpt-image-2")?.meanLog).toBeGreaterThan(0.9);
    expect(model.stats("nano-banana-pro")?.meanLog).toBeLessThan(-0.6);
  });

  it.each([
    { why: "a round trip, not a generation (under 50 ms)", observedMs: 49, expected: expectedMs },
    { why: "zero", observedMs: 0, expected: expectedMs },
    { why: "negative", observedMs: -5_000, expected: expectedMs },
    { why: "NaN", observedMs: Number.NaN, expected: expectedMs },
    { why: "infinite", observedMs: Number.POSITIVE_INFINITY, expected: expectedMs },
    { why: "negative infinity", observedMs: Number.NEGATIVE_INFINITY, expected: expectedMs },
    { why: "no expectation", observedMs: 5_000, expected: 0 },
    { why: "a negative expectation", observedMs: 5_000, expected: -1 },
    { why: "a NaN expectation", observedMs: 5_000, expected: Number.NaN },
    { why: "an infinite expectation", observedMs: 5_000, expected: Number.POSITIVE_INFINITY },
    {
      why: "infinite, against an infinite expectation",
      observedMs: Number.POSITIVE_INFINITY,
      expected: Number.POSITIVE_INFINITY,
    },
    { why: "NaN, against a NaN expectation", observedMs: Number.NaN, expected: Number.NaN },
  ])("ignores an observation that is $why", async ({ observedMs, expected }) => {
    const store = memoryStore();
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock });
    model.observe("gpt-image-2", expected, observedMs);
    expect(model.stats("gpt-image-2")).toBeUndefined();
    expect(clock.timers.size).toBe(0);
    await model.flush();
    expect(store.saves).toEqual([]);
    // The prior is still the catalogue's, and finite.
    const prior = model.prior("gpt-image-2", expectedMs);
    expect(prior.lowMs).toBeCloseTo(expectedMs / initialFactor, 6);
    expect(prior.highMs).toBeCloseTo(expectedMs * initialFactor, 6);
  });

  it("keeps what it learned, and a finite prior, through Infinity and NaN observations", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    for (let i = 0; i < 20; i++) model.observe("gpt-image-2", expectedMs, 2 * expectedMs);
    const learned = model.stats("gpt-image-2");
    const before = model.prior("gpt-image-2", expectedMs);
    for (const [expected, observed] of [
      [expectedMs, Number.POSITIVE_INFINITY],
      [expectedMs, Number.NaN],
      [Number.POSITIVE_INFINITY, 2 * expectedMs],
      [Number.NaN, 2 * expectedMs],
      [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY],
    ] as const) {
      model.observe("gpt-image-2", expected, observed);
    }
    expect(model.stats("gpt-image-2")).toEqual(learned);
    const after = model.prior("gpt-image-2", expectedMs);
    expect(after).toEqual(before);
    expect(Number.isFinite(after.lowMs)).toBe(true);
    expect(Number.isFinite(after.highMs)).toBe(true);
    expect(after.lowMs).toBeGreaterThan(0);
    expect(after.lowMs).toBeLessThan(after.highMs);
  });

  it("learns from 50 ms on", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    model.observe("gpt-image-2", expectedMs, 50);
    expect(model.stats("gpt-image-2")?.samples).toBe(1);
  });

  it("hands out copies of its figures", () => {
    const model = createLatencyModel({ clock: new ManualClock() });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    const stats = model.stats("gpt-image-2") as LatencyStats;
    stats.meanLog = 5;
    expect(model.stats("gpt-image-2")?.meanLog).toBe(0);
  });
});

describe("latency model: persistence", () => {
  it("writes in the background: one timer per batch, nothing before it fires", async () => {
    const store = memoryStore();
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock, flushEveryMs: 5_000 });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    model.observe("gpt-image-2", expectedMs, expectedMs);
    model.observe("nano-banana", expectedMs, expectedMs);
    expect(clock.timers.size).toBe(1);
    clock.advance(4_999);
    await settled();
    expect(store.saves).toEqual([]);
    clock.advance(1);
    await settled();
    expect(store.saves).toHaveLength(1);
    expect(store.saves[0]?.map((row) => [row.model, row.samples])).toEqual([
      ["gpt-image-2", 2],
      ["nano-banana", 1],
    ]);
    expect(clock.timers.size).toBe(0);
    // Nothing changed since: the next timer is armed by the next change only.
    clock.advance(60_000);
    await settled();
    expect(store.saves).toHaveLength(1);
  });

  it("writes only the rows that changed since the last write", async () => {
    const store = memoryStore();
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    model.observe("nano-banana", expectedMs, expectedMs);
    await model.flush();
    model.observe("nano-banana", expectedMs, 2 * expectedMs);
    clock.advance(30_000); // the default interval
    await settled();
    expect(store.saves.map((rows) => rows.map((row) => row.model))).toEqual([
      ["gpt-image-2", "nano-banana"],
      ["nano-banana"],
    ]);
    expect(store.saves[1]?.[0]).toEqual(model.stats("nano-banana"));
  });

  it("flush() writes at once and disarms the timer; flush() with nothing new writes nothing", async () => {
    const store = memoryStore();
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    const written = model.flush();
    expect(clock.timers.size).toBe(0);
    await written;
    expect(store.saves).toHaveLength(1);
    await model.flush();
    clock.advance(60_000);
    await settled();
    expect(store.saves).toHaveLength(1);
  });

  it("close() writes what is pending", async () => {
    const store = memoryStore();
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    await model.close();
    expect(store.saves).toHaveLength(1);
    expect(clock.timers.size).toBe(0);
  });

  it("without a store, arms no timer", async () => {
    const clock = new ManualClock();
    const model = createLatencyModel({ clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    expect(clock.timers.size).toBe(0);
    await model.close();
  });

  it("reports a failed write to onError and never throws, from the timer or from flush()", async () => {
    const store = memoryStore();
    store.fail = new Error("SQLITE_BUSY");
    const clock = new ManualClock();
    const errors: unknown[] = [];
    const model = createLatencyModel({ store, clock, onError: (err) => errors.push(err) });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    expect(() => clock.advance(30_000)).not.toThrow();
    await settled();
    expect(errors).toEqual([store.fail]);
    model.observe("gpt-image-2", expectedMs, expectedMs);
    // Settles (never rejects) once the failure is reported.
    await model.flush();
    expect(errors).toHaveLength(2);
    // Learning goes on in memory, and the next write carries it.
    store.fail = undefined;
    model.observe("gpt-image-2", expectedMs, expectedMs);
    await model.flush();
    expect(store.saves[0]?.[0]?.samples).toBe(3);
  });

  it("never throws on a failed write even without onError", async () => {
    const store = memoryStore();
    store.fail = new Error("disk full");
    const clock = new ManualClock();
    const model = createLatencyModel({ store, clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    expect(() => clock.advance(30_000)).not.toThrow();
    await settled();
    await model.close();
  });

  it("reports a failed load to onError and starts from the catalogue's figures", async () => {
    const failure = new Error("SQLITE_CORRUPT");
    const store = memoryStore();
    store.load = async () => {
      throw failure;
    };
    const clock = new ManualClock();
    const errors: unknown[] = [];
    let model: LatencyModel | undefined;
    expect(() => {
      model = createLatencyModel({ store, clock, onError: (err) => errors.push(err) });
    }).not.toThrow();
    const started = model as LatencyModel;
    await started.loaded();
    expect(errors).toEqual([failure]);
    expect(started.stats("gpt-image-2")).toBeUndefined();
    const prior = started.prior("gpt-image-2", expectedMs);
    expect(prior.lowMs).toBeCloseTo(expectedMs / initialFactor, 6);
    expect(prior.highMs).toBeCloseTo(expectedMs * initialFactor, 6);
    // It learns, and writes, as usual.
    started.observe("gpt-image-2", expectedMs, 2 * expectedMs);
    await started.flush();
    expect(store.saves.map((rows) => rows.map((row) => [row.model, row.samples]))).toEqual([
      [["gpt-image-2", 1]],
    ]);
    expect(errors).toHaveLength(1);
  });

  it("never throws on a failed load even without onError", async () => {
    const store = memoryStore();
    store.load = async () => {
      throw new Error("no such table");
    };
    const clock = new ManualClock();
    expect(() => createLatencyModel({ store, clock })).not.toThrow();
    const model = createLatencyModel({ store, clock });
    await model.loaded();
    const prior = model.prior("nano-banana", expectedMs);
    expect(prior.lowMs).toBeCloseTo(expectedMs / initialFactor, 6);
  });

  it("starts from the rows the store holds", async () => {
    const row: LatencyStats = {
      model: "gpt-image-2",
      samples: 80,
      meanLog: Math.log(2),
      varLog: 0.01,
    };
    const model = createLatencyModel({ store: memoryStore([row]), clock: new ManualClock() });
    await model.loaded();
    expect(model.stats("gpt-image-2")).toEqual(row);
    const prior = model.prior("gpt-image-2", expectedMs);
    expect(prior.lowMs).toBeCloseTo(2 * expectedMs * Math.exp(-1.645 * 0.1), 6);
    expect(prior.highMs).toBeCloseTo(2 * expectedMs * Math.exp(1.645 * 0.1), 6);
  });
});

describe("latency model: SQLite store", () => {
  let dir: string | undefined;
  const dbs: Db[] = [];

  afterEach(() => {
    for (const db of dbs.splice(0)) db.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function open(): Db {
    dir ??= mkdtempSync(join(tmpdir(), "imagegate-latency-"));
    const db = openStore(dir);
    dbs.push(db);
    return db;
  }

  it("loads at start what an earlier process learned, per model", async () => {
    const clock = new ManualClock();
    const first = open();
    const learned = createLatencyModel({
      store: sqliteLatencyStore(first, () => clock.now()),
      clock,
    });
    for (let i = 0; i < 30; i++) learned.observe("gpt-image-2", expectedMs, 2 * expectedMs);
    for (let i = 0; i < 10; i++) learned.observe("nano-banana", 8_000, 4_000);
    await learned.close();
    first.close();
    dbs.splice(0);

    const second = open();
    const restarted = createLatencyModel({
      store: sqliteLatencyStore(second, () => clock.now()),
      clock,
    });
    await restarted.loaded();
    for (const model of ["gpt-image-2", "nano-banana"]) {
      expect(restarted.stats(model)).toEqual(learned.stats(model));
      expect(restarted.prior(model, expectedMs)).toEqual(learned.prior(model, expectedMs));
    }
    expect(restarted.stats("nano-banana-pro")).toBeUndefined();
  });

  it("updates a model's row in place, with the write time", async () => {
    const clock = new ManualClock();
    const db = open();
    const model = createLatencyModel({ store: sqliteLatencyStore(db, () => clock.now()), clock });
    model.observe("gpt-image-2", expectedMs, expectedMs);
    await model.flush();
    clock.advance(5_000);
    model.observe("gpt-image-2", expectedMs, expectedMs);
    await model.flush();
    const rows = db.prepare("SELECT model, samples, updated_at FROM model_latency").all();
    expect(rows).toEqual([{ model: "gpt-image-2", samples: 2, updated_at: clock.now() }]);
  });
});
