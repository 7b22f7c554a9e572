// Usage accounting and the daily image budget. One row per generation, written
// before the submit (so a budget check and its reservation are one atomic
// step) and updated as the task progresses; usage reports aggregate the rows.
import type { Clock } from "../clock.js";
import { GatewayError } from "../errors.js";
import { newId } from "./ids.js";
import type { Db } from "./store.js";
import type { Tenant } from "./vault.js";

/**
 * pending: reserved, not yet submitted · running: the upstream has the task ·
 * succeeded · failed: the upstream's FAILURE · refused: the submit was
 * definitely refused (no task, no charge) · unknown: the submit may have
 * reached the upstream · error: submitted, then lost, timed out or not
 * downloadable.
 */
export type GenerationState =
  | "pending"
  | "running"
  | "succeeded"
  | "failed"
  | "refused"
  | "unknown"
  | "error";

export type GenerationOutcome =
  | { state: "succeeded"; images: number }
  | { state: "failed" | "refused" | "unknown" | "error"; errorCode: string };

export interface UsageRow {
  day: string;
  model: string;
  /** Generations asked of the gateway (after validation). */
  requests: number;
  /** Tasks the upstream received or may have received: what the upstream bills. */
  upstream_tasks: number;
  /** Images asked for in those tasks (`n`). */
  images_requested: number;
  /** Images delivered to the caller. */
  images: number;
  succeeded: number;
  failed: number;
}

export interface UsageReport {
  object: "usage";
  tenant_id: string;
  from: string;
  to: string;
  data: UsageRow[];
  totals: Omit<UsageRow, "day" | "model">;
}

export interface ReserveRequest {
  tenant: Tenant;
  model: string;
  requestedModel: string;
  n: number;
}

export interface UsageLedger {
  /** Records a generation about to be submitted; throws 429 insufficient_quota past the daily budget. */
  reserve(request: ReserveRequest): string;
  submitted(id: string, upstreamTaskId: string): void;
  finished(id: string, outcome: GenerationOutcome): void;
  /** Images counted against the tenant's budget today. */
  imagesToday(tenantId: string): number;
  report(tenantId: string, from: string, to: string): UsageReport;
}

/** The UTC calendar day of a clock time, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// A refused submit created no task, so it costs nothing and uses no budget.
const countsAgainstBudget = "state <> 'refused'";
const reachedUpstream = "state NOT IN ('refused', 'pending')";

export function createUsageLedger(db: Db, clock: Clock): UsageLedger {
  const insert = db.prepare(
    `INSERT INTO generations (id, tenant_id, day, created_at, model, requested_model, n, state)
     VALUES (@id, @tenant_id, @day, @created_at, @model, @requested_model, @n, 'pending')`,
  );
  const usedToday = db.prepare<[string, string], { used: number | null }>(
    `SELECT SUM(n) AS used FROM generations
      WHERE tenant_id = ? AND day = ? AND ${countsAgainstBudget}`,
  );
  const markSubmitted = db.prepare(
    "UPDATE generations SET state = 'running', upstream_task_id = ? WHERE id = ?",
  );
  const markFinished = db.prepare(
    `UPDATE generations SET state = @state, images = @images, error_code = @error_code,
            finished_at = @finished_at
      WHERE id = @id`,
  );
  const aggregate = db.prepare<[string, string, string], UsageRow>(
    `SELECT day, model,
            COUNT(*) AS requests,
            SUM(CASE WHEN ${reachedUpstream} THEN 1 ELSE 0 END) AS upstream_tasks,
            SUM(CASE WHEN ${reachedUpstream} THEN n ELSE 0 END) AS images_requested,
            SUM(images) AS images,
            SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END) AS succeeded,
            SUM(CASE WHEN state IN ('failed', 'unknown', 'error') THEN 1 ELSE 0 END) AS failed
       FROM generations
      WHERE tenant_id = ? AND day BETWEEN ? AND ?
      GROUP BY day, model
      ORDER BY day, model`,
  );

  const imagesToday = (tenantId: string) => usedToday.get(tenantId, utcDay(clock.now()))?.used ?? 0;

  // Check and insert in one transaction: two concurrent requests cannot both
  // take the last images of the budget.
  const reserveTx = db.transaction((request: ReserveRequest): string => {
    const { tenant, n } = request;
    const now = clock.now();
    if (tenant.imagesPerDay !== null) {
      const used = imagesToday(tenant.id);
      if (used + n > tenant.imagesPerDay) {
        const left = Math.max(0, tenant.imagesPerDay - used);
        throw new GatewayError({
          status: 429,
          type: "insufficient_quota",
          code: "insufficient_quota",
          message: `This key's daily image budget is used up: ${used} of ${tenant.imagesPerDay} images today (UTC), ${left} left, ${n} asked for. It resets at 00:00 UTC.`,
          retryable: false,
        });
      }
    }
    const id = newId("gen");
    insert.run({
      id,
      tenant_id: tenant.id,
      day: utcDay(now),
      created_at: now,
      model: request.model,
      requested_model: request.requestedModel,
      n,
    });
    return id;
  });

  return {
    reserve: (request) => reserveTx(request),
    submitted(id, upstreamTaskId) {
      markSubmitted.run(upstreamTaskId, id);
    },
    finished(id, outcome) {
      markFinished.run({
        id,
        state: outcome.state,
        images: outcome.state === "succeeded" ? outcome.images : 0,
        error_code: outcome.state === "succeeded" ? null : outcome.errorCode,
        finished_at: clock.now(),
      });
    },
    imagesToday,
    report(tenantId, from, to) {
      const data = aggregate.all(tenantId, from, to);
      const totals = {
        requests: 0,
        upstream_tasks: 0,
        images_requested: 0,
        images: 0,
        succeeded: 0,
        failed: 0,
      };
      for (const row of data) {
        for (const field of Object.keys(totals) as Array<keyof typeof totals>) {
          totals[field] += row[field];
        }
      }
      return { object: "usage", tenant_id: tenantId, from, to, data, totals };
    },
  };
}
