// The poller against a manual clock and a scripted upstream: time only moves
// when a test moves it, and every timer and read is counted.
import { afterEach, describe, expect, it } from "vitest";
import type { Clock, TimerHandle } from "../../src/clock.js";
import { UpstreamError } from "../../src/upstream/client.js";
import {
  createPoller,
  type Poller,
  type PollerOptions,
  TaskWaitError,
  type WatchRequest,
} from "../../src/upstream/poller.js";
import type { TaskSnapshot } from "../../src/upstream/status.js";

/** Lets every pending promise callback run (a macrotask boundary). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface ManualTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock whose time moves only in advance(); counts timers. */
class ManualClock implements Clock {
  time = 1_000_000;
  setTimeoutCalls = 0;
  maxPendingTimers = 0;
  private seq = 0;
  private readonly timers = new Set<ManualTimer>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.setTimeoutCalls++;
    const timer: ManualTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, unref() {} };
    this.timers.add(timer);
    this.maxPendingTimers = Math.max(this.maxPendingTimers, this.timers.size);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as ManualTimer);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Fires due timers in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await flush();
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.timers) {
        if (
          timer.at <= end &&
          (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))
        ) {
          next = timer;
        }
      }
      if (!next) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

const pending = (progress?: number): TaskSnapshot => ({
  state: "pending",
  rawStatus: "IN_PROGRESS",
  progress,
  resultCount: 0,
  failReason: undefined,
});
const succeeded: TaskSnapshot = {
  state: "succeeded",
  rawStatus: "SUCCESS",
  progress: 1,
  resultCount: 2,
  failReason: undefined,
};
const failed: TaskSnapshot = {
  state: "failed",
  rawStatus: "FAILURE",
  progress: undefined,
  resultCount: 0,
  failReason: "content policy",
};

type Answer = TaskSnapshot | Error;

interface ReadLog {
  taskId: string;
  credential: string;
  at: number;
}

/**
 * A scripted upstream: each task answers from its script in order (the last
 * answer repeats), or from a function of the clock.
 */
function fakeUpstream(clock: ManualClock) {
  const scripts = new Map<string, Answer[] | ((now: number) => Answer)>();
  const log: ReadLog[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    read(credential: string, taskId: string): Promise<TaskSnapshot> {
      log.push({ taskId, credential, at: clock.now() });
      const script = scripts.get(taskId);
      let answer: Answer;
      if (typeof script === "function") answer = script(clock.now());
      else if (script && script.length > 0)
        answer = (script.length > 1 ? script.shift() : script[0]) as Answer;
      else answer = new Error(`no script for ${taskId}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return Promise.resolve().then(() => {
        inFlight--;
        if (answer instanceof Error) throw answer;
        return answer;
      });
    },
  };
  return {
    client,
    log,
    script(taskId: string, answers: Answer[] | ((now: number) => Answer)) {
      scripts.set(taskId, answers);
    },
    readsOf: (taskId: string) => log.filter((r) => r.taskId === taskId).map((r) => r.at),
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Captures a promise's outcome without leaving it unhandled. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

const notExist = () =>
  new UpstreamError("task_not_exist", "upstream does not know task", { status: 400 });
const transient = (retryAfterMs?: number) =>
  new UpstreamError("transient", "upstream answered HTTP 502", {
    status: 502,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

/** Read times (ms after the watch) against the schedule's, which divides by fractions. */
function expectTimes(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((time, i) => {
    expect(actual[i]).toBeCloseTo(time, 6);
  });
}

let clock: ManualClock;
let upstream: ReturnType<typeof fakeUpstream>;
let poller: Poller | undefined;

function setup(options: Partial<Omit<PollerOptions, "clock">> = {}): Poller {
  clock = new ManualClock();
  upstream = fakeUpstream(clock);
  poller = createPoller({ client: upstream.client, clock, ...options });
  return poller;
}

function request(taskId: string, overrides: Partial<WatchRequest> = {}): WatchRequest {
  return {
    credential: "sk-upstream",
    taskId,
    submittedAt: clock.now(),
    expectedMs: 20_000,
    deadline: clock.now() + 600_000,
    ...overrides,
  };
}

afterEach(() => {
  poller?.close();
  poller = undefined;
});

describe("poller: reading", () => {
  it("reads a task at once, with its credential", async () => {
    const p = setup();
    upstream.script("t1", [succeeded]);
    const start = clock.now();
    const result = track(p.watch(request("t1")));
    await clock.advance(0);
    expect(upstream.log).toEqual([{ taskId: "t1", credential: "sk-upstream", at: start }]);
    expect(result.value).toEqual(succeeded);
  });

  it("resolves with the final snapshot once the task succeeds", async () => {
    const p = setup();
    upstream.script("t1", [pending(0.01), pending(0.5), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(0);
    expect(result.settled).toBe(false);
    await clock.advance(60_000);
    expect(result.value).toEqual(succeeded);
    expect(upstream.readsOf("t1")).toHaveLength(3);
    expect(p.size).toBe(0);
  });

  it("resolves (not rejects) with a failed snapshot", async () => {
    const p = setup();
    upstream.script("t1", [pending(), failed]);
    const result = track(p.watch(request("t1")));
    await clock.advance(60_000);
    expect(result.error).toBeUndefined();
    expect(result.value).toEqual(failed);
  });

  it("follows the schedule: the early look at 25% of expected, then just past the earliest finish", async () => {
    const p = setup();
    const start = clock.now();
    // Linear progress over 10 s, reported in whole percent ("NN%"); expected 20 s.
    upstream.script("t1", (now) => {
      const elapsed = now - start;
      return elapsed >= 10_000 ? succeeded : pending(Math.floor(elapsed / 100) / 100);
    });
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(30_000);
    expect(result.value).toEqual(succeeded);
    // 0%, then 50% at the early look (5 s): the finish lies in (5 000 / 0.51,
    // 5 000 / 0.5], so the next read is 100 ms past 9 804. It shows 99%: the
    // finish is due any moment, so one more 100 ms later finds it.
    expectTimes(
      upstream.readsOf("t1").map((at) => at - start),
      [0, 5_000, 5_000 / 0.51 + 100, 5_000 / 0.51 + 200],
    );
  });

  it("keeps the last reported progress when a read omits it", async () => {
    const p = setup();
    const start = clock.now();
    upstream.script("t1", [pending(0.01), pending(0.5), pending(undefined), succeeded]);
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(5_000);
    expect(upstream.readsOf("t1").map((at) => at - start)).toEqual([0, 5_000]);
    // 50% at 5 s: the finish lies in (9 804, 10 000]; read 100 ms past 9 804.
    // That read has no progress but still counts as 50% first seen at 5 s, so
    // the next lands on the latest finish, 10 s (without progress it would
    // look at 60% of expected, 12 s; with 50% first seen at 9.9 s, at 19.5 s).
    await clock.advance(5_000);
    const reads = upstream.readsOf("t1").map((at) => at - start);
    expectTimes(reads, [0, 5_000, 5_000 / 0.51 + 100, 10_000]);
    expect(result.value).toEqual(succeeded);
  });

  it("passes when progress was first seen: a stalled value thins reads out, a new one resets it", async () => {
    const p = setup();
    const start = clock.now();
    // 1% (the token), 50% from 5 s, stuck there until 12 s, then 60%; done at 25 s.
    upstream.script("t1", (now) => {
      const elapsed = now - start;
      if (elapsed >= 25_000) return succeeded;
      return pending(elapsed < 5_000 ? 0.01 : elapsed < 12_000 ? 0.5 : 0.6);
    });
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(12_600);
    // 50% first seen at 5 s: the finish lies in (t / 0.51, 10 000] for a read
    // at t. Still 50% at 9 904 and at 10 000 (the latest finish): stalled, so
    // read as overdue past 10 s, a third of the overrun apart (at least 200
    // ms): 10.2, 10.4, 10.6, 10.8 s, then growing by 4/3 from an 800 ms overrun.
    const overdue = [1, 2, 3, 4].map((k) => 10_000 + 800 * (4 / 3) ** k);
    const seen60 = overdue[3] as number; // ≈ 12 528: the first read showing 60%
    expectTimes(
      upstream.readsOf("t1").map((at) => at - start),
      [0, 5_000, 5_000 / 0.51 + 100, 10_000, 10_200, 10_400, 10_600, 10_800, ...overdue],
    );
    // 60% is new, so it counts from seen60: the finish lies in
    // (t / 0.61, seen60 / 0.6]. (Counted from 5 s, the latest finish would be
    // 8 333 and the next read an overdue one, 1.4 s later.)
    await clock.advance(9_000);
    const reads = upstream.readsOf("t1").map((at) => at - start);
    expectTimes(reads.slice(11, 14), [seen60, seen60 / 0.61 + 100, seen60 / 0.6]);
    await clock.advance(30_000);
    expect(result.value).toEqual(succeeded);
  });

  it("reports every successful read to onRead", async () => {
    const seen: [string, TaskSnapshot][] = [];
    const p = setup({ onRead: (taskId, snapshot) => seen.push([taskId, snapshot]) });
    upstream.script("t1", [pending(0.01), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(60_000);
    expect(result.value).toEqual(succeeded);
    expect(seen).toEqual([
      ["t1", pending(0.01)],
      ["t1", succeeded],
    ]);
  });
});

describe("poller: one scheduler", () => {
  it("serves many tasks with a single timer", async () => {
    const p = setup();
    const results = [];
    for (let i = 0; i < 200; i++) {
      const id = `t${i}`;
      // Spread the finishes: each task needs 2 + i % 5 pending reads.
      const answers: Answer[] = [];
      for (let k = 0; k < 2 + (i % 5); k++) answers.push(pending());
      answers.push(succeeded);
      upstream.script(id, answers);
      results.push(track(p.watch(request(id, { expectedMs: 4_000 + 1_000 * (i % 7) }))));
      await clock.advance(37);
    }
    expect(clock.maxPendingTimers).toBe(1);
    await clock.advance(600_000);
    expect(results.every((r) => r.value === succeeded)).toBe(true);
    expect(upstream.log.length).toBeGreaterThan(600);
    expect(clock.maxPendingTimers).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    // Far fewer timers than reads: tasks due together share one.
    expect(clock.setTimeoutCalls).toBeLessThan(upstream.log.length);
  });

  it("arms one timer for a burst of watches due at the same time", async () => {
    const p = setup();
    for (let i = 0; i < 100; i++) {
      upstream.script(`t${i}`, [pending(), succeeded]);
      track(p.watch(request(`t${i}`)));
    }
    await clock.advance(0);
    // Every first read is done and all 100 tasks are due again at 25% of expected.
    expect(upstream.log).toHaveLength(100);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.setTimeoutCalls).toBeLessThanOrEqual(2);
    await clock.advance(5_000);
    expect(upstream.log).toHaveLength(200);
    expect(p.size).toBe(0);
  });

  it("re-arms for an earlier task when one arrives", async () => {
    const p = setup();
    const start = clock.now();
    upstream.script("slow", [pending(), succeeded]);
    upstream.script("fast", [pending(), succeeded]);
    const slow = track(p.watch(request("slow", { expectedMs: 100_000 })));
    await clock.advance(0);
    const fast = track(p.watch(request("fast", { expectedMs: 4_000 })));
    await clock.advance(0);
    // fast's first look is due at +1 s, before slow's at +25 s.
    await clock.advance(1_000);
    expect(fast.value).toEqual(succeeded);
    expect(slow.settled).toBe(false);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(24_000);
    expect(slow.value).toEqual(succeeded);
    expect(upstream.readsOf("slow").map((at) => at - start)).toEqual([0, 25_000]);
  });

  it("never has more than maxConcurrentReads reads in flight", async () => {
    const gates: Deferred<TaskSnapshot>[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const slowClient = {
      read: (): Promise<TaskSnapshot> => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const gate = deferred<TaskSnapshot>();
        gates.push(gate);
        return gate.promise.finally(() => {
          inFlight--;
        });
      },
    };
    const p = setup({ client: slowClient, maxConcurrentReads: 3 });
    const results = [];
    for (let i = 0; i < 10; i++) results.push(track(p.watch(request(`t${i}`))));
    await clock.advance(0);
    expect(inFlight).toBe(3);
    // Answer one at a time: each answer frees exactly one slot.
    for (let answered = 0; answered < 10; answered++) {
      const gate = gates[answered];
      expect(gate).toBeDefined();
      gate?.resolve(succeeded);
      await clock.advance(0);
      expect(inFlight).toBe(Math.min(3, 10 - answered - 1));
    }
    expect(maxInFlight).toBe(3);
    expect(gates).toHaveLength(10);
    expect(results.every((r) => r.value === succeeded)).toBe(true);
  });

  it("defaults to a bounded number of concurrent reads", async () => {
    const gates: Deferred<TaskSnapshot>[] = [];
    const p = setup({
      client: {
        read: () => {
          const gate = deferred<TaskSnapshot>();
          gates.push(gate);
          return gate.promise;
        },
      },
    });
    for (let i = 0; i < 100; i++) track(p.watch(request(`t${i}`)));
    await clock.advance(0);
    expect(gates.length).toBe(64);
    for (const gate of gates.splice(0)) gate.resolve(succeeded);
    await clock.advance(0);
    expect(gates.length).toBe(36);
  });
});

describe("poller: errors", () => {
  it("calls a task lost after lostAfter task_not_exist answers in a row", async () => {
    const p = setup({ lostAfter: 3 });
    const start = clock.now();
    upstream.script("t1", [notExist()]);
    const result = track(p.watch(request("t1")));
    await clock.advance(60_000);
    expect(result.error).toBeInstanceOf(TaskWaitError);
    const err = result.error as TaskWaitError;
    expect(err.reason).toBe("lost");
    expect(err.taskId).toBe("t1");
    expect(err.lastError).toBeInstanceOf(UpstreamError);
    // Confirmed after 1 s, then 2 s more.
    expect(upstream.readsOf("t1").map((at) => at - start)).toEqual([0, 1_000, 3_000]);
    expect(p.size).toBe(0);
  });

  it("honours a custom lostAfter", async () => {
    const p = setup({ lostAfter: 1 });
    upstream.script("t1", [notExist()]);
    const result = track(p.watch(request("t1")));
    await clock.advance(0);
    expect((result.error as TaskWaitError).reason).toBe("lost");
    expect(upstream.log).toHaveLength(1);
  });

  it("forgets task_not_exist answers once a read finds the task", async () => {
    const p = setup({ lostAfter: 3 });
    upstream.script("t1", [notExist(), notExist(), pending(), notExist(), notExist(), succeeded]);
    const result = track(p.watch(request("t1", { expectedMs: 4_000 })));
    await clock.advance(120_000);
    expect(result.value).toEqual(succeeded);
    expect(upstream.readsOf("t1")).toHaveLength(6);
  });

  it("backs off exponentially on transient errors and recovers", async () => {
    const p = setup();
    const start = clock.now();
    upstream.script("t1", [transient(), transient(), transient(), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(60_000);
    expect(result.value).toEqual(succeeded);
    const reads = upstream.readsOf("t1").map((at) => at - start);
    expect(reads).toHaveLength(4);
    const gaps = reads.slice(1).map((at, i) => at - (reads[i] as number));
    // 500, 1000, 2000 ms with ±25% jitter.
    expect(gaps[0]).toBeGreaterThanOrEqual(375);
    expect(gaps[0]).toBeLessThanOrEqual(625);
    expect(gaps[1]).toBeGreaterThanOrEqual(750);
    expect(gaps[1]).toBeLessThanOrEqual(1_250);
    expect(gaps[2]).toBeGreaterThanOrEqual(1_500);
    expect(gaps[2]).toBeLessThanOrEqual(2_500);
  });

  it("starts the backoff over after a successful read", async () => {
    const p = setup();
    upstream.script("t1", [
      transient(),
      transient(),
      transient(),
      pending(),
      transient(),
      succeeded,
    ]);
    const result = track(p.watch(request("t1", { expectedMs: 4_000 })));
    await clock.advance(60_000);
    expect(result.value).toEqual(succeeded);
    const reads = upstream.readsOf("t1");
    expect(reads).toHaveLength(6);
    // The error after the pending read waits like a first error again.
    const gap = (reads[5] as number) - (reads[4] as number);
    expect(gap).toBeGreaterThanOrEqual(375);
    expect(gap).toBeLessThanOrEqual(625);
  });

  it("honours the upstream's Retry-After", async () => {
    const p = setup();
    upstream.script("t1", [transient(7_000), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(6_999);
    expect(upstream.readsOf("t1")).toHaveLength(1);
    await clock.advance(1);
    expect(upstream.readsOf("t1")).toHaveLength(2);
    expect(result.value).toEqual(succeeded);
  });

  it("treats errors that are not UpstreamErrors as transient", async () => {
    const p = setup();
    upstream.script("t1", [new TypeError("socket hang up"), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(5_000);
    expect(result.value).toEqual(succeeded);
  });

  it("gives up as unavailable after errorWindowMs without a successful read", async () => {
    const p = setup({ errorWindowMs: 10_000 });
    const start = clock.now();
    const error = transient();
    upstream.script("t1", [error]);
    const result = track(p.watch(request("t1")));
    await clock.advance(9_000);
    expect(result.settled).toBe(false);
    await clock.advance(60_000);
    const err = result.error as TaskWaitError;
    expect(err).toBeInstanceOf(TaskWaitError);
    expect(err.reason).toBe("unavailable");
    expect(err.lastError).toBe(error);
    const reads = upstream.readsOf("t1").map((at) => at - start);
    const last = reads[reads.length - 1] as number;
    expect(last).toBeGreaterThanOrEqual(10_000);
    // Given up at the first failed read past the window, not later.
    expect(reads.filter((at) => at >= 10_000)).toHaveLength(1);
    expect(p.size).toBe(0);
  });

  it("measures the error window from the last successful read", async () => {
    const p = setup({ errorWindowMs: 10_000 });
    const start = clock.now();
    // Reads at 0, 5 s and 12 s succeed; from 20 s on they fail.
    upstream.script("t1", (now) => (now - start < 20_000 ? pending() : transient()));
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(20_000);
    expect(upstream.readsOf("t1").map((at) => at - start)).toEqual([0, 5_000, 12_000, 20_000]);
    // 20 s after the watch, but only 8 s after the last success.
    expect(result.settled).toBe(false);
    await clock.advance(60_000);
    expect((result.error as TaskWaitError).reason).toBe("unavailable");
    const reads = upstream.readsOf("t1").map((at) => at - start);
    expect(reads[reads.length - 1]).toBeGreaterThanOrEqual(22_000);
  });
});

describe("poller: deadlines", () => {
  it("gives up at the deadline without reading past it", async () => {
    const p = setup();
    const start = clock.now();
    upstream.script("t1", [pending()]);
    const deadline = start + 7_000;
    const result = track(p.watch(request("t1", { expectedMs: 20_000, deadline })));
    await clock.advance(6_999);
    expect(result.settled).toBe(false);
    await clock.advance(1);
    const err = result.error as TaskWaitError;
    expect(err).toBeInstanceOf(TaskWaitError);
    expect(err.reason).toBe("deadline");
    expect(err.taskId).toBe("t1");
    // Reads at 0 and the early look at 5 s; none at or after the deadline.
    expect(upstream.readsOf("t1").map((at) => at - start)).toEqual([0, 5_000]);
    await clock.advance(60_000);
    expect(upstream.log).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects a watch whose deadline has already passed, without reading (regression)", async () => {
    const p = setup();
    upstream.script("t1", [succeeded]);
    const result = track(p.watch(request("t1", { deadline: clock.now() })));
    await flush();
    expect((result.error as TaskWaitError).reason).toBe("deadline");
    expect(upstream.log).toHaveLength(0);
    expect(p.size).toBe(0);
  });

  it("wakes for the deadline during a long backoff and keeps the last error", async () => {
    const p = setup();
    const start = clock.now();
    const error = transient(60_000);
    upstream.script("t1", [error]);
    const result = track(p.watch(request("t1", { deadline: start + 3_000 })));
    await clock.advance(3_000);
    const err = result.error as TaskWaitError;
    expect(err.reason).toBe("deadline");
    expect(err.lastError).toBe(error);
    expect(upstream.log).toHaveLength(1);
  });
});

describe("poller: close and size", () => {
  it("counts live tasks", async () => {
    const p = setup();
    expect(p.size).toBe(0);
    upstream.script("quick", [succeeded]);
    upstream.script("long", [pending()]);
    track(p.watch(request("quick")));
    track(p.watch(request("long")));
    expect(p.size).toBe(2);
    await clock.advance(0);
    expect(p.size).toBe(1);
    p.close();
    expect(p.size).toBe(0);
  });

  it("rejects every waiter with closed, including one whose read is in flight", async () => {
    const gate = deferred<TaskSnapshot>();
    const reads: string[] = [];
    const p = setup({
      client: {
        read: (_credential, taskId) => {
          reads.push(taskId);
          return taskId === "inflight" ? gate.promise : Promise.resolve(pending());
        },
      },
    });
    const inflight = track(p.watch(request("inflight")));
    const waiting = track(p.watch(request("waiting")));
    await clock.advance(0);
    expect(reads).toEqual(["inflight", "waiting"]);
    expect(inflight.settled).toBe(false);
    expect(waiting.settled).toBe(false);

    p.close();
    await flush();
    for (const result of [inflight, waiting]) {
      const err = result.error as TaskWaitError;
      expect(err).toBeInstanceOf(TaskWaitError);
      expect(err.reason).toBe("closed");
    }
    expect(p.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);

    // The in-flight read answering late changes nothing and schedules nothing.
    gate.resolve(pending());
    await clock.advance(600_000);
    expect(reads).toEqual(["inflight", "waiting"]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("ignores an in-flight read that fails after close", async () => {
    const gate = deferred<TaskSnapshot>();
    const p = setup({ client: { read: () => gate.promise } });
    const result = track(p.watch(request("t1")));
    await clock.advance(0);
    p.close();
    gate.reject(transient());
    await clock.advance(60_000);
    expect((result.error as TaskWaitError).reason).toBe("closed");
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects a watch after close with closed, without reading", async () => {
    const p = setup();
    upstream.script("t1", [succeeded]);
    p.close();
    await expect(p.watch(request("t1"))).rejects.toMatchObject({
      name: "TaskWaitError",
      reason: "closed",
      taskId: "t1",
    });
    await clock.advance(1_000);
    expect(upstream.log).toHaveLength(0);
    expect(p.size).toBe(0);
  });

  it("close is idempotent", () => {
    const p = setup();
    p.close();
    expect(() => p.close()).not.toThrow();
  });
});
