// Picking up generations no process watches: at start, those a previous
// process left unfinished; with replicas, those of a replica that died. A task
// the upstream accepted is watched and collected again; a submit that was in
// flight when the process stopped may or may not have reached the upstream,
// so it is never sent again (a second submit is a second charge).

import type { Channel } from "../channels/channel.js";
import { defaultChannelId, privateChannelId } from "../channels/channel.js";
import type { ChannelRegistry } from "../channels/registry.js";
import { gatewayError } from "../errors.js";
import { isSyncTaskId } from "../providers/openai/models.js";
import type { ConcurrencyGate } from "../tenancy/limits.js";
import type { Vault } from "../tenancy/vault.js";
import { failureInfo, type GenerationService, type Log } from "./generate.js";
import type { GenerationRecord, GenerationRecords } from "./record.js";

export interface ResumeDeps {
  ledger: GenerationRecords;
  vault: Vault;
  generation: GenerationService;
  channels: ChannelRegistry;
  log: Log;
  /** Each resumed task counts against its tenant's max_concurrent until it is final. */
  gate?: ConcurrencyGate;
}

/**
 * The channel that accepted a record's task: the one it names, or for a record
 * older than channels, what served its tenant then (its own key, else the
 * environment's default account).
 */
async function channelOf(record: GenerationRecord, deps: ResumeDeps): Promise<Channel | undefined> {
  const { vault, channels } = deps;
  const tenant = await vault.getTenant(record.tenantId);
  const own = tenant === undefined ? undefined : await vault.upstreamCredential(tenant);
  const id =
    record.channelId ?? (own === undefined ? defaultChannelId : privateChannelId(record.tenantId));
  if (id === privateChannelId(record.tenantId)) {
    return own === undefined ? undefined : channels.privateChannel(record.tenantId, own);
  }
  return channels.byId(id);
}

/** At start, with the embedded store: everything the last process left. Returns how many were resumed. */
export async function resumeUnfinished(deps: ResumeDeps): Promise<number> {
  const { resumed } = await resumeRecords(await deps.ledger.unfinished(), deps);
  if (resumed > 0) {
    deps.log.info({ resumed }, "resumed generations left running by the last process");
  }
  return resumed;
}

/**
 * Picks up unfinished generations no process watches any more (after a
 * restart, or taken over from a replica that died). Returns how many are
 * watched again, and the ids of those that could not be picked up (another
 * replica may try them).
 */
export async function resumeRecords(
  records: readonly GenerationRecord[],
  deps: ResumeDeps,
): Promise<{ resumed: number; failed: string[] }> {
  let resumed = 0;
  const failed: string[] = [];
  for (const record of records) {
    try {
      if (await resumeRecord(record, deps)) resumed++;
    } catch (err) {
      deps.log.warn({ err, recordId: record.id }, "could not pick up an unfinished generation");
      failed.push(record.id);
    }
  }
  return { resumed, failed };
}

/** Watches one generation again, or settles it; true when it is watched here now. */
async function resumeRecord(record: GenerationRecord, deps: ResumeDeps): Promise<boolean> {
  const { ledger, generation } = deps;
  // Watched here already: a lease this replica let lapse (the database was
  // away past it) and claimed back.
  if (generation.running(record.id) !== undefined) return false;
  const taskId = record.state === "running" ? record.upstreamTaskId : null;
  const channel = taskId === null ? undefined : await channelOf(record, deps);
  const submitting = taskId === null;
  // A synchronous call died with the process that made it: its answer is
  // gone, and it may have been billed, so it is not made again.
  const syncCall = taskId !== null && isSyncTaskId(taskId);
  if (taskId === null || syncCall || channel === undefined) {
    const error =
      submitting || syncCall
        ? gatewayError("upstream_submit_unconfirmed", {
            restart: submitting ? "submitting" : "sync_call",
          })
        : gatewayError("upstream_credential_missing", { taskId: record.upstreamTaskId });
    ledger.finished(record.id, {
      state: "unknown",
      errorCode: error.code,
      error: failureInfo(error),
    });
    return false;
  }
  // Counted, never refused: the task runs upstream already.
  const release = await deps.gate?.acquire(record.tenantId, null).catch((err: unknown) => {
    // Watched all the same: the task runs upstream, and its outcome is what was paid for.
    deps.log.warn(
      { err, recordId: record.id },
      "a resumed task could not be counted against its tenant's slots",
    );
    return undefined;
  });
  const running = generation.resume({
    recordId: record.id,
    channel,
    upstreamTaskId: taskId,
    submittedAt: record.createdAt,
    n: record.plan?.n ?? record.n,
    expectedMs: record.plan?.expectedMs ?? 30_000,
    echo: record.plan?.echo ?? {},
    names: { caller: record.requestedModel, upstream: record.model },
    mask: record.plan?.mask,
    waited: record.plan?.waited,
  });
  if (release !== undefined) running.done.then(release, release);
  return true;
}
