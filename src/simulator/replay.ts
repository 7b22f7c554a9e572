// Replays a read schedule against a simulated task without timers or HTTP:
// what the gateway would read, when, and how late it would notice the end.
// The unit tests hold the schedule to its budget this way, deterministically;
// `npm run bench` then measures the real thing over HTTP.
import {
  type LatencyPrior,
  maxProgressReads,
  nextReadDelayMs,
  type ProgressRead,
  type ScheduleTuning,
} from "../upstream/schedule.js";
import { progressAt } from "./progress.js";
import type { MixTask } from "./task-mix.js";

export interface Replayed {
  /** From the task's end (result or failure) to the read that saw it. */
  lagMs: number;
  reads: number;
  /** When the task ended, since its submit. */
  endMs: number;
}

/**
 * `readCostMs` is what one read adds (a loopback round trip), so the model's
 * lags are not optimistic.
 */
export function replaySchedule(
  task: MixTask,
  prior: LatencyPrior,
  tuning?: ScheduleTuning,
  readCostMs = 2,
): Replayed {
  const endMs = task.failAfterMs ?? task.durationMs;
  const history: ProgressRead[] = [];
  let t = 0;
  for (let reads = 1; ; reads++) {
    const seenAt = t + readCostMs;
    if (seenAt >= endMs) return { lagMs: seenAt - endMs, reads, endMs };
    const fraction = progressAt(task.profile, t / task.durationMs);
    if (fraction !== undefined) {
      history.push({ atMs: t, progress: Math.min(99, Math.floor(fraction * 100 + 1e-9)) / 100 });
      if (history.length > maxProgressReads) history.shift();
    }
    t = seenAt + nextReadDelayMs({ elapsedMs: seenAt, prior, reads: history }, tuning);
  }
}
