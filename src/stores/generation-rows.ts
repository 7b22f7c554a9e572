// What the two engines' generation stores share: the row as stored, how it
// reads back as a record, and the SQL fragments of the usage reports (the
// same text in SQLite and PostgreSQL, so the two count alike).
import type {
  ChannelUsageReport,
  FailureInfo,
  GenerationRecord,
  GenerationState,
  RecentQuery,
  StoredResult,
  TaskPlan,
  UsageReport,
} from "../generation/record.js";

export interface GenerationRow {
  id: string;
  tenant_id: string;
  created_at: number;
  finished_at: number | null;
  model: string;
  requested_model: string;
  n: number;
  state: GenerationState;
  upstream_task_id: string | null;
  channel_id: string | null;
  images: number;
  plan: string | null;
  results: string | null;
  error: string | null;
  request_hash: string | null;
  idempotency_key: string | null;
  delivered_at: number | null;
  ready_at: number | null;
}

export function toRecord(row: GenerationRow): GenerationRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    model: row.model,
    requestedModel: row.requested_model,
    n: row.n,
    state: row.state,
    upstreamTaskId: row.upstream_task_id,
    channelId: row.channel_id,
    images: row.images,
    plan: row.plan === null ? null : (JSON.parse(row.plan) as TaskPlan),
    results: row.results === null ? [] : (JSON.parse(row.results) as StoredResult[]),
    error: row.error === null ? null : (JSON.parse(row.error) as FailureInfo),
    requestHash: row.request_hash,
    idempotencyKey: row.idempotency_key,
    deliveredAt: row.delivered_at,
    readyAt: row.ready_at,
  };
}

/**
 * The WHERE clause and parameters of a RecentQuery, with `$n` or `?`
 * placeholders as the engine takes them; newest first, by creation then id.
 */
export function recentQuerySql(
  query: RecentQuery,
  placeholder: (index: number) => string,
  /** How ids compare: byte order on both engines (PostgreSQL's default is its locale's). */
  idColumn = "id",
): { sql: string; params: Array<string | number> } {
  const params: Array<string | number> = [];
  const next = (value: string | number) => {
    params.push(value);
    return placeholder(params.length);
  };
  const conditions: string[] = [];
  if (query.tenantId !== undefined) conditions.push(`tenant_id = ${next(query.tenantId)}`);
  if (query.state !== undefined) conditions.push(`state = ${next(query.state)}`);
  if (query.before !== undefined) {
    const at = next(query.before.createdAt);
    const atAgain = next(query.before.createdAt);
    conditions.push(
      `(created_at < ${at} OR (created_at = ${atAgain} AND ${idColumn} < ${next(query.before.id)}))`,
    );
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
  const sql = `SELECT * FROM generations ${where} ORDER BY created_at DESC, ${idColumn} DESC LIMIT ${next(query.limit)}`;
  return { sql, params };
}

/** States as an SQL list; they are fixed words of record.ts, never input. */
export function stateList(states: readonly GenerationState[]): string {
  return states.map((state) => `'${state}'`).join(", ");
}

// A refused submit created no task, so it costs nothing and uses no budget.
export const countsAgainstBudget = "state <> 'refused'";
export const reachedUpstream = "state NOT IN ('refused', 'pending')";

/** A tenant's usage by day and model: the columns of UsageRow. */
export const usageColumns = `day, model,
            COUNT(*) AS requests,
            SUM(CASE WHEN ${reachedUpstream} THEN 1 ELSE 0 END) AS upstream_tasks,
            SUM(CASE WHEN ${reachedUpstream} THEN n ELSE 0 END) AS images_requested,
            SUM(images) AS images,
            SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END) AS succeeded,
            SUM(CASE WHEN state IN ('failed', 'unknown', 'error') THEN 1 ELSE 0 END) AS failed`;

/** A channel's usage by day: the columns of ChannelUsageRow. */
export const channelUsageColumns = `day,
            COUNT(*) AS submits,
            SUM(images) AS images,
            SUM(CASE WHEN state IN ('failed', 'unknown', 'error') THEN 1 ELSE 0 END) AS failures`;

export function usageTotals(data: UsageReport["data"]): UsageReport["totals"] {
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
  return totals;
}

export function channelUsageTotals(data: ChannelUsageReport["data"]): ChannelUsageReport["totals"] {
  const totals = { submits: 0, images: 0, failures: 0 };
  for (const row of data) {
    totals.submits += row.submits;
    totals.images += row.images;
    totals.failures += row.failures;
  }
  return totals;
}
