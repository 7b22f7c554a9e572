// Time behind one seam. The poller, deadlines, URL expiry and the blob sweeper
// take a Clock, so tests drive time with vitest's fake timers (which replace
// the globals these functions look up at call time) or with a manual clock.

export interface TimerHandle {
  unref?: () => unknown;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
