// When to read a task next. Pure functions of what the reads so far have shown,
// so the schedule is unit-tested without timers and tuned offline
// (src/simulator/replay.ts) and over HTTP (`npm run bench`).
//
// The budget (DESIGN.md): over a mix of tasks from 1 s to 2 min, a result is
// noticed within ~10 % of the task's own time (P50; 25 % P90, floor 150 ms), a
// failure within 500 ms + 25 %, at about one read per 2 s of generation. A
// fixed interval cannot do that across such a range, so the schedule is an
// estimate of the finish, refined at every read:
//
// - start: one read with the submit (a fast upstream is answered at once),
//   the next at secondLookMs;
// - blind (no progress that moves): reads thin out geometrically, each gap a
//   share of the time already elapsed, so the lag is a bounded share of the
//   task's time whatever its length. The share is smallest where this model's
//   tasks usually finish (learned online, see latency-model.ts), and the gap
//   never exceeds blindMaxGapMs (no worse than a fixed 2 s poller);
// - with progress: the progress values read so far bound the rate of a linear
//   run, and so the finish; the next read aims just after the earliest possible
//   finish, which either finds the result or narrows the window to a sliver. A
//   run that has bent before, or has risen only once, is trusted no further
//   than a blind read;
// - always: a guard read at most 400 ms + 24 % of the elapsed time after the
//   last one while the task is young (an upstream refuses a prompt a second or
//   two in, whatever its progress said), and no later than lateGuardShare
//   times the elapsed time after that.

/** A read that reported progress. */
export interface ProgressRead {
  /** Since the submit was accepted. */
  atMs: number;
  /** 0..1, as the upstream reported it (whole percent, rounded down). */
  progress: number;
}

/** Where this model's tasks usually finish, learned from what the gateway saw. */
export interface LatencyPrior {
  lowMs: number;
  highMs: number;
}

export interface ScheduleInput {
  /** Since the submit was accepted. */
  elapsedMs: number;
  prior: LatencyPrior;
  /** The reads that reported progress, oldest first; only the recent ones matter. */
  reads: readonly ProgressRead[];
}

export interface ScheduleTuning {
  /** The shortest gap between reads, except right at a predicted finish. */
  minGapMs: number;
  /**
   * The second look (the first is at the submit): none of the tasks this
   * schedule is held to ends sooner, and a look earlier learns little.
   */
  secondLookMs: number;
  /** The sparsest a task is ever read. */
  maxGapMs: number;
  /**
   * The sparsest a task whose progress tells nothing is read: without an
   * estimate, a long task's lag is this gap, so it stays close to a fixed 2 s
   * poller's (whose lag the schedule must beat in every band, DESIGN.md).
   */
  blindMaxGapMs: number;
  /** Blind gap as a share of elapsed time inside the prior's window... */
  denseShare: number;
  /** ...before it (a task far quicker than this model's usual)... */
  earlyShare: number;
  /** ...and after it. */
  sparseShare: number;
  /** Guard gap: this much plus guardShare × elapsed, until guardUntilMs. */
  guardBaseMs: number;
  guardShare: number;
  /** After this, the guard thins out to lateGuardShare × elapsed. */
  guardUntilMs: number;
  lateGuardShare: number;
  /**
   * How late after the earliest possible finish a read may land, and the gap
   * while the finish is due any moment: this share of the elapsed time, at
   * least finalGapMs. A lag of a few percent of the task's own time is
   * invisible to the caller and saves the reads that would pin it to 1 %.
   */
  finishShare: number;
  finalGapMs: number;
  /** The most that slack may be, however long the task (a long task's lag stays under a fixed poller's). */
  finishSlackMaxMs: number;
}

// Tuned by replaying the bench's task mix (src/simulator/task-mix.ts, seeds
// 1–16) over a grid of values: the cheapest in reads (worst seed ≤ 1 read per
// 2 s) that keeps every duration band's lag within budget with margin, below a
// fixed 2 s poller's in every band, and every quick failure within 500 ms + 25 %.
export const defaultTuning: ScheduleTuning = {
  minGapMs: 350,
  secondLookMs: 900,
  maxGapMs: 20_000,
  blindMaxGapMs: 2_000,
  denseShare: 0.35,
  earlyShare: 0.4,
  sparseShare: 0.6,
  guardBaseMs: 400,
  guardShare: 0.24,
  guardUntilMs: 2_500,
  lateGuardShare: 3,
  finishShare: 0.1,
  finalGapMs: 50,
  finishSlackMaxMs: 1_000,
};

/** The resolution of "NN%": a reported p means the true fraction is in [p, p + 1 %). */
const resolution = 0.01;
/** History kept per task: enough to span a linear run, bounded in memory. */
export const maxProgressReads = 12;

export interface FinishWindow {
  earliest: number;
  latest: number;
  /** Progress before this run did not fit its line after it had moved: it has stalled before. */
  bent: boolean;
  /**
   * How many times progress rose within the run. A line through one rise is
   * a guess (progress that moves in coarse steps looks like that), so it is
   * trusted no further than a blind read.
   */
  rises: number;
}

/**
 * The window in which the task can finish, if progress has been growing
 * linearly since some recent read. Walking back from the latest read, each
 * earlier read bounds the rate (the two values are each known to 1 %); the run
 * ends where a read no longer fits one line (a queue, or a stall, before it).
 * Undefined when progress has not moved within the run, or the current value
 * has been shown longer than the run's rate allows (a stall now).
 */
export function finishWindowMs(reads: readonly ProgressRead[]): FinishWindow | undefined {
  const last = reads[reads.length - 1];
  if (last === undefined || last.progress >= 1) return undefined;
  let low = 0;
  let high = Number.POSITIVE_INFINITY;
  let moved = false;
  let bent = false;
  let rises = 0;
  let previous = last.progress;
  for (let k = reads.length - 2; k >= 0; k--) {
    const read = reads[k] as ProgressRead;
    const span = last.atMs - read.atMs;
    if (span <= 0) continue;
    const rise = last.progress - read.progress;
    if (rise < 0) break; // progress went backwards: a new run starts after it
    const nextLow = Math.max(low, (rise - resolution) / span);
    const nextHigh = Math.min(high, (rise + resolution) / span);
    if (nextLow > nextHigh) {
      // Not one line with the reads after it. If the current value has been
      // shown too long for the rate before, the task is stalled right now.
      if (!moved) return undefined;
      // A wait before the first move is a queue, and says nothing of the rest.
      bent = read.progress > (reads[0] as ProgressRead).progress;
      break;
    }
    low = nextLow;
    high = nextHigh;
    if (rise > 0) moved = true;
    if (read.progress < previous) rises++;
    previous = read.progress;
  }
  if (!moved || !Number.isFinite(high)) return undefined;
  const remaining = 1 - last.progress;
  return {
    earliest: last.atMs + Math.max(0, remaining - resolution) / high,
    latest: low > 0 ? last.atMs + remaining / low : Number.POSITIVE_INFINITY,
    bent,
    rises,
  };
}

/** The longest gap a young task may go unread: how late a failure can be noticed. */
export function guardGapMs(elapsedMs: number, tuning: ScheduleTuning = defaultTuning): number {
  if (elapsedMs >= tuning.guardUntilMs) {
    return clamp(tuning.lateGuardShare * elapsedMs, tuning.minGapMs, tuning.maxGapMs);
  }
  return Math.min(tuning.maxGapMs, tuning.guardBaseMs + tuning.guardShare * elapsedMs);
}

/** Geometric thinning: each gap a share of the elapsed time, denser where tasks usually end. */
export function blindGapMs(
  elapsedMs: number,
  prior: LatencyPrior | undefined,
  tuning: ScheduleTuning = defaultTuning,
): number {
  const early = prior !== undefined && elapsedMs < prior.lowMs * 0.5;
  const likely = prior !== undefined && !early && elapsedMs <= prior.highMs * 1.5;
  const share = likely ? tuning.denseShare : early ? tuning.earlyShare : tuning.sparseShare;
  return clamp(share * elapsedMs, tuning.minGapMs, Math.min(tuning.maxGapMs, tuning.blindMaxGapMs));
}

/** Delay before the next read of a task that is still running. */
export function nextReadDelayMs(
  input: ScheduleInput,
  tuning: ScheduleTuning = defaultTuning,
): number {
  const { elapsedMs } = input;
  if (elapsedMs < tuning.secondLookMs - tuning.finalGapMs) return tuning.secondLookMs - elapsedMs;
  const guard = guardGapMs(elapsedMs, tuning);
  const blind = Math.min(guard, blindGapMs(elapsedMs, input.prior, tuning));
  const window = finishWindowMs(input.reads);
  if (window === undefined) return blind;
  if (elapsedMs >= window.latest) {
    // Past the latest finish the progress allowed: progress is not linear
    // (it stalled, or sits at its top while the result is stored). Dense just
    // after, then no sparser than a blind read.
    return Math.min(blind, Math.max(tuning.finalGapMs, (elapsedMs - window.latest) / 2));
  }
  const slack = clamp(tuning.finishShare * elapsedMs, tuning.finalGapMs, tuning.finishSlackMaxMs);
  const aim = Math.min(window.latest, window.earliest + slack);
  // Progress that has bent before may bend again, and a line through one
  // rise may be a step: no sparser than a blind read.
  const limit = window.bent || window.rises < 2 ? blind : guard;
  return Math.min(limit, Math.max(slack, aim - elapsedMs));
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
