// With replicas (PostgreSQL): this replica's part in "each task watched by
// exactly one live replica". It renews the leases of the generations it
// watches, and takes over those whose replica died (their leases ran out):
// a task the upstream accepted is watched from here on, a submit that was in
// flight is never sent again (resume.ts decides, as after a restart).
import type { Clock, TimerHandle } from "../clock.js";
import type { Log } from "./generate.js";
import type { GenerationRecord, TaskLeases } from "./record.js";

export interface TakeoverOptions {
  leases: TaskLeases;
  /** Picks up generations taken over; returns how many are watched again. */
  resume(records: GenerationRecord[]): Promise<number>;
  clock: Clock;
  log: Log;
  /** How often expired leases are looked for (default a fifth of the lease, at most 2 s). */
  claimEveryMs?: number;
}

export interface Takeover {
  /** Stops renewing and claiming; this replica's leases end now (another takes them over). */
  close(): Promise<void>;
}

/** How many generations one look takes over; the next look takes more. */
const claimBatch = 100;

export function startTakeover(options: TakeoverOptions): Takeover {
  const { leases, clock, log } = options;
  const renewEveryMs = Math.max(100, Math.floor(leases.leaseMs / 3));
  const claimEveryMs = options.claimEveryMs ?? Math.min(2_000, Math.floor(leases.leaseMs / 5));
  let closed = false;
  let renewTimer: TimerHandle | undefined;
  let claimTimer: TimerHandle | undefined;
  let working: Promise<void> = Promise.resolve();

  const renew = async () => {
    try {
      await leases.renew();
    } catch (err) {
      // Renewed at a third of the lease: two more tries before another replica may claim.
      log.warn({ err }, "could not renew this replica's task leases");
    }
  };

  const claim = async () => {
    try {
      for (;;) {
        const records = await leases.claimExpired(claimBatch);
        if (records.length === 0) return;
        const resumed = await options.resume(records);
        log.info(
          { claimed: records.length, resumed },
          "took over generations whose replica stopped",
        );
        if (records.length < claimBatch || closed) return;
      }
    } catch (err) {
      log.warn({ err }, "could not take over expired task leases");
    }
  };

  const every = (ms: number, run: () => Promise<void>, set: (timer: TimerHandle) => void) => {
    const tick = () => {
      if (closed) return;
      working = working.then(run);
      void working.then(() => {
        if (!closed) set(arm());
      });
    };
    const arm = () => {
      const timer = clock.setTimeout(tick, ms);
      timer.unref?.();
      return timer;
    };
    set(arm());
  };

  // At start: what the replicas that stopped left, at once.
  working = claim();
  every(renewEveryMs, renew, (timer) => {
    renewTimer = timer;
  });
  every(claimEveryMs, claim, (timer) => {
    claimTimer = timer;
  });

  return {
    async close() {
      closed = true;
      if (renewTimer !== undefined) clock.clearTimeout(renewTimer);
      if (claimTimer !== undefined) clock.clearTimeout(claimTimer);
      await working;
      try {
        await leases.release();
      } catch (err) {
        log.warn({ err }, "could not hand this replica's task leases over; they expire instead");
      }
    },
  };
}
