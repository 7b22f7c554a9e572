// The poll schedule: pure functions, so every rule is checked without timers,
// and a simulation checks the DESIGN.md budget (≤ 1 read per 2 s of
// generation, the result noticed within ~150 ms) against tasks of known
// duration, read the way the poller reads them.
import { describe, expect, it } from "vitest";
import {
  errorBackoffMs,
  maxGapMs,
  minGapMs,
  nextReadDelayMs,
  progressEstimateMs,
  progressWindowMs,
  type ScheduleInput,
} from "../../src/upstream/schedule.js";

// Constants of the schedule that it does not export.
/** A read aims this long after the earliest possible finish. */
const finishSlackMs = 100;
/** The shortest gap it ever chooses (while the finish is due any moment). */
const finalGapMs = 50;

/** Exact values below are compared to 1e-6 ms: the rules divide by fractions. */
const digits = 6;

const at = (
  elapsedMs: number,
  expectedMs: number,
  progress?: number,
  progressSinceMs?: number,
): ScheduleInput => ({ elapsedMs, expectedMs, progress, progressSinceMs });

describe("bounds", () => {
  it("keeps reads without usable progress 200 ms to 10 s apart", () => {
    expect(minGapMs).toBe(200);
    expect(maxGapMs).toBe(10_000);
  });
});

describe("progressEstimateMs", () => {
  it("extrapolates linearly from elapsed time and progress", () => {
    expect(progressEstimateMs(at(5_000, 60_000, 0.5))).toBe(10_000);
    expect(progressEstimateMs(at(3_000, 60_000, 0.25))).toBe(12_000);
  });

  it("ignores absent progress", () => {
    expect(progressEstimateMs(at(5_000, 60_000, undefined))).toBeUndefined();
  });

  it("ignores progress below 5% (the submit's token 1%) and trusts it from 5%", () => {
    expect(progressEstimateMs(at(5_000, 60_000, 0.01))).toBeUndefined();
    expect(progressEstimateMs(at(5_000, 60_000, 0.049))).toBeUndefined();
    expect(progressEstimateMs(at(5_000, 60_000, 0.05))).toBe(100_000);
  });

  it("ignores progress of 100% or more (a final read, not an estimate)", () => {
    expect(progressEstimateMs(at(5_000, 60_000, 1))).toBeUndefined();
    expect(progressEstimateMs(at(5_000, 60_000, 1.5))).toBeUndefined();
    expect(progressEstimateMs(at(5_000, 60_000, 0.99))).toBeCloseTo(5_000 / 0.99, digits);
  });

  it("ignores progress in the first 500 ms and trusts it from 500 ms", () => {
    expect(progressEstimateMs(at(0, 60_000, 0.5))).toBeUndefined();
    expect(progressEstimateMs(at(499, 60_000, 0.5))).toBeUndefined();
    expect(progressEstimateMs(at(500, 60_000, 0.5))).toBe(1_000);
  });
});

describe("progressWindowMs", () => {
  it.each([
    { why: "absent progress", input: at(5_000, 20_000, undefined, 1_000) },
    { why: "the token 1%", input: at(5_000, 20_000, 0.01, 1_000) },
    { why: "progress just under 5%", input: at(5_000, 20_000, 0.049, 1_000) },
    { why: "100%", input: at(5_000, 20_000, 1, 1_000) },
    { why: "over 100%", input: at(5_000, 20_000, 1.5, 1_000) },
    { why: "the first 500 ms", input: at(499, 20_000, 0.5, 0) },
  ])("has no window for $why", ({ input }) => {
    expect(progressWindowMs(input)).toBeUndefined();
  });

  it.each([
    {
      why: "brackets the finish in (t2 / (p + 1%), t1 / p]",
      input: at(6_000, 20_000, 0.4, 4_000),
      earliest: 6_000 / 0.41, // ≈ 14 634
      latest: 10_000,
    },
    {
      why: "does not depend on the expectation",
      input: at(6_000, 600_000, 0.4, 4_000),
      earliest: 6_000 / 0.41,
      latest: 10_000,
    },
    {
      why: "puts the earliest finish at now from 99% on",
      input: at(9_950, 20_000, 0.99, 9_900),
      earliest: 9_950,
      latest: 10_000,
    },
    {
      why: "…and between 99% and 100% (progress finer than whole percent)",
      input: at(9_950, 20_000, 0.995, 9_900),
      earliest: 9_950,
      latest: 9_900 / 0.995,
    },
    {
      why: "takes the first-seen time to be now when it is omitted",
      input: at(6_000, 20_000, 0.4),
      earliest: 6_000 / 0.41,
      latest: 15_000,
    },
    {
      why: "clamps a first-seen time later than now to now",
      input: at(6_000, 20_000, 0.4, 7_000),
      earliest: 6_000 / 0.41,
      latest: 15_000,
    },
    {
      why: "puts the latest finish in the past once progress has stalled",
      input: at(30_000, 20_000, 0.4, 4_000),
      earliest: 30_000 / 0.41,
      latest: 10_000,
    },
    {
      why: "puts the latest finish at 0 for progress seen at the first read",
      input: at(600, 20_000, 0.5, 0),
      earliest: 600 / 0.51,
      latest: 0,
    },
  ])("$why", ({ input, earliest, latest }) => {
    const window = progressWindowMs(input);
    expect(window?.earliest).toBeCloseTo(earliest, digits);
    expect(window?.latest).toBeCloseTo(latest, digits);
  });
});

describe("nextReadDelayMs without usable progress", () => {
  const expected = 20_000;

  it.each([
    { why: "looks first at 25% of the expected time", input: at(0, expected), delay: 5_000 },
    { why: "…from wherever it is now", input: at(1_000, expected), delay: 4_000 },
    { why: "then at 60%", input: at(5_000, expected), delay: 7_000 },
    { why: "then at the expected finish", input: at(12_000, expected), delay: 8_000 },
    { why: "…from wherever it is now ", input: at(19_000, expected), delay: 1_000 },
    // 5 000 is 100 ms away: too close, so aim at 12 000.
    { why: "skips a checkpoint under minGapMs away", input: at(4_900, expected), delay: 7_100 },
    // 12 000 is 150 ms away: aim at 20 000.
    { why: "…and the next one too", input: at(11_850, expected), delay: 8_150 },
    { why: "keeps a checkpoint exactly minGapMs away", input: at(4_800, expected), delay: 200 },
    { why: "scales with the expectation (4 min)", input: at(0, 240_000), delay: 60_000 },
    { why: "scales with the expectation (60%)", input: at(60_000, 240_000), delay: 84_000 },
    { why: "scales with the expectation (4 s)", input: at(0, 4_000), delay: 1_000 },
    {
      why: "treats the token 1% as no progress",
      input: at(0, expected, 0.01, 0),
      delay: 5_000,
    },
    {
      why: "treats progress in the first 500 ms as no progress",
      input: at(400, expected, 0.5, 400),
      delay: 4_600,
    },
    {
      why: "treats progress under 5% as no progress, whenever first seen",
      input: at(5_000, expected, 0.02, 0),
      delay: 7_000,
    },
    {
      why: "treats 100% as no progress",
      input: at(5_000, expected, 1, 1_000),
      delay: 7_000,
    },
  ])("$why", ({ input, delay }) => {
    expect(nextReadDelayMs(input)).toBe(delay);
  });
});

describe("nextReadDelayMs when overdue without progress: clamp(overrun / 3, 200 ms, 10 s)", () => {
  const expected = 20_000;

  it.each([
    { why: "the last checkpoint is too close", elapsedMs: 19_900, delay: minGapMs },
    { why: "at the expected finish", elapsedMs: 20_000, delay: minGapMs },
    { why: "while a third of the overrun is under 200 ms", elapsedMs: 20_500, delay: minGapMs },
    { why: "where a third of the overrun is 200 ms", elapsedMs: 20_600, delay: minGapMs },
    { why: "a third of a 1.5 s overrun", elapsedMs: 21_500, delay: 500 },
    { why: "a third of a 3 s overrun", elapsedMs: 23_000, delay: 1_000 },
    { why: "a third of a 12 s overrun", elapsedMs: 32_000, delay: 4_000 },
    { why: "a third of a 29.7 s overrun", elapsedMs: 49_700, delay: 9_900 },
    { why: "capped from a 30 s overrun", elapsedMs: 50_000, delay: maxGapMs },
    { why: "capped an hour in", elapsedMs: 3_600_000, delay: maxGapMs },
  ])("$why: $delay ms", ({ elapsedMs, delay }) => {
    expect(nextReadDelayMs(at(elapsedMs, expected))).toBeCloseTo(delay, digits);
  });

  it("backs off the same way when progress is stuck below 5%", () => {
    expect(nextReadDelayMs(at(32_000, expected, 0.01, 0))).toBeCloseTo(4_000, digits);
  });
});

describe("nextReadDelayMs with usable progress", () => {
  // t2 = elapsedMs, t1 = sinceMs: the window is (t2 / (p + 1%), t1 / p].
  it.each([
    {
      why: "aims 100 ms after the earliest possible finish",
      elapsedMs: 6_000,
      progress: 0.4,
      sinceMs: 6_000,
      delay: 6_000 / 0.41 + finishSlackMs - 6_000, // ≈ 8 734
    },
    {
      why: "…whatever the expectation said",
      elapsedMs: 6_000,
      progress: 0.4,
      sinceMs: 6_000,
      expectedMs: 600_000,
      delay: 6_000 / 0.41 + finishSlackMs - 6_000,
    },
    {
      why: "never aims past the latest possible finish",
      elapsedMs: 9_000,
      progress: 0.5,
      sinceMs: 4_900,
      delay: 800, // latest 9 800; earliest ≈ 17 647
    },
    {
      why: "caps a far jump at maxGapMs early on",
      elapsedMs: 2_000,
      progress: 0.05,
      sinceMs: 2_000,
      delay: maxGapMs, // ≈ 31 433 uncapped
    },
    {
      why: "caps a far jump at maxGapMs however long the task has run",
      elapsedMs: 30_000,
      progress: 0.1,
      sinceMs: 30_000,
      delay: maxGapMs, // ≈ 242 827 uncapped
    },
    {
      why: "caps a jump shorter than the elapsed time too (a stall may have skewed the estimate)",
      elapsedMs: 30_000,
      progress: 0.6,
      sinceMs: 30_000,
      delay: maxGapMs, // ≈ 19 280 uncapped
    },
    {
      why: "does not cap a jump under maxGapMs",
      elapsedMs: 9_000,
      progress: 0.9,
      sinceMs: 9_000,
      delay: 9_000 / 0.91 + finishSlackMs - 9_000, // ≈ 990
    },
    {
      why: "waits exactly minGapMs when that is the distance",
      elapsedMs: 9_800,
      progress: 0.5,
      sinceMs: 5_000,
      delay: 200, // latest 10 000
    },
    {
      why: "goes under minGapMs when the finish is nearer",
      elapsedMs: 9_801,
      progress: 0.5,
      sinceMs: 5_000,
      delay: 199,
    },
    {
      why: "reads every 100 ms at 99% (the earliest finish is now)",
      elapsedMs: 99_000,
      progress: 0.99,
      sinceMs: 99_000,
      delay: finishSlackMs,
    },
    {
      why: "…and at 99.5%",
      elapsedMs: 99_500,
      progress: 0.995,
      sinceMs: 99_500,
      delay: finishSlackMs,
    },
    {
      why: "waits at least finalGapMs for a latest finish under 50 ms away",
      elapsedMs: 99_980,
      progress: 0.99,
      sinceMs: 99_000,
      delay: finalGapMs, // latest 100 000 is 20 ms away
    },
    {
      why: "treats progress first seen now when progressSinceMs is omitted",
      elapsedMs: 8_000,
      progress: 0.4,
      sinceMs: undefined,
      delay: maxGapMs, // latest 20 000, earliest ≈ 19 512: capped at 10 s
    },
  ])("$why", ({ elapsedMs, progress, sinceMs, expectedMs, delay }) => {
    const input = at(elapsedMs, expectedMs ?? 20_000, progress, sinceMs);
    expect(nextReadDelayMs(input)).toBeCloseTo(delay, digits);
  });

  // Still showing the value first seen at t1 at or after t1 / p: stalled.
  it.each([
    { why: "at the latest finish", elapsedMs: 10_000, sinceMs: 5_000, delay: minGapMs },
    { why: "3 s past it", elapsedMs: 13_000, sinceMs: 5_000, delay: 1_000 },
    { why: "12 s past it", elapsedMs: 22_000, sinceMs: 5_000, delay: 4_000 },
    { why: "90 s past it", elapsedMs: 100_000, sinceMs: 5_000, delay: maxGapMs },
    { why: "progress seen at the first read (latest 0)", elapsedMs: 600, sinceMs: 0, delay: 200 },
    { why: "…3 s later", elapsedMs: 3_000, sinceMs: 0, delay: 1_000 },
  ])(
    "thins out like an overdue task once progress stalls past its latest finish: $why",
    ({ elapsedMs, sinceMs, delay }) => {
      expect(nextReadDelayMs(at(elapsedMs, 600_000, 0.5, sinceMs))).toBeCloseTo(delay, digits);
    },
  );
});

describe("errorBackoffMs", () => {
  const mid = () => 0.5;
  const low = () => 0;
  const high = () => 1;

  it("doubles from 500 ms per consecutive error", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => errorBackoffMs(n, undefined, mid))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000,
    ]);
  });

  it("treats zero errors like the first", () => {
    expect(errorBackoffMs(0, undefined, mid)).toBe(500);
  });

  it("jitters ±25% through the injected random source", () => {
    expect(errorBackoffMs(1, undefined, low)).toBe(375);
    expect(errorBackoffMs(1, undefined, high)).toBe(625);
    expect(errorBackoffMs(3, undefined, low)).toBe(1_500);
    expect(errorBackoffMs(3, undefined, high)).toBe(2_500);
  });

  it("uses Math.random by default, within the jitter band", () => {
    for (let i = 0; i < 50; i++) {
      const delay = errorBackoffMs(2, undefined);
      expect(delay).toBeGreaterThanOrEqual(750);
      expect(delay).toBeLessThanOrEqual(1_250);
    }
  });

  it("caps the exponential at 30 s before jitter", () => {
    expect(errorBackoffMs(7, undefined, mid)).toBe(30_000);
    expect(errorBackoffMs(50, undefined, mid)).toBe(30_000);
    expect(errorBackoffMs(5_000, undefined, high)).toBe(37_500);
    expect(errorBackoffMs(5_000, undefined, low)).toBe(22_500);
  });

  it("honours a Retry-After longer than the backoff", () => {
    expect(errorBackoffMs(1, 5_000, mid)).toBe(5_000);
    expect(errorBackoffMs(8, 45_000, high)).toBe(45_000);
  });

  it("does not let a short Retry-After shorten the backoff", () => {
    expect(errorBackoffMs(3, 100, mid)).toBe(2_000);
    expect(errorBackoffMs(1, 0, mid)).toBe(500);
  });
});

// --- The budget, simulated -------------------------------------------------

/** What the upstream reports for a running task at elapsed time t. */
type ProgressAt = (t: number) => number | undefined;

/** The upstream's "NN%": linear progress in whole percent, rounded down (≤ 99% while running). */
const wholePercent =
  (durationMs: number): ProgressAt =>
  (t) =>
    Math.floor((100 * t) / durationMs) / 100;

const noProgress: ProgressAt = () => undefined;

/** The submit's token "1%", never updated (a service that does not report progress). */
const tokenPercent: ProgressAt = () => 0.01;

/**
 * Whole-percent progress that freezes once it shows `percent` (at percent% of
 * durationMs), for stallMs; the task then resumes and ends at durationMs + stallMs.
 */
function stalledAt(durationMs: number, percent: number, stallMs: number): ProgressAt {
  const start = (percent / 100) * durationMs;
  const moving = wholePercent(durationMs);
  return (t) => (t < start ? moving(t) : t < start + stallMs ? percent / 100 : moving(t - stallMs));
}

/**
 * A task that finishes at finishMs, read the way the poller reads it: at once,
 * then after each nextReadDelayMs, passing the last reported progress and the
 * elapsed time of the read that first reported that value.
 */
function simulate(finishMs: number, expectedMs: number, progressAt: ProgressAt) {
  const readTimes: number[] = [];
  let progress: number | undefined;
  let progressSinceMs = 0;
  let t = 0;
  for (;;) {
    readTimes.push(t);
    if (t >= finishMs) return { reads: readTimes.length, lagMs: t - finishMs, readTimes };
    if (readTimes.length > 10_000) throw new Error("the schedule never reached the finish");
    const reported = progressAt(t);
    if (reported !== undefined && reported !== progress) {
      progress = reported;
      progressSinceMs = t;
    }
    const delay = nextReadDelayMs({ elapsedMs: t, expectedMs, progress, progressSinceMs });
    // No rule ever chooses a gap under finalGapMs.
    expect(delay).toBeGreaterThanOrEqual(finalGapMs);
    t += delay;
  }
}

const gapsOf = (times: number[]) => times.slice(1).map((time, i) => time - (times[i] as number));

/** The gap the overdue rule chooses at `overrunMs` past the expected (or latest) finish. */
const overdueGap = (overrunMs: number) => Math.min(maxGapMs, Math.max(minGapMs, overrunMs / 3));

/**
 * Upper bound on the reads an overdue task gets between the overrun 0 (that
 * read excluded) and overrunMs, plus the first read at or past it: 2 reads
 * 200 ms apart below an overrun of 600 ms (at 200 and 400), 14 while the gap
 * is a third of the overrun, which then grows 4/3 per read from 600 ms until
 * 30 s (600 · (4/3)^13 < 30 000 ≤ 600 · (4/3)^14), then one per 10 s, then 1.
 */
const overdueReadsBound = (overrunMs: number) =>
  2 + 14 + Math.ceil(Math.max(0, overrunMs - 30_000) / maxGapMs) + 1;

const durations = [2_000, 3_000, 5_000, 9_000, 20_000, 47_000, 120_000, 240_000];
// From very early guesses to very late ones, against every duration.
const expectations = [500, 2_000, 8_000, 20_000, 60_000, 240_000];
const cases = durations.flatMap((durationMs) =>
  expectations.map((expectedMs) => ({ durationMs, expectedMs })),
);
const epsilon = 1e-6;

/**
 * The first read, in the poller's schedule, that sees progress the schedule
 * can use before the task ends; until it, the reads are those of a task
 * without progress.
 */
function firstUsableRead(durationMs: number, expectedMs: number): number | undefined {
  const percent = wholePercent(durationMs);
  return simulate(durationMs, expectedMs, noProgress).readTimes.find(
    (t) =>
      t < durationMs &&
      progressEstimateMs({ elapsedMs: t, expectedMs, progress: percent(t) }) !== undefined,
  );
}

describe("schedule budget (simulated tasks)", () => {
  it("covers tasks whose progress is seen in time and tasks whose first look comes too late", () => {
    const seen = cases.filter((c) => firstUsableRead(c.durationMs, c.expectedMs) !== undefined);
    expect(seen.length).toBeGreaterThanOrEqual(30);
    expect(cases.length - seen.length).toBeGreaterThanOrEqual(5);
  });

  describe.each(cases)(
    "duration $durationMs ms, expected $expectedMs ms",
    ({ durationMs, expectedMs }) => {
      it("with whole-percent progress: ≤ 1 read per 2 s + 5", () => {
        const { reads, readTimes } = simulate(durationMs, expectedMs, wholePercent(durationMs));
        // The constant is what the shortest tasks need beyond 1 read per 2 s.
        // For D ≤ 3.5 s (a budget under 2 reads): up to 3 reads before 500 ms,
        // where progress is not trusted (0, 200, 400: gaps without usable
        // progress are ≥ minGapMs); the first read that trusts it, at
        // ≥ 500 ms, so p ≥ 14%; the one it aims at ≥ earliest = t2/(p + 1%)
        // ≥ p/(p + 1%) · D ≥ 0.93 · D (t2 ≥ p·D: floored percent), which
        // shows ≥ 93%; and the one that aims at ≥ 0.93/0.94 · D + 100 ms ≥ D.
        // 6 reads, against ≥ 1: + 5. Longer tasks add blind overdue reads
        // before 5%, jump-capped reads (each at least doubles the elapsed time
        // past 10 s) and 100 ms reads in the final percent (≤ D/10 000, below):
        // far fewer than the D/2000 they add to the budget.
        expect(reads).toBeLessThanOrEqual(durationMs / 2_000 + 5);
        // At 99% the earliest finish is now, so reads go finishSlackMs apart
        // (or finalGapMs, onto the latest finish) from the first sight of 99%,
        // at ≥ 0.99·D, until D: 1% of D in 100 ms steps, the final one past D.
        const lastPercent = readTimes.filter((t) => t >= 0.99 * durationMs);
        expect(lastPercent.length).toBeLessThanOrEqual((0.01 * durationMs) / finishSlackMs + 2);
      });

      it("with whole-percent progress: lag < 100 ms once progress is seen before the finish", () => {
        const run = simulate(durationMs, expectedMs, wholePercent(durationMs));
        const blind = simulate(durationMs, expectedMs, noProgress);
        const first = firstUsableRead(durationMs, expectedMs);
        if (first === undefined) {
          // Every read before the finish saw unusable progress: exactly the
          // reads (and lag) of a task without progress.
          expect(run.readTimes).toEqual(blind.readTimes);
          return;
        }
        const firstIndex = blind.readTimes.indexOf(first);
        expect(run.readTimes.slice(0, firstIndex + 1)).toEqual(
          blind.readTimes.slice(0, firstIndex + 1),
        );
        // From the first usable read on, every read before the finish has a
        // window that holds D, for linear progress in whole percent rounded
        // down: at t1 the fraction was ≥ p (so D ≤ t1/p = latest), at t2 it
        // is < p + 1% (so D > t2/(p + 1%) = earliest), hence t2 < latest and
        // the task is never taken for overdue. The next read lands at
        // min(latest, earliest + 100) (or earlier, jump-capped), or at t2 + 50
        // only when latest < t2 + 50. The read that crosses D is therefore
        // < earliest + 100 < D + 100, or < t2 + 50 < D + 50. The window's ~1%
        // width never adds to the lag: reads aim at its start, not its end.
        expect(run.lagMs).toBeGreaterThanOrEqual(0);
        expect(run.lagMs).toBeLessThanOrEqual(finishSlackMs + epsilon);
      });

      it("without progress: checkpoints until expected, then overdue reads a third of the overrun apart", () => {
        const { reads, lagMs, readTimes } = simulate(durationMs, expectedMs, noProgress);
        // Progress that never gets past the submit's token 1% is no progress.
        expect(simulate(durationMs, expectedMs, tokenPercent).readTimes).toEqual(readTimes);

        // At once, then 25%, 60% and 100% of expected, each only if at least
        // minGapMs after the read before it.
        const looks = [0];
        for (const fraction of [0.25, 0.6, 1]) {
          const checkpoint = fraction * expectedMs;
          if (checkpoint - (looks[looks.length - 1] as number) >= minGapMs) looks.push(checkpoint);
        }
        if (durationMs <= expectedMs) {
          // The reads end at the first checkpoint at or past the finish.
          const last = looks.findIndex((look) => look >= durationMs);
          expect(readTimes).toEqual(looks.slice(0, last + 1));
          expect(lagMs).toBe((looks[last] as number) - durationMs);
          return;
        }
        // Every expectation here is ≥ 500 ms, so the expected finish is a look.
        expect(looks[looks.length - 1]).toBe(expectedMs);
        expect(readTimes.slice(0, looks.length)).toEqual(looks);
        const overdue = readTimes.slice(looks.length - 1);
        gapsOf(overdue).forEach((gap, i) => {
          expect(gap).toBeCloseTo(overdueGap((overdue[i] as number) - expectedMs), digits);
        });
        // The last read before the finish is < D, and the overdue gap does not
        // shrink as the overrun grows: the lag is under the gap at D.
        const overrunMs = durationMs - expectedMs;
        expect(lagMs).toBeGreaterThanOrEqual(0);
        expect(lagMs).toBeLessThan(overdueGap(overrunMs) + epsilon);
        expect(reads).toBeLessThanOrEqual(looks.length + overdueReadsBound(overrunMs));
      });
    },
  );

  it("meets the read budget on a spread of tasks that finish near their expectation", () => {
    let reads = 0;
    let generationMs = 0;
    for (const expectedMs of [2_000, 8_000, 20_000, 60_000, 240_000]) {
      for (const ratio of [0.7, 0.85, 1, 1.1]) {
        const durationMs = expectedMs * ratio;
        for (const progressAt of [wholePercent(durationMs), noProgress]) {
          reads += simulate(durationMs, expectedMs, progressAt).reads;
          generationMs += durationMs;
        }
      }
    }
    expect(reads).toBeLessThanOrEqual(generationMs / 2_000);
  });
});

describe("schedule under stalled progress (simulated tasks)", () => {
  const stallMs = 600_000;
  const stallCases = [2_000, 20_000, 60_000, 240_000].flatMap((durationMs) =>
    [99, 40].flatMap((percent) =>
      [durationMs, durationMs / 4, durationMs * 4].map((expectedMs) => ({
        durationMs,
        percent,
        expectedMs,
      })),
    ),
  );

  it.each(stallCases)(
    "duration $durationMs ms stuck at $percent% for 10 min, expected $expectedMs ms: reads thin out",
    ({ durationMs, percent, expectedMs }) => {
      const progressAt = stalledAt(durationMs, percent, stallMs);
      const { readTimes, lagMs } = simulate(durationMs + stallMs, expectedMs, progressAt);
      const stallStart = (percent / 100) * durationMs;
      const stallEnd = stallStart + stallMs;
      const inStall = readTimes.filter((t) => t >= stallStart && t < stallEnd);
      // The read that first shows the stalled value fixes the latest finish.
      const t1 = inStall[0] as number;
      const latest = t1 / (percent / 100);
      expect(latest).toBeLessThan(stallEnd);

      // Before the latest finish, reads aim at min(latest, earliest + 100).
      // At 99% the earliest finish is now (t2 / min(1, 99% + 1%)), so they go
      // 100 ms apart until one reaches latest: (latest − t1) / 100 + 1 reads,
      // with latest − t1 = t1 / 99, ~1% of the elapsed time. At 40% the window
      // (t2 / 0.41, t1 / 0.4] is empty once t2 ≥ 1.025·t1: reads after t1 go
      // towards t1 / 0.41 + 100 in jumps of at most maxGapMs, then one lands
      // on latest.
      const waiting = inStall.filter((t) => t < latest);
      const waitingBound =
        percent === 99
          ? (latest - t1) / finishSlackMs + 1
          : Math.ceil((t1 / 0.41 + finishSlackMs - t1) / maxGapMs) + 2;
      expect(waiting.length).toBeLessThanOrEqual(waitingBound);
      // Past it, the stall is read like an overdue task: gaps of a third of
      // the time past latest, from 200 ms up to 10 s, never shrinking.
      const overdue = inStall.filter((t) => t >= latest);
      const gaps = gapsOf(overdue);
      gaps.forEach((gap, i) => {
        expect(gap).toBeCloseTo(overdueGap((overdue[i] as number) - latest), digits);
        if (i > 0) expect(gap).toBeGreaterThanOrEqual((gaps[i - 1] as number) - epsilon);
      });
      expect(gaps[gaps.length - 1]).toBeCloseTo(maxGapMs, digits);

      // No read storm: in the first 60 s of the stall, the waiting reads and
      // the overdue ones at overruns under 60 s (1 + 2 + 14 + 3, see
      // overdueReadsBound). For tasks up to 4 min that is at most
      // 240 000 / 99 / 100 + 1 + 20 < 46 reads, where a 100 ms poll makes 600.
      const firstMinute = inStall.filter((t) => t < stallStart + 60_000);
      expect(firstMinute.length).toBeLessThanOrEqual(waitingBound + overdueReadsBound(60_000));
      expect(firstMinute.length).toBeLessThanOrEqual(45);
      // Over the whole 10 minutes, the 10 s gaps dominate.
      expect(inStall.length).toBeLessThanOrEqual(waitingBound + overdueReadsBound(stallMs));

      // Once progress moves again it is no longer linear from the start, so
      // the window misplaces the finish, and only the jump cap bounds the lag:
      // maxGapMs.
      expect(lagMs).toBeGreaterThanOrEqual(0);
      expect(lagMs).toBeLessThanOrEqual(maxGapMs);
    },
  );
});
