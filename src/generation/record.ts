// The generation record: one per generation, from its reservation to its
// delivery, and the repository interface its stores implement
// (stores/sqlite/generation-records.ts). Usage reports, the daily budget,
// resume after a restart, the async API and retry joining all read it.
//
// Its life is a small state machine (`transitions`): reserved (pending) →
// submitted (running) → succeeded | failed | error, or straight from the
// reservation to refused (nothing was charged) or unknown (the submit may have
// reached the upstream). A final state is never left; a succeeded generation
// is then delivered (delivered_at) once a caller received its images.
import type { Echo } from "../catalog/answer.js";
import type { Tenant } from "../tenancy/vault.js";

/**
 * pending: reserved, not yet submitted · running: the upstream has the task ·
 * succeeded · failed: the upstream's FAILURE · refused: the submit was
 * definitely refused (no task, no charge) · unknown: the submit may have
 * reached the upstream · error: submitted, then lost, timed out or not
 * downloadable.
 */
export const generationStates = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "refused",
  "unknown",
  "error",
] as const;
export type GenerationState = (typeof generationStates)[number];

/**
 * Where each state may go. Pending may end in any final state directly (a
 * submitted write that was lost is set again by the outcome); running stays
 * running while a synchronous call fails over (the record names the channel
 * being tried); final states stay.
 */
export const transitions: Readonly<Record<GenerationState, readonly GenerationState[]>> = {
  pending: ["running", "succeeded", "failed", "refused", "unknown", "error"],
  running: ["running", "succeeded", "failed", "refused", "unknown", "error"],
  succeeded: [],
  failed: [],
  refused: [],
  unknown: [],
  error: [],
};

/** The states a generation may be in before moving to `to`. */
export function predecessorsOf(to: GenerationState): GenerationState[] {
  return (Object.keys(transitions) as GenerationState[]).filter((from) =>
    transitions[from].includes(to),
  );
}

/**
 * A masked edit: the blob ids of the caller's first image and mask, kept in
 * the blob store until the results are composited over the image.
 */
export interface MaskBlobs {
  original: string;
  mask: string;
}

/** What it takes to finish and deliver a generation after a restart. */
export interface TaskPlan {
  n: number;
  expectedMs: number;
  responseFormat: "url" | "b64_json";
  echo: Echo;
  /** Set for an edit with a mask: what its results are composited with. */
  mask?: MaskBlobs | undefined;
  /**
   * A synchronous caller waited for it (its answer is a response); otherwise
   * the async API's stored outcome is its answer. Absent in older records.
   */
  waited?: boolean | undefined;
}

/** A result image in the blob store. */
export interface StoredResult {
  id: string;
  contentType: string | undefined;
  size: number;
}

/** The error a failed generation answered with, to answer it again. */
export interface FailureInfo {
  status: number;
  type: string;
  code: string | null;
  message: string;
}

export type GenerationOutcome =
  | {
      state: "succeeded";
      images: number;
      results?: StoredResult[] | undefined;
      /** Set again here, in case the write of `submitted` was lost. */
      upstreamTaskId?: string | undefined;
      /**
       * When the result was ready upstream (epoch ms), as estimated from the
       * reads around it: with delivered_at, the lag the console shows.
       */
      readyAt?: number | undefined;
    }
  | {
      state: "failed" | "refused" | "unknown" | "error";
      errorCode: string;
      error?: FailureInfo | undefined;
      upstreamTaskId?: string | undefined;
      /** An ambiguous submit's channel: the account may bill it, so its usage counts it. */
      channelId?: string | undefined;
    };

export interface GenerationRecord {
  id: string;
  tenantId: string;
  createdAt: number;
  finishedAt: number | null;
  model: string;
  requestedModel: string;
  n: number;
  state: GenerationState;
  upstreamTaskId: string | null;
  /** The channel (upstream account) that accepted the task; null before the submit and in records older than channels. */
  channelId: string | null;
  images: number;
  plan: TaskPlan | null;
  results: StoredResult[];
  error: FailureInfo | null;
  requestHash: string | null;
  idempotencyKey: string | null;
  deliveredAt: number | null;
  /** Estimated moment the result was ready upstream (succeeded only; null before it was recorded). */
  readyAt: number | null;
}

/** The operator's view of recent generations (GET /admin/generations), newest first. */
export interface RecentQuery {
  tenantId?: string | undefined;
  state?: GenerationState | undefined;
  limit: number;
  /** A page after this record (its creation and id): the cursor of the previous page. */
  before?: { createdAt: number; id: string } | undefined;
}

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

export interface ChannelUsageRow {
  day: string;
  /** Tasks the account accepted. */
  submits: number;
  /** Images it delivered. */
  images: number;
  /** Accepted tasks that failed, were lost or timed out. */
  failures: number;
}

export interface ChannelUsageReport {
  object: "channel_usage";
  channel_id: string;
  from: string;
  to: string;
  data: ChannelUsageRow[];
  totals: Omit<ChannelUsageRow, "day">;
}

export interface ReserveRequest {
  tenant: Tenant;
  model: string;
  requestedModel: string;
  n: number;
  plan?: TaskPlan | undefined;
  /** A digest of what was asked, to recognise a retry of the same request. */
  requestHash?: string | undefined;
  idempotencyKey?: string | undefined;
}

/**
 * A reservation whose Idempotency-Key this tenant already holds (another
 * request with the key got there first, on this replica or another): the
 * store's unique index said so, whatever its engine.
 */
export class IdempotencyKeyTaken extends Error {
  constructor() {
    super("this tenant already has a generation with this Idempotency-Key");
    this.name = "IdempotencyKeyTaken";
  }
}

/**
 * This replica no longer holds the generation's lease: another replica took
 * it over (this one lost touch with the database past the lease). Nothing more
 * is sent upstream for it from here.
 */
export class LeaseLost extends Error {
  constructor(readonly recordId: string) {
    super(`generation ${recordId} is watched by another replica now`);
    this.name = "LeaseLost";
  }
}

/** The repository of generation records (SQLite by default). */
export interface GenerationRecords {
  /**
   * Records a generation about to be submitted; throws 429 insufficient_quota
   * past the daily budget (checked and reserved atomically, across replicas),
   * IdempotencyKeyTaken when the key is already this tenant's.
   */
  reserve(request: ReserveRequest): Promise<string>;
  /**
   * Settles once the reservation is on disk (with the others of its turn):
   * its submit goes out only then. Rejects if it could not be written.
   */
  reserved(id: string): Promise<void>;
  /** Settles once the task id (and its channel) is on disk: only then is the task announced. */
  submitted(id: string, upstreamTaskId: string, channelId?: string): Promise<void>;
  /** Written in the background: every later read of this store sees it. */
  finished(id: string, outcome: GenerationOutcome): void;
  /** Images counted against the tenant's budget today. */
  imagesToday(tenantId: string): Promise<number>;
  report(tenantId: string, from: string, to: string): Promise<UsageReport>;
  /** What one channel (upstream account) was given, by day: what the account will bill. */
  channelReport(channelId: string, from: string, to: string): Promise<ChannelUsageReport>;
  get(id: string): Promise<GenerationRecord | undefined>;
  byIdempotencyKey(tenantId: string, key: string): Promise<GenerationRecord | undefined>;
  /**
   * This tenant's generations of the same request that a retry may join,
   * newest first: not refused, never delivered, created at or after
   * `createdSince`, and unfinished or finished at or after `finishedSince`.
   */
  joinableForRequest(
    tenantId: string,
    requestHash: string,
    since: { createdSince: number; finishedSince: number },
  ): Promise<GenerationRecord[]>;
  /** Records that a caller received the generation's images (in the background, like finished). */
  delivered(id: string): void;
  /** Generations a restart must pick up: reserved or running. */
  unfinished(): Promise<GenerationRecord[]>;
  /** The newest generations, of one tenant or state when asked, for the operator. */
  recent(query: RecentQuery): Promise<GenerationRecord[]>;
  /** Frees an expired Idempotency-Key for reuse. */
  releaseIdempotencyKey(id: string): Promise<void>;
  /**
   * Present when replicas share the records (PostgreSQL): which replica
   * watches each unfinished generation. Absent: this process alone does.
   */
  leases?: TaskLeases;
  /**
   * Tells `listener` the id of each generation that became final, whichever
   * replica finished it (PostgreSQL's LISTEN/NOTIFY). Absent: only this
   * process writes outcomes. Returns the unsubscribe.
   */
  subscribe?(listener: (id: string) => void): () => void;
}

/**
 * Each unfinished generation is watched by exactly one live replica, under a
 * lease it renews while it runs. A replica that dies stops renewing; another
 * takes its generations over once their leases have run out.
 */
export interface TaskLeases {
  /** How long a lease lasts without renewal. */
  readonly leaseMs: number;
  /** Extends every lease this replica holds; called well within the lease. */
  renew(): Promise<void>;
  /** Takes over up to `limit` unfinished generations whose lease ran out; returns them. */
  claimExpired(limit: number): Promise<GenerationRecord[]>;
  /** At shutdown: this replica's leases end now, so that another takes them over at once. */
  release(): Promise<void>;
  /** Ends these leases now (generations claimed but not picked up here): another replica tries. */
  giveUp(ids: readonly string[]): Promise<void>;
}

/** The UTC calendar day of a clock time, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
