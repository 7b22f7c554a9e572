// When to read a task next. Pure functions, so the schedule is unit-tested
// without timers and tuned with `npm run bench`.
//
// The budget (DESIGN.md): on average at most one read per 2 s of generation,
// yet the result noticed within ~150 ms of being ready. A fixed interval cannot
// do both, so the schedule follows the expected finish: one early look to learn
// the upstream's progress, then a read aimed at the estimated finish, then
// dense reads while overdue, thinning out as the estimate is proven wrong.

export interface ScheduleInput {
  /** Since the submit was accepted. */
  elapsedMs: number;
  /** The catalogue's expectation for this model and these parameters. */
  expectedMs: number;
  /** 0..1 from the last read, if the upstream reports one. */
  progress: number | undefined;
}

/** The densest we ever read one task. */
export const minGapMs = 200;
/** The sparsest, once a task is long overdue or its estimate is far off. */
export const maxGapMs = 10_000;

/** Fractions of the expected time at which to look when the upstream gives no usable progress. */
const priorCheckpoints = [0.25, 0.6, 1] as const;

/**
 * Estimated total generation time from progress, by linear extrapolation;
 * trusted only once progress has moved past the submit's token "1%".
 */
export function progressEstimateMs(input: ScheduleInput): number | undefined {
  const { elapsedMs, progress } = input;
  if (progress === undefined || progress < 0.05 || progress >= 1 || elapsedMs < 500) {
    return undefined;
  }
  return elapsedMs / progress;
}

/** Delay before the next read of a task that is still running. */
export function nextReadDelayMs(input: ScheduleInput): number {
  const { elapsedMs, expectedMs } = input;
  const estimate = progressEstimateMs(input);
  if (estimate !== undefined) {
    // Aim straight at the estimated finish; cap the jump in case progress is
    // not linear (a long queue, then a fast render).
    return clamp(estimate - elapsedMs, minGapMs, Math.max(maxGapMs, elapsedMs));
  }
  // No usable progress: an early look (which, if the upstream reports
  // progress, pins the finish down), then the expected finish.
  for (const fraction of priorCheckpoints) {
    const at = fraction * expectedMs;
    if (at - elapsedMs >= minGapMs) return at - elapsedMs;
  }
  // Overdue: dense at first, thinning as the overrun grows.
  return clamp((elapsedMs - expectedMs) * 0.25, minGapMs, maxGapMs);
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** Backoff after a failed read: exponential with jitter, honouring Retry-After. */
export function errorBackoffMs(
  consecutiveErrors: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(30_000, 500 * 2 ** Math.max(0, consecutiveErrors - 1));
  const jittered = exponential * (0.75 + random() * 0.5);
  return Math.max(jittered, retryAfterMs ?? 0);
}
