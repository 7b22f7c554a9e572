// With replicas (PostgreSQL): this replica's part in "each task watched by
// exactly one live replica". It renews the leases of the generations it
// watches, and takes over those whose replica died (their leases ran out):
// a task the upstream accepted is watched from here on, a submit that was in
// flight is never sent again (resume.ts decides, as after a restart).
//
// Renewal runs on its own timer, never behind a take-over. And after this
// replica lost touch with the database (a renewal or a claim failed), it
// claims nothing until it has renewed for a whole lease again: every live
// replica lost touch too, and must get the chance to renew its own leases
// before anyone judges them dead.
import type { Clock, TimerHandle } from "../clock.js";
import type { Log } from "./generate.js";
import type { GenerationRecord, TaskLeases } from "./record.js";

export interface TakeoverOptions {
  leases: TaskLeases;
  /** Picks up generations taken over; the ids of those it could not (their leases are given up). */
  resume(records: GenerationRecord[]): Promise<{ resumed: number; failed: string[] }>;
  clock: Clock;
  log: Log;
  /** How often expired leases are looked for (default a fifth of the lease, at most 2 s). */
  claimEveryMs?: number;
}

export interface Takeover {
  /** At shutdown, first: nothing more is taken over (renewal goes on). */
  stopClaiming(): Promise<void>;
  /** Then: stops renewing; this replica's leases end now, and another takes them over. */
  close(): Promise<void>;
}

/** How many generations one look takes over; the next look takes more. */
const claimBatch = 100;

export function startTakeover(options: TakeoverOptions): Takeover {
  const { leases, clock, log } = options;
  const renewEveryMs = Math.max(10, Math.floor(leases.leaseMs / 3));
  const claimEveryMs = options.claimEveryMs ?? Math.min(2_000, Math.floor(leases.leaseMs / 5));
  let claiming = true;
  let renewing = true;
  /** Since when renewals have succeeded without a break; undefined: the last one failed. */
  let healthySince: number | undefined = Number.NEGATIVE_INFINITY;
  const lostTouch = () => {
    healthySince = undefined;
  };

  const renew = async () => {
    try {
      await leases.renew();
      healthySince ??= clock.now();
    } catch (err) {
      lostTouch();
      // Renewed at a third of the lease: two more tries before another replica may claim.
      log.warn({ err }, "could not renew this replica's task leases");
    }
  };

  const claim = async () => {
    if (healthySince === undefined || clock.now() - healthySince < leases.leaseMs) return;
    try {
      while (claiming) {
        const records = await leases.claimExpired(claimBatch);
        if (records.length === 0) return;
        const { resumed, failed } = await options.resume(records);
        await leases.giveUp(failed);
        log.info(
          { claimed: records.length, resumed, failed: failed.length },
          "took over generations whose replica stopped",
        );
        if (records.length < claimBatch) return;
      }
    } catch (err) {
      lostTouch();
      log.warn({ err }, "could not take over expired task leases");
    }
  };

  /** Runs `work` every `ms` until `running()` says stop; returns the work under way. */
  const every = (ms: number, work: () => Promise<void>, running: () => boolean) => {
    let timer: TimerHandle | undefined;
    let current: Promise<void> = Promise.resolve();
    const tick = () => {
      timer = undefined;
      if (!running()) return;
      current = work().then(() => {
        if (running()) arm();
      });
    };
    const arm = () => {
      timer = clock.setTimeout(tick, ms);
      timer.unref?.();
    };
    return {
      start: tick,
      async stop() {
        if (timer !== undefined) clock.clearTimeout(timer);
        await current;
      },
    };
  };

  const renewals = every(renewEveryMs, renew, () => renewing);
  const claims = every(claimEveryMs, claim, () => claiming);
  // At start: a renewal, and what the replicas that stopped left, at once.
  renewals.start();
  claims.start();

  return {
    async stopClaiming() {
      claiming = false;
      await claims.stop();
    },
    async close() {
      claiming = false;
      renewing = false;
      await claims.stop();
      await renewals.stop();
      try {
        await leases.release();
      } catch (err) {
        log.warn({ err }, "could not hand this replica's task leases over; they expire instead");
      }
    },
  };
}
