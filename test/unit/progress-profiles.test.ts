// The simulator's progress profiles (the shapes the schedule is benchmarked
// against) and how a simulated task shows them: "NN%" rounded down, never
// 100% before the end, and a failure that may come before its progress did.
import { describe, expect, it } from "vitest";
import {
  isProgressProfile,
  type ProgressProfile,
  progressAt,
  progressProfiles,
} from "../../src/simulator/progress.js";
import { parseDirectives, readAnswer, type SimTask, viewTask } from "../../src/simulator/tasks.js";

/** Exact fractions below are compared to 1e-9: the profiles divide. */
const digits = 9;

describe("progressAt: each profile's shape", () => {
  it.each<{ profile: ProgressProfile; points: [number, number][] }>([
    {
      profile: "linear",
      points: [
        [0, 0],
        [0.25, 0.25],
        [0.5, 0.5],
        [1, 1],
      ],
    },
    {
      // 30% of the time at 0 (waiting for a worker), then linear to the end.
      profile: "queued",
      points: [
        [0, 0],
        [0.29, 0],
        [0.3, 0],
        [0.65, 0.5],
        [1, 1],
      ],
    },
    {
      // Half-way by 30% of the time, held until 70%, then the rest.
      profile: "stall",
      points: [
        [0, 0],
        [0.15, 0.25],
        [0.3, 0.5],
        [0.5, 0.5],
        [0.69, 0.5],
        [0.85, 0.75],
        [1, 1],
      ],
    },
    {
      // Quarter steps: the value jumps, it never climbs in between.
      profile: "steps",
      points: [
        [0, 0],
        [0.24, 0],
        [0.25, 0.25],
        [0.49, 0.25],
        [0.5, 0.5],
        [0.99, 0.75],
        [1, 1],
      ],
    },
    {
      // Fast first, slow at the end: three quarters done at half the time.
      profile: "curve",
      points: [
        [0, 0],
        [0.5, 0.75],
        [0.9, 0.99],
        [1, 1],
      ],
    },
  ])("$profile", ({ profile, points }) => {
    for (const [fraction, expected] of points) {
      expect(progressAt(profile, fraction), `at ${fraction}`).toBeCloseTo(expected, digits);
    }
  });

  it("none reports nothing, at any time", () => {
    for (const fraction of [0, 0.5, 1, 2]) expect(progressAt("none", fraction)).toBeUndefined();
  });

  it.each(progressProfiles.filter((p) => p !== "none"))(
    "%s climbs from 0 to 1 without going back, clamped outside the task's time",
    (profile) => {
      let previous = -1;
      for (let i = 0; i <= 1_000; i++) {
        const value = progressAt(profile, i / 1_000) as number;
        expect(value).toBeGreaterThanOrEqual(previous);
        expect(value).toBeLessThanOrEqual(1);
        previous = value;
      }
      expect(progressAt(profile, -0.5)).toBe(0);
      expect(progressAt(profile, 3)).toBe(1);
    },
  );

  it("recognises the profile names and nothing else", () => {
    for (const profile of progressProfiles) expect(isProgressProfile(profile)).toBe(true);
    for (const name of ["", "Linear", "stalled", "toString"]) {
      expect(isProgressProfile(name)).toBe(false);
    }
  });
});

describe("prompt directives for progress and failure", () => {
  it("reads [sim:progress=…] and [sim:fail_after=…]", () => {
    const directives = parseDirectives(
      "a cat [sim:progress=stall] [sim:fail=nsfw] [sim:fail_after=1500]",
    );
    expect(directives.profile).toBe("stall");
    expect(directives.failReason).toBe("nsfw");
    expect(directives.failAfterMs).toBe(1_500);
  });

  it("ignores an unknown profile and leaves both unset without directives", () => {
    expect(parseDirectives("[sim:progress=zigzag]").profile).toBeUndefined();
    const plain = parseDirectives("a cat");
    expect(plain.profile).toBeUndefined();
    expect(plain.failAfterMs).toBeUndefined();
  });
});

const submittedAt = 1_000_000;

function simTask(overrides: Partial<SimTask> = {}): SimTask {
  return {
    info: {
      taskId: "aiimg_1",
      key: "sim-key",
      model: "gpt-image-2",
      requestedModel: "gpt-image-2",
      prompt: "a cat",
      n: 1,
      body: {},
      submittedAt,
    },
    durationMs: 10_000,
    images: 1,
    format: "png",
    failReason: undefined,
    lose: false,
    expire: false,
    omitProgress: false,
    profile: "linear",
    failAfterMs: undefined,
    ...overrides,
  };
}

/** The view `elapsedMs` after the submit. */
const viewAt = (task: SimTask, elapsedMs: number) =>
  viewTask(task, submittedAt + elapsedMs, "upper");

const percentOf = (progress: string | undefined) => Number(progress?.replace("%", ""));

describe("viewTask: progress as the upstream shows it", () => {
  it.each([
    { elapsedMs: 0, progress: "0%" },
    { elapsedMs: 1_234, progress: "12%" },
    { elapsedMs: 1_299, progress: "12%" },
    // 2 900 / 10 000 × 100 is 28.999… in floating point: still 29%.
    { elapsedMs: 2_900, progress: "29%" },
    { elapsedMs: 5_700, progress: "57%" },
    { elapsedMs: 9_999, progress: "99%" },
  ])(
    "shows whole percent rounded down: $progress at $elapsedMs ms of 10 s",
    ({ elapsedMs, progress }) => {
      const view = viewAt(simTask(), elapsedMs);
      expect(view.progress).toBe(progress);
      expect(view.done).toBe(false);
    },
  );

  it.each([
    { profile: "linear", last: "99%" },
    { profile: "queued", last: "99%" },
    { profile: "stall", last: "99%" },
    // Steps jump to 100% only at the end.
    { profile: "steps", last: "75%" },
    // The curve is at 99.99…% a millisecond before its end: still 99%.
    { profile: "curve", last: "99%" },
  ] as const)("$profile: never shows 100% before the end, and 100% at it", ({ profile, last }) => {
    const task = simTask({ profile, durationMs: 7_000 });
    let previous = -1;
    for (let elapsed = 0; elapsed < 7_000; elapsed += 7) {
      const view = viewAt(task, elapsed);
      expect(view.done).toBe(false);
      const percent = percentOf(view.progress);
      expect(percent).toBeLessThanOrEqual(99);
      expect(percent).toBeGreaterThanOrEqual(previous);
      previous = percent;
    }
    expect(viewAt(task, 6_999).progress).toBe(last);
    const end = viewAt(task, 7_000);
    expect(end).toMatchObject({ status: "SUCCESS", progress: "100%", done: true, failed: false });
  });

  it("keeps 99% when the last sliver rounds up to 100", () => {
    // 0.01 ms before the end the curve is 1 − 2e-12: the epsilon that keeps
    // exact percents whole (29% above) would make it 100.
    expect(viewAt(simTask({ profile: "curve", durationMs: 7_000 }), 6_999.99).progress).toBe("99%");
  });

  it("holds the stall profile's 50% through its stall", () => {
    const task = simTask({ profile: "stall" });
    for (const elapsed of [3_000, 4_000, 5_500, 6_999]) {
      expect(viewAt(task, elapsed).progress).toBe("50%");
    }
    expect(viewAt(task, 7_300).progress).toBe("55%");
  });

  it("shows no progress for the none profile, nor when the spelling omits it", () => {
    expect(viewAt(simTask({ profile: "none" }), 5_000).progress).toBeUndefined();
    expect(viewAt(simTask({ profile: "none" }), 10_000).progress).toBeUndefined();
    expect(viewAt(simTask({ omitProgress: true }), 5_000).progress).toBeUndefined();
  });
});

describe("viewTask: failures", () => {
  it("fails at fail_after with the progress it had, while heading for its duration", () => {
    const task = simTask({ failReason: "nsfw", failAfterMs: 1_500 });
    expect(viewAt(task, 1_499)).toMatchObject({ progress: "14%", done: false, failed: false });
    const failed = viewAt(task, 1_500);
    expect(failed).toMatchObject({ status: "FAILURE", progress: "15%", done: true, failed: true });
    expect(viewAt(task, 60_000)).toMatchObject({ status: "FAILURE", done: true, failed: true });
    const answer = readAnswer(task, submittedAt + 1_500, "upper", "http://sim");
    expect(answer.data).toMatchObject({ status: "FAILURE", progress: "15%", fail_reason: "nsfw" });
    expect(answer.data).not.toHaveProperty("result_url");
  });

  it("freezes a failed task's progress where it failed, however late it is read", () => {
    // 10 s of linear progress, failing at 1.5 s: 15% then, and at every read after.
    const task = simTask({ failReason: "nsfw", failAfterMs: 1_500 });
    for (const elapsedMs of [1_500, 5_000, 9_000, 9_999, 10_000, 60_000]) {
      expect(viewAt(task, elapsedMs), `at ${elapsedMs} ms`).toMatchObject({
        status: "FAILURE",
        progress: "15%",
        done: true,
        failed: true,
      });
    }
    for (const elapsedMs of [5_000, 9_000]) {
      const answer = readAnswer(task, submittedAt + elapsedMs, "upper", "http://sim");
      expect(answer.data).toMatchObject({
        status: "FAILURE",
        progress: "15%",
        fail_reason: "nsfw",
      });
    }
  });

  it.each([
    // Held at 50% from 3 s to 7 s of 10.
    { profile: "stall", failAfterMs: 5_000, progress: "50%" },
    // 0% for the first 3 s of 10.
    { profile: "queued", failAfterMs: 2_000, progress: "0%" },
    // Three quarters done at half the time.
    { profile: "curve", failAfterMs: 5_000, progress: "75%" },
    { profile: "steps", failAfterMs: 6_000, progress: "50%" },
  ] as const)(
    "$profile: frozen at $progress after failing at $failAfterMs ms",
    ({ profile, failAfterMs, progress }) => {
      const task = simTask({ profile, failReason: "nsfw", failAfterMs });
      for (const elapsedMs of [failAfterMs, 9_000, 30_000]) {
        expect(viewAt(task, elapsedMs), `at ${elapsedMs} ms`).toMatchObject({
          progress,
          failed: true,
        });
      }
    },
  );

  it("a failed task without progress still shows none", () => {
    const none = simTask({ profile: "none", failReason: "nsfw", failAfterMs: 1_500 });
    const omitted = simTask({ omitProgress: true, failReason: "nsfw", failAfterMs: 1_500 });
    for (const task of [none, omitted]) {
      expect(viewAt(task, 5_000)).toMatchObject({ status: "FAILURE", failed: true });
      expect(viewAt(task, 5_000).progress).toBeUndefined();
    }
  });

  it("without fail_after, fails at its duration showing 100%", () => {
    const task = simTask({ failReason: "nsfw" });
    expect(viewAt(task, 9_999)).toMatchObject({ progress: "99%", done: false });
    expect(viewAt(task, 10_000)).toMatchObject({
      status: "FAILURE",
      progress: "100%",
      done: true,
      failed: true,
    });
  });

  it("ignores fail_after on a task that does not fail", () => {
    const task = simTask({ failAfterMs: 1_500 });
    expect(viewAt(task, 1_500)).toMatchObject({ done: false, failed: false });
    expect(viewAt(task, 10_000)).toMatchObject({ status: "SUCCESS", done: true });
  });

  it("a fail_after past the duration: 99% until it fails, never 100% before", () => {
    const task = simTask({ failReason: "timeout", failAfterMs: 15_000 });
    expect(viewAt(task, 12_000)).toMatchObject({ progress: "99%", done: false });
    expect(viewAt(task, 15_000)).toMatchObject({ progress: "100%", done: true, failed: true });
  });
});
