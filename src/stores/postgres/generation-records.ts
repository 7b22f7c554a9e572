// Generation records in PostgreSQL (the repository of generation/record.ts),
// shared by every replica. The same rows and state machine as the embedded
// store (stores/sqlite/generation-records.ts); what differs is concurrency:
// the daily budget is checked and reserved under a per-tenant transaction lock,
// so replicas admitting at once cannot both take its last images, and the
// Idempotency-Key's unique index decides which replica's request came first.
//
// Outcomes and deliveries (nothing waits on them) are written in the
// background; every read of this process waits for its own writes first. A
// write that fails (the database restarting) is retried until it lands: a
// task's outcome is what its tenant paid for.
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import {
  type ChannelUsageRow,
  type GenerationOutcome,
  type GenerationRecords,
  IdempotencyKeyTaken,
  LeaseLost,
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
import { unavailableDependency } from "../unavailable.js";
import {
  inTransaction,
  isUniqueViolation,
  type Listener,
  listen,
  type Pool,
  sqlNowMs,
} from "./database.js";

/** The channel a final outcome is announced on (the payload: the generation's id). */
const finalChannel = "imagegate_generation_final";

/** Waits between the attempts of a background write: the last repeats until it lands. */
const retryDelaysMs = [50, 200, 1_000, 2_000, 5_000];

export interface PostgresLedger extends GenerationRecords {
  /** Settles once every background write of this process has landed (or was given up at close). */
  drain(): Promise<void>;
  /** Stops retrying: writes still failing are reported to onWriteError. */
  close(): Promise<void>;
}

/**
 * A write fenced by the lease: only the replica that watches the generation
 * (or nobody, for a row copied by store migrate) may move it on.
 */
const ownedBy = (param: string) => `(owner = ${param} OR owner IS NULL)`;

export interface PostgresLedgerOptions {
  /** The database URL, for the connection that listens for outcomes. */
  url: string;
  /** This replica's name in the leases it holds. */
  owner: string;
  /** How long a lease lasts without renewal (default 10 s). */
  leaseMs?: number;
  /**
   * How old a reservation must be before another replica may judge it
   * (default 5 min: longer than any submit takes, its references' upload included).
   */
  pendingGraceMs?: number;
  onWriteError?: (err: unknown) => void;
  /** The connection that listens for outcomes dropped (it reconnects). */
  onListenError?: (err: Error) => void;
}

export function createPostgresGenerationRecords(
  pool: Pool,
  clock: Clock,
  options: PostgresLedgerOptions,
): PostgresLedger {
  /** Background writes not yet landed, by generation id. */
  const pending = new Map<string, Set<Promise<void>>>();
  let closed = false;
  const { owner } = options;
  const leaseMs = options.leaseMs ?? 10_000;
  const pendingGraceMs = options.pendingGraceMs ?? 300_000;
  const listeners = new Set<(id: string) => void>();
  let listener: Listener | undefined;

  /**
   * A write nothing waits on, for generation `id`. While the database is
   * away it is retried until it lands (a task's outcome is what its tenant
   * paid for); any other failure is reported and given up at once.
   */
  function background(id: string, sql: string, values: unknown[]): void {
    const written = (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await pool.query(sql, values);
          return;
        } catch (err) {
          if (closed || unavailableDependency(err) === undefined) {
            options.onWriteError?.(err);
            return;
          }
          const delay = retryDelaysMs[Math.min(attempt, retryDelaysMs.length - 1)] as number;
          if (attempt === 2) options.onWriteError?.(err);
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      }
    })();
    const writes = pending.get(id) ?? new Set<Promise<void>>();
    writes.add(written);
    pending.set(id, writes);
    void written.finally(() => {
      writes.delete(written);
      if (writes.size === 0 && pending.get(id) === writes) pending.delete(id);
    });
  }

  /** Before a read: this process's own writes (of generation `id`, or all) are in. */
  async function settled(id?: string): Promise<void> {
    const writes =
      id === undefined
        ? [...pending.values()].flatMap((each) => [...each])
        : [...(pending.get(id) ?? [])];
    if (writes.length > 0) await Promise.all(writes);
  }

  const usedToday = async (tenantId: string, query = pool.query.bind(pool)) => {
    const result = await query(
      `SELECT COALESCE(SUM(n), 0) AS used FROM generations
        WHERE tenant_id = $1 AND day = $2 AND ${countsAgainstBudget}`,
      [tenantId, utcDay(clock.now())],
    );
    return Number((result.rows[0] as { used: number } | undefined)?.used ?? 0);
  };

  // Reserved by this replica, which watches it under a lease from now on.
  const insertSql = `INSERT INTO generations (id, tenant_id, day, created_at, model, requested_model,
                                              n, state, plan, request_hash, idempotency_key,
                                              owner, lease_expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10,
                             $11, ${sqlNowMs} + $12)`;

  async function reserve(request: ReserveRequest): Promise<string> {
    const { tenant, n } = request;
    const now = clock.now();
    const id = newId("gen");
    const values = [
      id,
      tenant.id,
      utcDay(now),
      now,
      request.model,
      request.requestedModel,
      n,
      request.plan === undefined ? null : JSON.stringify(request.plan),
      request.requestHash ?? null,
      request.idempotencyKey ?? null,
      owner,
      leaseMs,
    ];
    try {
      if (tenant.imagesPerDay === null) {
        await pool.query(insertSql, values);
        return id;
      }
      const limit = tenant.imagesPerDay;
      await inTransaction(pool, async (client) => {
        // One reservation per tenant at a time, on every replica: the sum and
        // the insert are one step. Released at commit.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('budget:' || $1))", [tenant.id]);
        const used = await usedToday(tenant.id, client.query.bind(client));
        if (used + n > limit) {
          throw gatewayError("insufficient_quota", { used, limit, asked: n });
        }
        await client.query(insertSql, values);
      });
      return id;
    } catch (err) {
      if (isUniqueViolation(err) && request.idempotencyKey !== undefined) {
        throw new IdempotencyKeyTaken();
      }
      throw err;
    }
  }

  // Every replica learns of the outcome (a caller may wait on another one).
  const finishSql = (state: GenerationOutcome["state"]) =>
    `WITH finished AS (
       UPDATE generations SET state = $2, images = $3, error_code = $4, finished_at = $5,
              results = $6, error = $7,
              upstream_task_id = COALESCE($8, upstream_task_id),
              channel_id = COALESCE($9, channel_id), ready_at = $11
        WHERE id = $1 AND state IN (${stateList(predecessorsOf(state))})
          AND ${ownedBy("$10")}
        RETURNING id)
     SELECT pg_notify('${finalChannel}', id) FROM finished`;

  const rows = async (sql: string, values: unknown[], id?: string) => {
    await settled(id);
    return (await pool.query(sql, values)).rows as GenerationRow[];
  };
  const one = async (sql: string, values: unknown[], id?: string) => {
    const [row] = await rows(sql, values, id);
    return row === undefined ? undefined : toRecord(row);
  };

  return {
    reserve,
    // reserve() settles once the row is committed.
    reserved: async () => {},
    async submitted(id, upstreamTaskId, channelId) {
      const updated = await pool.query(
        `UPDATE generations SET state = 'running', upstream_task_id = $2, channel_id = $3
          WHERE id = $1 AND state IN (${stateList(predecessorsOf("running"))})
            AND ${ownedBy("$4")}`,
        [id, upstreamTaskId, channelId ?? null, owner],
      );
      if (updated.rowCount === 0) {
        const found = await pool.query<{ owner: string | null }>(
          "SELECT owner FROM generations WHERE id = $1",
          [id],
        );
        const current = found.rows[0]?.owner;
        if (current !== undefined && current !== null && current !== owner) {
          throw new LeaseLost(id);
        }
      }
    },
    finished(id, outcome) {
      background(id, finishSql(outcome.state), [
        id,
        outcome.state,
        outcome.state === "succeeded" ? outcome.images : 0,
        outcome.state === "succeeded" ? null : outcome.errorCode,
        clock.now(),
        outcome.state === "succeeded" && outcome.results !== undefined
          ? JSON.stringify(outcome.results)
          : null,
        outcome.state !== "succeeded" && outcome.error !== undefined
          ? JSON.stringify(outcome.error)
          : null,
        outcome.upstreamTaskId ?? null,
        outcome.state === "succeeded" ? null : (outcome.channelId ?? null),
        owner,
        outcome.state === "succeeded" ? (outcome.readyAt ?? null) : null,
      ]);
    },
    delivered(id) {
      // Not guarded by state: a caller is answered from memory, sometimes
      // before the succeeded outcome is written.
      background(
        id,
        "UPDATE generations SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL",
        [id, clock.now()],
      );
    },
    get: (id) => one("SELECT * FROM generations WHERE id = $1", [id], id),
    byIdempotencyKey: (tenantId, key) =>
      one("SELECT * FROM generations WHERE tenant_id = $1 AND idempotency_key = $2", [
        tenantId,
        key,
      ]),
    async joinableForRequest(tenantId, requestHash, since) {
      const found = await rows(
        `SELECT * FROM generations
          WHERE tenant_id = $1 AND request_hash = $2 AND created_at >= $3
            AND state <> 'refused' AND delivered_at IS NULL
            AND (state IN ('pending', 'running') OR finished_at >= $4)
          ORDER BY created_at DESC LIMIT 20`,
        [tenantId, requestHash, since.createdSince, since.finishedSince],
      );
      return found.map(toRecord);
    },
    async recent(query) {
      const { sql, params } = recentQuerySql(query, (index) => `$${index}`, 'id COLLATE "C"');
      return (await rows(sql, params)).map(toRecord);
    },
    async unfinished() {
      const found = await rows(
        "SELECT * FROM generations WHERE state IN ('pending', 'running') ORDER BY created_at",
        [],
      );
      return found.map(toRecord);
    },
    async releaseIdempotencyKey(id) {
      await pool.query("UPDATE generations SET idempotency_key = NULL WHERE id = $1", [id]);
    },
    async imagesToday(tenantId) {
      await settled();
      return usedToday(tenantId);
    },
    async report(tenantId, from, to) {
      await settled();
      const data = (
        await pool.query<UsageRow>(
          `SELECT ${usageColumns}
             FROM generations
            WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
            GROUP BY day, model
            ORDER BY day, model`,
          [tenantId, from, to],
        )
      ).rows;
      return { object: "usage", tenant_id: tenantId, from, to, data, totals: usageTotals(data) };
    },
    async channelReport(channelId, from, to) {
      await settled();
      const data = (
        await pool.query<ChannelUsageRow>(
          `SELECT ${channelUsageColumns}
             FROM generations
            WHERE channel_id = $1 AND day BETWEEN $2 AND $3 AND ${reachedUpstream}
            GROUP BY day
            ORDER BY day`,
          [channelId, from, to],
        )
      ).rows;
      return {
        object: "channel_usage",
        channel_id: channelId,
        from,
        to,
        data,
        totals: channelUsageTotals(data),
      };
    },
    subscribe(listen_: (id: string) => void) {
      listeners.add(listen_);
      listener ??= listen(
        options.url,
        finalChannel,
        (id) => {
          for (const each of listeners) each(id);
        },
        options.onListenError,
      );
      return () => listeners.delete(listen_);
    },
    leases: {
      leaseMs,
      async renew() {
        await pool.query(
          `UPDATE generations SET lease_expires_at = ${sqlNowMs} + $2
            WHERE owner = $1 AND state IN ('pending', 'running')`,
          [owner, leaseMs],
        );
      },
      async claimExpired(limit) {
        // SKIP LOCKED: replicas claiming at once take different generations.
        const claimed = await pool.query<GenerationRow>(
          `WITH expired AS (
             SELECT id FROM generations
              WHERE state IN ('pending', 'running')
                AND (lease_expires_at IS NULL OR lease_expires_at < ${sqlNowMs})
                -- A reservation may still be on its way upstream from a live
                -- replica that lost touch with the database for a while: it
                -- is judged unconfirmed only once no submit can be under way.
                AND (state = 'running' OR created_at < $4)
              ORDER BY created_at
              LIMIT $3
              FOR UPDATE SKIP LOCKED)
           UPDATE generations AS g SET owner = $1, lease_expires_at = ${sqlNowMs} + $2
             FROM expired WHERE g.id = expired.id
           RETURNING g.*`,
          [owner, leaseMs, limit, clock.now() - pendingGraceMs],
        );
        return claimed.rows.map(toRecord);
      },
      async giveUp(ids) {
        if (ids.length === 0) return;
        await pool.query(
          "UPDATE generations SET lease_expires_at = 0 WHERE owner = $1 AND id = ANY($2::text[])",
          [owner, ids],
        );
      },
      async release() {
        await settled();
        await pool.query(
          `UPDATE generations SET lease_expires_at = 0
            WHERE owner = $1 AND state IN ('pending', 'running')`,
          [owner],
        );
      },
    },
    drain: settled,
    async close() {
      closed = true;
      await settled();
      await listener?.close();
    },
  };
}
