// When to read a task next. Pure functions, so the schedule is unit-tested
// without timers and tuned with `npm run bench`.
//
// The budget (DESIGN.md): on average at most one read per 2 s of generation,
// yet the result noticed within ~150 ms of being ready. A fixed interval cannot
// do both, so the schedule follows the expected finish: sparse early, then a
// read aimed at the estimated finish, then dense reads while overdue, thinning
// out as the estimate is proven wrong.

export interface ScheduleInput {
  /** Since the submit was accepted. */
  elapsedMs: number;
  /** The catalogue's expectation for this model and these parameters. */
  expectedMs: number;
  /** Reads so far (successful ones). */
  reads: number;
  /** 0..1 from the last read, if the upstream reports one. */
  progress: number | undefined;
}

/** The densest we ever read one task. */
export const minGapMs = 200;
/** The sparsest, once a task is long overdue. */
export const maxGapMs = 10_000;

/**
 * Estimated total generation time. Linear extrapolation from progress is
 * trusted only once progress has moved past the submit's token "1%".
 */
export function estimateTotalMs(input: ScheduleInput): number {
  const { elapsedMs, expectedMs, progress } = input;
  if (progress !== undefined && progress >= 0.05 && progress < 1 && elapsedMs >= 500) {
    return elapsedMs / progress;
  }
  return expectedMs;
}

/** Delay before the next read of a task that is still running. */
export function nextReadDelayMs(input: ScheduleInput): number {
  const total = estimateTotalMs(input);
  const remaining = total - input.elapsedMs;
  if (remaining > 0) {
    // Before the expected finish: a first look at about 60% (which, with a
    // progress report, pins the finish down), then straight at the estimate.
    if (input.elapsedMs < total * 0.5 && remaining > 2_000) return remaining * 0.6;
    return Math.max(minGapMs, remaining);
  }
  // Overdue: dense at first, thinning as the overrun grows.
  const overdue = -remaining;
  return Math.min(maxGapMs, Math.max(minGapMs, overdue * 0.25));
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
