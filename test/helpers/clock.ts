import { type Clock, systemClock } from "../../src/clock.js";

/** The real clock, whose now() can be moved forward (timers stay real). */
export function shiftableClock(): Clock & { shift(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
    shift(ms: number) {
      offset += ms;
    },
  };
}
