// Generation records in the embedded database (the repository of
// generation/record.ts). One row per generation, written before the submit
// (so a budget check and its reservation are one atomic step) and updated as
// the task progresses; every update moves the state only as record.ts allows.
//
// Group commit (stores/sqlite/write-queue.ts): the writes nothing waits on (a task's
// outcome, its delivery) are queued and committed together, at the end of the
// event-loop turn or with the next write that must be on disk at once (a
// reservation before its submit, a task id as soon as the upstream gives it:
// what a restart needs to resume every submitted task). Every read commits the
// queue first, so the store always reads its writes.
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import {
  type ChannelUsageRow,
  type GenerationOutcome,
  type GenerationRecords,
  IdempotencyKeyTaken,
  predecessorsOf,
  type ReserveRequest,
  type UsageRow,
  utcDay,
} from "../../generation/record.js";
import { newId } from "../../tenancy/ids.js";
import {
  channelUsageColumns,
  channelUsageTotals,
  countsAgainstBudget,
  type GenerationRow,
  reachedUpstream,
  recentQuerySql,
  stateList,
  toRecord,
  usageColumns,
  usageTotals,
} from "../generation-rows.js";
import type { Db } from "./database.js";
import { createWriteQueue, type WriteQueue } from "./write-queue.js";

export interface LedgerOptions {
  /** The database's group commit, shared with the other writers of the same file. */
  writes?: WriteQueue;
  /** A queued write that failed for good (when the ledger makes its own queue). */
  onWriteError?: (err: unknown) => void;
}

const finalStates: ReadonlyArray<GenerationOutcome["state"]> = [
  "succeeded",
  "failed",
  "refused",
  "unknown",
  "error",
];

export function createSqliteGenerationRecords(
  db: Db,
  clock: Clock,
  options: LedgerOptions = {},
): GenerationRecords {
  const insert = db.prepare(
    `INSERT INTO generations (id, tenant_id, day, created_at, model, requested_model, n, state,
                              plan, request_hash, idempotency_key)
     VALUES (@id, @tenant_id, @day, @created_at, @model, @requested_model, @n, 'pending',
             @plan, @request_hash, @idempotency_key)`,
  );
  const usedToday = db.prepare<[string, string], { used: number | null }>(
    `SELECT SUM(n) AS used FROM generations
      WHERE tenant_id = ? AND day = ? AND ${countsAgainstBudget}`,
  );
  // Every update moves the state only as record.ts's state machine allows:
  // a write arriving for a generation already final changes nothing.
  const markSubmitted = db.prepare(
    `UPDATE generations SET state = 'running', upstream_task_id = ?, channel_id = ?
      WHERE id = ? AND state IN (${stateList(predecessorsOf("running"))})`,
  );
  const finishStatements = new Map(
    finalStates.map((state) => [
      state,
      db.prepare(
        `UPDATE generations SET state = @state, images = @images, error_code = @error_code,
                finished_at = @finished_at, results = @results, error = @error,
                upstream_task_id = COALESCE(@upstream_task_id, upstream_task_id),
                channel_id = COALESCE(@channel_id, channel_id), ready_at = @ready_at
          WHERE id = @id AND state IN (${stateList(predecessorsOf(state))})`,
      ),
    ]),
  );
  const selectOne = db.prepare<[string], GenerationRow>("SELECT * FROM generations WHERE id = ?");
  const selectByKey = db.prepare<[string, string], GenerationRow>(
    "SELECT * FROM generations WHERE tenant_id = ? AND idempotency_key = ?",
  );
  const selectJoinable = db.prepare<[string, string, number, number], GenerationRow>(
    `SELECT * FROM generations
      WHERE tenant_id = ? AND request_hash = ? AND created_at >= ?
        AND state <> 'refused' AND delivered_at IS NULL
        AND (state IN ('pending', 'running') OR finished_at >= ?)
      ORDER BY created_at DESC LIMIT 20`,
  );
  const markDelivered = db.prepare(
    // Not guarded by state: a caller is answered from memory, sometimes before
    // the succeeded outcome (written once the files are stored) is committed.
    "UPDATE generations SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
  );
  const clearKey = db.prepare("UPDATE generations SET idempotency_key = NULL WHERE id = ?");
  const selectUnfinished = db.prepare<[], GenerationRow>(
    "SELECT * FROM generations WHERE state IN ('pending', 'running') ORDER BY created_at",
  );
  const aggregate = db.prepare<[string, string, string], UsageRow>(
    `SELECT ${usageColumns}
       FROM generations
      WHERE tenant_id = ? AND day BETWEEN ? AND ?
      GROUP BY day, model
      ORDER BY day, model`,
  );

  const channelAggregate = db.prepare<[string, string, string], ChannelUsageRow>(
    `SELECT ${channelUsageColumns}
       FROM generations
      WHERE channel_id = ? AND day BETWEEN ? AND ? AND ${reachedUpstream}
      GROUP BY day
      ORDER BY day`,
  );

  const writes = options.writes ?? createWriteQueue(db, options.onWriteError);
  const { commit, flush } = writes;
  // Nothing waits on these; a write given up is reported through onWriteError.
  const defer = (write: () => void) => void writes.defer(write).catch(() => {});
  /** Reservations not yet committed, by record id. */
  const reservations = new Map<string, Promise<void>>();

  const usedImages = (tenantId: string): number => {
    flush();
    return usedToday.get(tenantId, utcDay(clock.now()))?.used ?? 0;
  };

  // Check and insert with no await in between: better-sqlite3 is synchronous,
  // so two concurrent requests of this process cannot both take the last
  // images of the budget (and a single INSERT needs no explicit transaction).
  const reserve = async (request: ReserveRequest): Promise<string> => {
    const { tenant, n } = request;
    const now = clock.now();
    if (tenant.imagesPerDay !== null) {
      const used = usedImages(tenant.id);
      if (used + n > tenant.imagesPerDay) {
        throw gatewayError("insufficient_quota", { used, limit: tenant.imagesPerDay, asked: n });
      }
    }
    const id = newId("gen");
    const row = {
      id,
      tenant_id: tenant.id,
      day: utcDay(now),
      created_at: now,
      model: request.model,
      requested_model: request.requestedModel,
      n,
      plan: request.plan === undefined ? null : JSON.stringify(request.plan),
      request_hash: request.requestHash ?? null,
      idempotency_key: request.idempotencyKey ?? null,
    };
    if (request.idempotencyKey !== undefined) {
      // At once: a second request with the key must meet the unique index now.
      try {
        commit(() => insert.run(row));
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE") {
          throw new IdempotencyKeyTaken();
        }
        throw err;
      }
      return id;
    }
    // With the other reservations of this turn: one commit for all of them,
    // awaited (reserved()) before any of their submits goes out.
    const written = writes.defer(() => insert.run(row));
    reservations.set(id, written);
    const forget = () => reservations.delete(id);
    written.then(forget, forget);
    return id;
  };

  return {
    reserve,
    reserved(id) {
      return reservations.get(id) ?? Promise.resolve();
    },
    submitted(id, upstreamTaskId, channelId) {
      // With the others of this turn. A restart must find the task id of
      // everything submitted, so nothing announces the task (the async API's
      // answer) before this settles (regression: kill.test.ts).
      return writes.defer(() => markSubmitted.run(upstreamTaskId, channelId ?? null, id));
    },
    finished(id, outcome) {
      const finishedAt = clock.now();
      defer(() =>
        finishStatements.get(outcome.state)?.run({
          id,
          state: outcome.state,
          images: outcome.state === "succeeded" ? outcome.images : 0,
          error_code: outcome.state === "succeeded" ? null : outcome.errorCode,
          finished_at: finishedAt,
          results:
            outcome.state === "succeeded" && outcome.results !== undefined
              ? JSON.stringify(outcome.results)
              : null,
          error:
            outcome.state !== "succeeded" && outcome.error !== undefined
              ? JSON.stringify(outcome.error)
              : null,
          upstream_task_id: outcome.upstreamTaskId ?? null,
          channel_id: outcome.state === "succeeded" ? null : (outcome.channelId ?? null),
          ready_at: outcome.state === "succeeded" ? (outcome.readyAt ?? null) : null,
        }),
      );
    },
    async get(id) {
      flush();
      const row = selectOne.get(id);
      return row ? toRecord(row) : undefined;
    },
    async byIdempotencyKey(tenantId, key) {
      flush();
      const row = selectByKey.get(tenantId, key);
      return row ? toRecord(row) : undefined;
    },
    async joinableForRequest(tenantId, requestHash, since) {
      flush();
      return selectJoinable
        .all(tenantId, requestHash, since.createdSince, since.finishedSince)
        .map(toRecord);
    },
    delivered(id) {
      const deliveredAt = clock.now();
      defer(() => markDelivered.run(deliveredAt, id));
    },
    async recent(query) {
      flush();
      const { sql, params } = recentQuerySql(query, () => "?");
      return db
        .prepare<Array<string | number>, GenerationRow>(sql)
        .all(...params)
        .map(toRecord);
    },
    async unfinished() {
      flush();
      return selectUnfinished.all().map(toRecord);
    },
    async releaseIdempotencyKey(id) {
      commit(() => clearKey.run(id));
    },
    imagesToday: async (tenantId) => usedImages(tenantId),
    async report(tenantId, from, to) {
      flush();
      const data = aggregate.all(tenantId, from, to);
      const totals = usageTotals(data);
      return { object: "usage", tenant_id: tenantId, from, to, data, totals };
    },
    async channelReport(channelId, from, to) {
      flush();
      const data = channelAggregate.all(channelId, from, to);
      const totals = channelUsageTotals(data);
      return { object: "channel_usage", channel_id: channelId, from, to, data, totals };
    },
  };
}
