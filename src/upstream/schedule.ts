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
  /**
   * Elapsed time when this progress value was first reported. A value that
   * stops moving is how a stalled task shows; a caller that omits it gets
   * elapsedMs, and so never sees a stall (its reads stay dense).
   */
  progressSinceMs?: number | undefined;
}

/**
 * The shortest gap between reads of one task, except in the last moments
 * before the finish that progress predicts (see finalGapMs).
 */
export const minGapMs = 200;
/** The sparsest, once a task is long overdue or its estimate is far off. */
export const maxGapMs = 10_000;

/** Fractions of the expected time at which to look when the upstream gives no usable progress. */
const priorCheckpoints = [0.25, 0.6, 1] as const;

/** How late after the earliest possible finish a read may land: the lag we accept to save reads. */
const finishSlackMs = 100;
/** The gap between reads while the finish is due any moment. */
const finalGapMs = 50;
/** How fast reads thin out once a task is overdue: the gap is this share of the overrun. */
const overdueShare = 1 / 3;

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

/**
 * When the task can finish, if progress grows linearly and is reported in
 * whole percent rounded down ("NN%"): first seen at t1 and still shown at t2,
 * the true fraction was at least p at t1 and is below p + 1% at t2, so the
 * finish lies in (t2 / (p + 1%), t1 / p].
 */
export function progressWindowMs(
  input: ScheduleInput,
): { earliest: number; latest: number } | undefined {
  const { elapsedMs, progress } = input;
  if (progressEstimateMs(input) === undefined || progress === undefined) return undefined;
  const since = Math.min(input.progressSinceMs ?? elapsedMs, elapsedMs);
  return {
    earliest: elapsedMs / Math.min(1, progress + 0.01),
    // Below t2/(p + 1%) when progress is not linear (it stalled, or was
    // already this far at the first read): the caller then treats the task
    // as overdue.
    latest: since / progress,
  };
}

/** Delay before the next read of a task that is still running. */
export function nextReadDelayMs(input: ScheduleInput): number {
  const { elapsedMs, expectedMs } = input;
  const window = progressWindowMs(input);
  if (window !== undefined) {
    // Progress has stalled past its own estimate: thin out as for an overdue task.
    if (elapsedMs >= window.latest) return overdueDelayMs(elapsedMs - window.latest);
    // Aim just after the earliest possible finish (never past the latest):
    // a read there either finds the result or pins the finish down to about
    // 1% of the task, and the next one lands on it.
    const delay = Math.min(window.latest, window.earliest + finishSlackMs) - elapsedMs;
    // Cap the jump at maxGapMs in case progress is not linear (a long queue,
    // or a stall, then a fast render): at most one read per 10 s, well within
    // the budget of one per 2 s, and a wrong estimate costs at most 10 s.
    if (delay >= minGapMs) return Math.min(delay, maxGapMs);
    return Math.max(delay, finalGapMs);
  }
  // No usable progress: early looks (which, if the upstream reports progress,
  // pin the finish down), then the expected finish.
  for (const fraction of priorCheckpoints) {
    const at = fraction * expectedMs;
    if (at - elapsedMs >= minGapMs) return at - elapsedMs;
  }
  return overdueDelayMs(elapsedMs - expectedMs);
}

/** Overdue: dense at first, thinning as the overrun grows. */
function overdueDelayMs(overrunMs: number): number {
  return clamp(overrunMs * overdueShare, minGapMs, maxGapMs);
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
