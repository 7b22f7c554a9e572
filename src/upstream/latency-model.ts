// What each upstream model's tasks really take, learned from what the gateway
// sees, so the read schedule is dense where tasks usually end. The catalogue's
// expectation (by quality, size, resolution) is the shape; the learning is how
// this account's upstream compares with it, per model: an exponentially
// weighted mean and variance of ln(observed / expected). Kept in memory, written
// to the store in the background (nothing waits on it), read back at start.
import type { Clock, TimerHandle } from "../clock.js";
import type { LatencyPrior } from "./schedule.js";

export interface LatencyStats {
  model: string;
  samples: number;
  /** Mean of ln(observed / expected). */
  meanLog: number;
  /** Variance of the same. */
  varLog: number;
}

export interface LatencyStore {
  load(): Promise<LatencyStats[]>;
  save(rows: readonly LatencyStats[]): Promise<void>;
}

export interface LatencyModel {
  /** Where this model's tasks with this catalogue expectation usually finish. */
  prior(model: string, expectedMs: number): LatencyPrior;
  /** A task that succeeded after `observedMs`. */
  observe(model: string, expectedMs: number, observedMs: number): void;
  /** The learned figures for one model (tests and diagnostics). */
  stats(model: string): LatencyStats | undefined;
  /** Writes what changed since the last write. */
  /** Settles once the stored figures are read (or could not be). */
  loaded(): Promise<void>;
  /** Writes what changed; settles once written (a failed write goes to onError). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Before anything is learned: the catalogue's figure, give or take 2.5×. */
const initialSpread = Math.log(2.5) / 1.645;
/** The window covers about 90 % of tasks: ±1.645 standard deviations. */
const windowZ = 1.645;
/** After this many samples the mean forgets at a constant rate (the upstream changes). */
const memory = 50;
/** Durations under this are round trips, not generation: not learned from. */
const minObservedMs = 50;

export function createLatencyModel(options: {
  store?: LatencyStore;
  clock: Clock;
  /** How often changes are written; default 30 s. */
  flushEveryMs?: number;
  onError?: (err: unknown) => void;
}): LatencyModel {
  const { store, clock } = options;
  const stats = new Map<string, LatencyStats>();
  const dirty = new Set<string>();
  // Read in the background; a model observed before its row arrives keeps what
  // it learned. On failure: the catalogue's figures, a little lag until learned again.
  const loaded = (store?.load() ?? Promise.resolve([])).then(
    (rows) => {
      for (const row of rows) if (!stats.has(row.model)) stats.set(row.model, row);
    },
    (err: unknown) => options.onError?.(err),
  );
  let timer: TimerHandle | undefined;
  let saving: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    if (dirty.size === 0 || store === undefined) return saving;
    const rows = [...dirty].map((model) => ({ ...(stats.get(model) as LatencyStats) }));
    dirty.clear();
    // Learning is an optimisation: losing a write costs a little lag, never a result.
    saving = saving.then(() => store.save(rows)).catch((err: unknown) => options.onError?.(err));
    return saving;
  }

  return {
    prior(model, expectedMs) {
      const row = stats.get(model);
      const mean = row?.meanLog ?? 0;
      const spread = row === undefined ? initialSpread : Math.sqrt(row.varLog);
      return {
        lowMs: expectedMs * Math.exp(mean - windowZ * spread),
        highMs: expectedMs * Math.exp(mean + windowZ * spread),
      };
    },
    observe(model, expectedMs, observedMs) {
      const usable = Number.isFinite(observedMs) && Number.isFinite(expectedMs) && expectedMs > 0;
      if (!usable || observedMs < minObservedMs) return;
      const value = Math.log(observedMs / expectedMs);
      const row = stats.get(model) ?? {
        model,
        samples: 0,
        meanLog: 0,
        varLog: initialSpread ** 2,
      };
      const weight = 1 / Math.min(row.samples + 2, memory);
      const delta = value - row.meanLog;
      row.meanLog += weight * delta;
      row.varLog = (1 - weight) * (row.varLog + weight * delta * delta);
      row.samples++;
      stats.set(model, row);
      dirty.add(model);
      if (timer === undefined && store !== undefined) {
        timer = clock.setTimeout(flush, options.flushEveryMs ?? 30_000);
        timer.unref?.();
      }
    },
    stats(model) {
      const row = stats.get(model);
      return row === undefined ? undefined : { ...row };
    },
    loaded: () => loaded,
    flush,
    close: flush,
  };
}
