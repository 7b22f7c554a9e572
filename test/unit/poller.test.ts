// The poller against a manual clock and a scripted upstream: time only moves
// when a test moves it, and every timer and read is counted.
import { afterEach, describe, expect, it } from "vitest";
import type { Clock, TimerHandle } from "../../src/clock.js";
import type { TaskSnapshot } from "../../src/providers/async/status.js";
import { UpstreamError } from "../../src/providers/failures.js";
import { type ProgressProfile, progressAt } from "../../src/simulator/progress.js";
import type { LatencyModel } from "../../src/upstream/latency-model.js";
import {
  createPoller,
  type Poller,
  type PollerOptions,
  TaskWaitError,
  type WatchRequest,
} from "../../src/upstream/poller.js";
import {
  blindGapMs,
  defaultTuning,
  type FinishWindow,
  finishWindowMs,
  guardGapMs,
  type LatencyPrior,
  maxProgressReads,
  nextReadDelayMs,
  type ProgressRead,
  type ScheduleTuning,
} from "../../src/upstream/schedule.js";

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

/** Read times (ms after the watch) against the schedule's, which divides by rates. */
function expectTimes(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((time, i) => {
    expect(actual[i]).toBeCloseTo(time, 6);
  });
}

/** What an upstream shows `elapsedMs` into a task: whole percent, rounded down, ≤ 99%. */
function percentAt(profile: ProgressProfile, durationMs: number) {
  return (elapsedMs: number): number | undefined => {
    const fraction = progressAt(profile, elapsedMs / durationMs);
    return fraction === undefined
      ? undefined
      : Math.min(99, Math.floor(fraction * 100 + 1e-9)) / 100;
  };
}

/** The poller's prior without a latency model: the expectation halved and doubled. */
const defaultPrior = (expectedMs: number): LatencyPrior => ({
  lowMs: expectedMs / 2,
  highMs: expectedMs * 2,
});

/**
 * The read times (ms after the submit) the pure schedule asks for, up to the
 * first read at or past `untilMs`: what the poller must do for a task that
 * shows `progressOf(elapsed, readIndex)` while it runs.
 */
function plan(options: {
  prior: LatencyPrior;
  untilMs: number;
  progressOf?: (elapsedMs: number, index: number) => number | undefined;
  tuning?: ScheduleTuning;
  keep?: number;
}): number[] {
  const { prior, untilMs, progressOf = () => undefined, tuning, keep = maxProgressReads } = options;
  const times: number[] = [];
  const reads: ProgressRead[] = [];
  for (let t = 0, index = 0; ; index++) {
    times.push(t);
    if (t >= untilMs) return times;
    const progress = progressOf(t, index);
    if (progress !== undefined) {
      reads.push({ atMs: t, progress });
      if (reads.length > keep) reads.shift();
    }
    t += nextReadDelayMs({ elapsedMs: t, prior, reads }, tuning);
  }
}

/** A tuning that reads a task without progress every `gapMs`, from the first read on. */
const every = (gapMs: number): ScheduleTuning => ({
  ...defaultTuning,
  secondLookMs: 0,
  minGapMs: gapMs,
  maxGapMs: gapMs,
  blindMaxGapMs: gapMs,
  guardUntilMs: 0,
});

/** The default tuning without the cap on blind gaps, so that the prior's window shows in them. */
const uncappedBlind: ScheduleTuning = { ...defaultTuning, blindMaxGapMs: defaultTuning.maxGapMs };

/** A latency model that hands out a fixed prior and records what it is taught. */
function stubLatency(prior: LatencyPrior) {
  const priors: [string, number][] = [];
  const observed: [string, number, number][] = [];
  const model: LatencyModel = {
    prior(model, expectedMs) {
      priors.push([model, expectedMs]);
      return prior;
    },
    observe(model, expectedMs, observedMs) {
      observed.push([model, expectedMs, observedMs]);
    },
    stats: () => undefined,
    loaded: async () => {},
    flush: async () => {},
    close: async () => {},
  };
  return { model, priors, observed };
}

let clock: ManualClock;
/** The clock's time at setup(): where tests watch from. */
let startTime = 0;
let upstream: ReturnType<typeof fakeUpstream>;
let poller: Poller | undefined;

function setup(options: Partial<Omit<PollerOptions, "clock">> = {}): Poller {
  clock = new ManualClock();
  startTime = clock.now();
  upstream = fakeUpstream(clock);
  poller = createPoller({ client: upstream.client, clock, ...options });
  return poller;
}

/** Read times of a task, in ms after the clock's start (the watch, unless moved). */
const elapsedReads = (taskId: string) => upstream.readsOf(taskId).map((at) => at - startTime);

function request(taskId: string, overrides: Partial<WatchRequest> = {}): WatchRequest {
  return {
    credential: "sk-upstream",
    taskId,
    submittedAt: clock.now(),
    model: "gpt-image-2",
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

  it("reads a task without progress blind: at the submit and the second look, then a share of the elapsed time, at least every blindMaxGapMs", async () => {
    const p = setup();
    upstream.script("t1", (now) => (now - startTime >= 30_000 ? succeeded : pending()));
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(40_000);
    expect(result.value).toEqual(succeeded);
    const reads = elapsedReads("t1");
    const prior = defaultPrior(20_000);
    expectTimes(reads, plan({ prior, untilMs: 30_000 }));
    // The second read is the second look, at 900 ms: nothing reads before it.
    expect(reads.slice(0, 2)).toEqual([0, defaultTuning.secondLookMs]);
    expect(defaultTuning.secondLookMs).toBe(900);
    // After it, each gap the blind one (no longer than the guard's) at the read before it.
    const gaps = reads.slice(1).map((at, i) => at - (reads[i] as number));
    gaps.slice(1).forEach((gap, i) => {
      const at = reads[i + 1] as number;
      expect(gap, `after ${at} ms`).toBeCloseTo(Math.min(guardGapMs(at), blindGapMs(at, prior)), 6);
    });
    // Never sparser than blindMaxGapMs, which a long blind task comes to.
    const cap = Math.min(defaultTuning.maxGapMs, defaultTuning.blindMaxGapMs);
    expect(Math.max(...gaps)).toBe(cap);
    expect(gaps.at(-1)).toBe(cap);
    expect((reads.at(-1) as number) - 30_000).toBeLessThan(cap);
  });

  it("with progress, reads just after the earliest finish the progress allows", async () => {
    const p = setup();
    // Linear progress over 10 s, in whole percent ("NN%").
    const progressOf = percentAt("linear", 10_000);
    upstream.script("t1", (now) =>
      now - startTime >= 10_000 ? succeeded : pending(progressOf(now - startTime)),
    );
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(30_000);
    expect(result.value).toEqual(succeeded);
    const reads = elapsedReads("t1");
    expectTimes(reads, plan({ prior: defaultPrior(20_000), untilMs: 10_000, progressOf }));
    // Guard reads while it is young, then a jump towards the finish, which it
    // notices within the slack there: in fewer reads than the same task without
    // progress, and sooner.
    const blind = plan({ prior: defaultPrior(20_000), untilMs: 10_000 });
    expect(reads.length).toBeLessThan(blind.length);
    const lagMs = (reads.at(-1) as number) - 10_000;
    expect(lagMs).toBeGreaterThanOrEqual(0);
    const { finishShare, finalGapMs, finishSlackMaxMs } = defaultTuning;
    expect(lagMs).toBeLessThanOrEqual(
      Math.min(finishSlackMaxMs, Math.max(finalGapMs, finishShare * 10_000)),
    );
    expect(lagMs).toBeLessThan((blind.at(-1) as number) - 10_000);
  });

  it("leaves a read without progress out of the history", async () => {
    const p = setup();
    const linear = percentAt("linear", 10_000);
    // Every other read omits progress (as some services of the family do).
    const progressOf = (elapsedMs: number, index: number) =>
      index % 2 === 1 ? undefined : linear(elapsedMs);
    let index = 0;
    upstream.script("t1", (now) =>
      now - startTime >= 10_000 ? succeeded : pending(progressOf(now - startTime, index++)),
    );
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(30_000);
    expect(result.value).toEqual(succeeded);
    const expected = plan({ prior: defaultPrior(20_000), untilMs: 10_000, progressOf });
    expectTimes(elapsedReads("t1"), expected);
    // Not the same as reading progress every time.
    expect(expected).not.toEqual(
      plan({ prior: defaultPrior(20_000), untilMs: 10_000, progressOf: linear }),
    );
  });

  it("a stall: reads blind while progress is held, and no sparser than blind once it moves", async () => {
    const p = setup();
    // The stall profile over 20 s: 50% at 6 s, held until 14 s, 100% at 20 s.
    const progressOf = percentAt("stall", 20_000);
    upstream.script("t1", (now) =>
      now - startTime >= 20_000 ? succeeded : pending(progressOf(now - startTime)),
    );
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(40_000);
    expect(result.value).toEqual(succeeded);
    const reads = elapsedReads("t1");
    const prior = defaultPrior(20_000);
    expectTimes(reads, plan({ prior, untilMs: 20_000, progressOf }));
    const blindAt = (at: number) => Math.min(guardGapMs(at), blindGapMs(at, prior));
    const windowAt = (i: number) =>
      finishWindowMs(
        reads
          .slice(0, i + 1)
          .map((at) => ({ atMs: at, progress: progressOf(at) as number }))
          .slice(-maxProgressReads),
      );
    // Aimed at a linear finish, it finds 50% held too long for that line: the
    // next read is blind.
    const held = reads.findIndex((at, i) => progressOf(at) === 0.5 && windowAt(i) === undefined);
    expect(held).toBeGreaterThan(0);
    const at = reads[held] as number;
    expect((reads[held + 1] as number) - at).toBeCloseTo(blindAt(at), 6);
    // Once it moves again, the window has bent: no read is further apart than a blind one.
    const resumed = reads.findIndex((at) => (progressOf(at) as number) > 0.5);
    expect(resumed).toBeGreaterThan(held);
    for (let i = resumed; i < reads.length - 1; i++) {
      const read = reads[i] as number;
      expect((windowAt(i) as FinishWindow).bent, `at ${read} ms`).toBe(true);
      expect((reads[i + 1] as number) - read).toBeLessThanOrEqual(blindAt(read) + 1e-6);
    }
    expect((reads[reads.length - 1] as number) - 20_000).toBeLessThan(0.1 * 20_000);
  });

  it("hands the schedule only the most recent progress reads", async () => {
    // Reads at most 300 ms apart, and aiming 0.1% after the earliest finish:
    // some 70 progress reads of a 20 s task (1% every 200 ms), and how many are
    // kept shows in the read that lands at 97–98%, which aims at the finish.
    // A tuning of its own, so a retune of the defaults leaves it alone.
    const tuning: ScheduleTuning = {
      minGapMs: 100,
      secondLookMs: 0,
      maxGapMs: 300,
      blindMaxGapMs: 300,
      denseShare: 0.2,
      earlyShare: 0.4,
      sparseShare: 0.4,
      guardBaseMs: 300,
      guardShare: 0.2,
      guardUntilMs: 2_500,
      lateGuardShare: 1,
      finishShare: 0.001,
      finalGapMs: 20,
      finishSlackMaxMs: 1_000,
    };
    const p = setup({ tuning });
    const progressOf = percentAt("linear", 20_000);
    upstream.script("t1", (now) =>
      now - startTime >= 20_000 ? succeeded : pending(progressOf(now - startTime)),
    );
    const result = track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(30_000);
    expect(result.value).toEqual(succeeded);
    const options = { prior: defaultPrior(20_000), untilMs: 20_000, progressOf, tuning };
    const kept = plan(options);
    expect(kept.length).toBeGreaterThan(3 * maxProgressReads);
    expectTimes(elapsedReads("t1"), kept);
    // Keeping every read would have aimed elsewhere.
    expect(plan({ ...options, keep: Number.POSITIVE_INFINITY })).not.toEqual(kept);
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
    // Every first read is done and all 100 tasks are due again at the second look.
    expect(upstream.log).toHaveLength(100);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.setTimeoutCalls).toBe(1);
    await clock.advance(defaultTuning.secondLookMs - 1);
    expect(upstream.log).toHaveLength(100);
    await clock.advance(1);
    expect(upstream.log).toHaveLength(200);
    expect(clock.setTimeoutCalls).toBe(1);
    expect(p.size).toBe(0);
  });

  it("re-arms for an earlier task when one arrives", async () => {
    const p = setup();
    upstream.script("slow", [pending()]);
    upstream.script("fast", [pending(), succeeded]);
    const slow = track(p.watch(request("slow", { expectedMs: 100_000 })));
    await clock.advance(5_000);
    // slow, 5 s in, is read blind, seconds apart: its next read is after 5 s.
    const slowPlan = plan({ prior: defaultPrior(100_000), untilMs: 10_000 });
    const slowNext = slowPlan.find((at) => at > 5_000) as number;
    expectTimes(
      elapsedReads("slow"),
      slowPlan.filter((at) => at <= 5_000),
    );
    // fast is read at once and again at its second look, before slow: the timer moves up.
    const fastGap = nextReadDelayMs({ elapsedMs: 0, prior: defaultPrior(4_000), reads: [] });
    expect(5_000 + fastGap).toBeLessThan(slowNext);
    const fast = track(p.watch(request("fast", { expectedMs: 4_000 })));
    await clock.advance(0);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(fastGap);
    expect(fast.value).toEqual(succeeded);
    expect(elapsedReads("fast")).toEqual([5_000, 5_000 + fastGap]);
    expect(clock.pendingTimers).toBe(1);
    // ...and back for slow, which is read when it was due (a hair over, as the
    // due time and the clock add their float milliseconds in different orders).
    await clock.advance(slowNext - 5_000 - fastGap + 1e-6);
    expect(elapsedReads("slow").at(-1)).toBeCloseTo(slowNext, 6);
    expect(slow.settled).toBe(false);
    expect(clock.maxPendingTimers).toBe(1);
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
    const p = setup({ errorWindowMs: 10_000, tuning: every(5_000) });
    // Reads at 0, 5, 10 and 15 s succeed; from 20 s on they fail.
    upstream.script("t1", (now) => (now - startTime < 20_000 ? pending() : transient()));
    const result = track(p.watch(request("t1")));
    await clock.advance(20_000);
    expect(elapsedReads("t1")).toEqual([0, 5_000, 10_000, 15_000, 20_000]);
    // 20 s after the watch, but only 5 s after the last success.
    expect(result.settled).toBe(false);
    await clock.advance(60_000);
    expect((result.error as TaskWaitError).reason).toBe("unavailable");
    const reads = elapsedReads("t1");
    // Given up at the first failed read 10 s after the last success.
    expect(reads.filter((at) => at >= 25_000)).toHaveLength(1);
  });
});

describe("poller: deadlines", () => {
  it("gives up at the deadline without reading past it", async () => {
    const p = setup({ tuning: every(5_000) });
    const start = clock.now();
    upstream.script("t1", [pending()]);
    const deadline = start + 7_000;
    const result = track(p.watch(request("t1", { deadline })));
    await clock.advance(6_999);
    expect(result.settled).toBe(false);
    await clock.advance(1);
    const err = result.error as TaskWaitError;
    expect(err).toBeInstanceOf(TaskWaitError);
    expect(err.reason).toBe("deadline");
    expect(err.taskId).toBe("t1");
    // Reads at 0 and 5 s; the one due at 10 s waits for the deadline instead.
    expect(elapsedReads("t1")).toEqual([0, 5_000]);
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

describe("poller: latency learning and tuning", () => {
  it("teaches the latency model on success, the task's time taken midway between the last two reads", async () => {
    const latency = stubLatency(defaultPrior(8_000));
    const p = setup({ latency: latency.model, tuning: every(5_000) });
    upstream.script("t1", [pending(), pending(), succeeded]);
    // The submit was accepted 1 s before the watch.
    const result = track(
      p.watch(
        request("t1", { model: "nano-banana", expectedMs: 8_000, submittedAt: startTime - 1_000 }),
      ),
    );
    await clock.advance(10_000);
    expect(result.value).toEqual(succeeded);
    expect(elapsedReads("t1")).toEqual([0, 5_000, 10_000]);
    // Still running at 5 s, done at 10 s: it ended at ~7.5 s, 8.5 s after the submit.
    expect(latency.observed).toEqual([["nano-banana", 8_000, 8_500]]);
  });

  it("a task done at the first read ended midway since its submit", async () => {
    const latency = stubLatency(defaultPrior(8_000));
    const p = setup({ latency: latency.model });
    upstream.script("t1", [succeeded]);
    track(p.watch(request("t1", { expectedMs: 8_000, submittedAt: startTime - 3_000 })));
    await clock.advance(0);
    expect(latency.observed).toEqual([["gpt-image-2", 8_000, 1_500]]);
  });

  it("does not count a failed read as a sighting of the running task", async () => {
    const latency = stubLatency(defaultPrior(8_000));
    const p = setup({ latency: latency.model, tuning: every(5_000) });
    // Retry-After 700 ms: longer than any first backoff, so the retry's time is known.
    upstream.script("t1", [pending(), transient(700), succeeded]);
    const result = track(p.watch(request("t1", { expectedMs: 8_000 })));
    await clock.advance(10_000);
    expect(result.value).toEqual(succeeded);
    // Pending at 0, an error at 5 s, the result at 5.7 s: all the gateway
    // knows is that it ended between 0 and 5.7 s.
    expect(elapsedReads("t1")).toEqual([0, 5_000, 5_700]);
    expect(latency.observed).toEqual([["gpt-image-2", 8_000, 2_850]]);
  });

  it.each<{
    why: string;
    answers: Answer[];
    options?: Partial<PollerOptions>;
    deadlineMs?: number;
  }>([
    { why: "a failure", answers: [pending(), failed] },
    { why: "a lost task", answers: [pending(), notExist()], options: { lostAfter: 1 } },
    {
      why: "an upstream that stays down",
      answers: [pending(), transient()],
      options: { errorWindowMs: 3_000 },
    },
    { why: "a deadline", answers: [pending()], deadlineMs: 3_000 },
  ])("teaches nothing from $why", async ({ answers, options, deadlineMs }) => {
    const latency = stubLatency(defaultPrior(8_000));
    const p = setup({ latency: latency.model, ...options });
    upstream.script("t1", answers);
    const result = track(
      p.watch(request("t1", deadlineMs === undefined ? {} : { deadline: startTime + deadlineMs })),
    );
    await clock.advance(60_000);
    expect(result.settled).toBe(true);
    expect(latency.observed).toEqual([]);
  });

  it("teaches nothing from a read that answers after close", async () => {
    const latency = stubLatency(defaultPrior(8_000));
    const gate = deferred<TaskSnapshot>();
    const p = setup({ latency: latency.model, client: { read: () => gate.promise } });
    track(p.watch(request("t1")));
    await clock.advance(0);
    p.close();
    gate.resolve(succeeded);
    await clock.advance(1_000);
    expect(latency.observed).toEqual([]);
  });

  // The prior shows in blind gaps under blindMaxGapMs only: these two lift
  // that cap, so that where the schedule is dense shows over the whole task.
  it("hands the latency model's prior to the schedule", async () => {
    // This model's tasks usually take 60–90 s, whatever the catalogue said:
    // reads stay sparse until 30 s, where the default prior would make them dense from 5 s.
    const learned: LatencyPrior = { lowMs: 60_000, highMs: 90_000 };
    const latency = stubLatency(learned);
    const tuning = uncappedBlind;
    const p = setup({ latency: latency.model, tuning });
    upstream.script("t1", [pending()]);
    track(p.watch(request("t1", { model: "grok-imagine-image", expectedMs: 20_000 })));
    await clock.advance(40_000);
    expect(latency.priors).toEqual([["grok-imagine-image", 20_000]]);
    const upTo40s = (prior: LatencyPrior) =>
      plan({ prior, untilMs: 40_000, tuning }).filter((at) => at <= 40_000);
    const expected = upTo40s(learned);
    expectTimes(elapsedReads("t1"), expected);
    expect(expected).not.toEqual(upTo40s(defaultPrior(20_000)));
  });

  it("without a latency model, takes the expectation halved and doubled as the prior", async () => {
    const tuning = uncappedBlind;
    const p = setup({ tuning });
    upstream.script("t1", [pending()]);
    track(p.watch(request("t1", { expectedMs: 20_000 })));
    await clock.advance(100_000);
    // Dense from 5 s to 60 s, sparse before and after.
    const upTo100s = (prior: LatencyPrior) =>
      plan({ prior, untilMs: 100_000, tuning }).filter((at) => at <= 100_000);
    const expected = upTo100s(defaultPrior(20_000));
    expectTimes(elapsedReads("t1"), expected);
    // Either end moved shows.
    expect(expected).not.toEqual(upTo100s({ lowMs: 20_000, highMs: 40_000 }));
    expect(expected).not.toEqual(upTo100s({ lowMs: 10_000, highMs: 20_000 }));
  });

  it("honours options.tuning", async () => {
    const p = setup({ tuning: every(5_000) });
    upstream.script("t1", [pending(0.1), pending(0.2), pending(0.3), succeeded]);
    const result = track(p.watch(request("t1")));
    await clock.advance(0);
    // The default would read again at the second look.
    await clock.advance(4_999);
    expect(elapsedReads("t1")).toEqual([0]);
    await clock.advance(10_001);
    expect(elapsedReads("t1")).toEqual([0, 5_000, 10_000, 15_000]);
    expect(result.value).toEqual(succeeded);
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
