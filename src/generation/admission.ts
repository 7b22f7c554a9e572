// From a checked request to a running generation: tenant limits, then the
// retry rules that keep a tenant from paying twice, then the reservation and
// the submit. Shared by the synchronous routes and the async API.
//
// Retry safety (the OpenAI SDK retries 408/409/429/5xx and dropped
// connections by itself, sending no idempotency header of its own):
// - an `Idempotency-Key` (same tenant, within 24 h) always answers with the
//   generation it first started; the same key with another body is a 409;
// - an SDK retry (`X-Stainless-Retry-Count` > 0) of the same body by the same
//   tenant joins the generation the first attempt started, instead of
//   submitting again: one still running (however long ago it started), or one
//   finished within the wait window, provided no other request is attached to
//   it and its images were never delivered (an identical but separate request
//   is not a retry).
// A generation whose submit was definitely refused (nothing charged) is never
// joined: the request starts afresh, with or without a key.
//
// No HTTP here: the HTTP layer hands over the caller (tenant, headers that
// matter, the slot its intake took) as a plain value, and the response that
// will answer as a small handle (closed yet? finished with a 2xx?).
import { createHash } from "node:crypto";
import type { ModelMap } from "../catalog/model-map.js";
import type { Translation } from "../catalog/translate.js";
import { withReferences } from "../catalog/translate.js";
import type { Clock } from "../clock.js";
import { gatewayError, recordedError } from "../errors.js";
import { assertModelAllowed, type ConcurrencyGate } from "../tenancy/limits.js";
import type { Tenant, Vault } from "../tenancy/vault.js";
import { stillRunning } from "./failures.js";
import {
  type Channel,
  failureInfo,
  type GeneratedImages,
  type GenerationService,
  type Log,
  type RunningGeneration,
  taskLifetimeMs,
} from "./generate.js";
import {
  type GenerationRecord,
  type GenerationRecords,
  IdempotencyKeyTaken,
  type MaskBlobs,
} from "./record.js";
import type { ReferenceImage, ReferencePublisher } from "./references.js";
import { failureCode, generationIdAttribute, type StepTracer } from "./telemetry.js";

export interface AdmissionDeps {
  generation: GenerationService;
  references: ReferencePublisher;
  vault: Vault;
  gate: ConcurrencyGate;
  ledger: GenerationRecords;
  clock: Clock;
  /** IMAGEGATE_MAX_WAIT_MS: how long a synchronous caller waits, and the window for joining retries. */
  maxWaitMs: number;
  /** The effective model map (tenant allowlists name its names); default the built-in table. */
  models?: ModelMap | undefined;
  /** Where a delivery that could not be recorded is reported. */
  log: Pick<Log, "warn">;
  /** A span for each admission; absent when tracing is off. */
  tracer?: StepTracer | undefined;
}

/** Who asks, and what of their request decides whether it repeats an earlier one. */
export interface Caller {
  tenant: Tenant;
  /** The Idempotency-Key header as sent (checked here: 1 to 255 printable ASCII). */
  idempotencyKey: string | readonly string[] | undefined;
  /** The OpenAI SDK's X-Stainless-Retry-Count: 0 on a first attempt. */
  retryCount: number;
  /** The concurrency slot taken before the body was read, if one was (handed over once). */
  takeSlot?: (() => (() => void) | undefined) | undefined;
}

/** The response that will answer with a generation, as far as retry joining needs it. */
export interface ResponseHandle {
  /** The client has gone (or the response ended) already. */
  readonly closed: boolean;
  /** Once the response went out in full: `succeeded` when it was a 2xx. */
  onFinish(listener: (succeeded: boolean) => void): void;
  /** Once the response is over, whichever way. */
  onClose(listener: () => void): void;
}

export interface AdmitRequest {
  translation: Translation;
  /**
   * Uploaded references, spooled on disk. From the call on they belong to the
   * admission: published once the request is admitted, removed once its
   * submit has gone out or it was refused.
   */
  uploads: readonly ReferenceImage[];
  /** What identifies "the same request": route, fields and upload digests. */
  requestHash: string;
  /** The response that answers with this generation (the synchronous routes), for retry joining. */
  releaseWith?: ResponseHandle | undefined;
  /** Gives back the upload budget the uploads hold; called once they are gone. */
  releaseUploads?: (() => void) | undefined;
  /**
   * An edit with a mask (already checked against the image): the first upload
   * and the spooled mask, copied to the blob store before the submit so that
   * the results can be composited with them when they arrive. The mask's
   * spooled file belongs to the admission like the uploads.
   */
  mask?: { original: ReferenceImage; mask: ReferenceImage } | undefined;
}

/** A new generation, or the one an earlier attempt of the same request started. */
export type Admission =
  | { kind: "started"; generation: RunningGeneration }
  | { kind: "joined"; record: GenerationRecord; generation: RunningGeneration | undefined };

const idempotencyWindowMs = 24 * 3_600_000;
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * A digest of what was asked; equal for a retry of the same request.
 * `uploadDigests` are the SHA-256 digests of the uploaded files, in order.
 */
export function requestDigest(
  route: string,
  fields: unknown,
  uploadDigests: readonly Buffer[],
): string {
  const hash = createHash("sha256").update(route).update("\n").update(JSON.stringify(fields));
  for (const digest of uploadDigests) hash.update("\n").update(digest);
  return hash.digest("base64url");
}

function idempotencyKeyOf(caller: Caller): string | undefined {
  const value = caller.idempotencyKey;
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !idempotencyKeyPattern.test(value)) {
    throw gatewayError("invalid_idempotency_key");
  }
  return value;
}

/** How often a caller waiting on another replica's generation reads its record. */
const finalReadEveryMs = 1_000;

export function createAdmission(deps: AdmissionDeps) {
  const { generation, references, vault, gate, ledger, clock } = deps;
  // Responses currently attached to each generation (in this process).
  const attached = new Map<string, number>();
  // Generations admitted but still storing their uploads before the submit.
  const startingUp = new Map<string, Promise<RunningGeneration | undefined>>();

  /** The channels this tenant's task may go to (its own upstream key alone, when it has one). */
  async function channelsFor(tenant: Tenant, translation: Translation): Promise<Channel[]> {
    const own = await vault.upstreamCredential(tenant);
    return await generation.channelsFor(
      translation.model.spec.id,
      translation.model.requested,
      own === undefined ? undefined : { owner: tenant.id, credential: own },
    );
  }

  /**
   * Attaches a response to the generation it answers with: while attached, no
   * retry joins it; once a 2xx answer has gone out, none ever will. Called in
   * the same synchronous step as the decision, so that a client leaving while
   * uploads are stored is still counted out.
   */
  function attach(recordId: string, response: ResponseHandle | undefined): void {
    if (response === undefined || response.closed) return;
    attached.set(recordId, (attached.get(recordId) ?? 0) + 1);
    response.onFinish((succeeded) => {
      if (!succeeded) return;
      try {
        ledger.delivered(recordId);
      } catch (err) {
        // A locked or full database must not take the process down.
        deps.log.warn({ err, recordId }, "could not record a delivery");
      }
    });
    response.onClose(() => {
      const left = (attached.get(recordId) ?? 1) - 1;
      if (left > 0) attached.set(recordId, left);
      else attached.delete(recordId);
    });
  }

  async function join(
    record: GenerationRecord,
    response: ResponseHandle | undefined,
  ): Promise<Admission> {
    attach(record.id, response);
    const running = generation.running(record.id) ?? (await startingUp.get(record.id));
    // Re-read when nothing runs: it may have finished (or failed to start) meanwhile.
    const latest = running === undefined ? ((await ledger.get(record.id)) ?? record) : record;
    return { kind: "joined", record: latest, generation: running };
  }

  /** The earlier generation this request repeats, if any. */
  async function earlier(
    tenant: Tenant,
    requestHash: string,
    key: string | undefined,
    retryCount: number,
  ): Promise<GenerationRecord | undefined> {
    const now = clock.now();
    if (key !== undefined) {
      const record = await ledger.byIdempotencyKey(tenant.id, key);
      if (record === undefined) return undefined;
      // An expired key, or one whose submit was refused (nothing was
      // charged, and the upstream may have recovered): start afresh.
      if (record.createdAt < now - idempotencyWindowMs || record.state === "refused") {
        await ledger.releaseIdempotencyKey(record.id);
        return undefined;
      }
      if (record.requestHash !== requestHash) {
        throw gatewayError("idempotency_key_reused");
      }
      return record;
    }
    if (retryCount === 0) return undefined;
    // Undelivered, not refused; unfinished (nothing runs longer than a task's
    // lifetime) or finished within the wait window. The SDK retries only once
    // its previous attempt is over: a generation another request is still
    // waiting on belongs to that request.
    const joinable = await ledger.joinableForRequest(tenant.id, requestHash, {
      createdSince: now - taskLifetimeMs - deps.maxWaitMs,
      finishedSince: now - deps.maxWaitMs - 60_000,
    });
    return joinable.find((record) => (attached.get(record.id) ?? 0) === 0);
  }

  return {
    /**
     * Whether this request may join a generation an earlier attempt started,
     * judged from its headers alone (before its body is read): an SDK retry,
     * or an Idempotency-Key this tenant has used.
     */
    async mayJoin(caller: Caller): Promise<boolean> {
      if (caller.retryCount > 0) return true;
      const key = caller.idempotencyKey;
      if (typeof key !== "string" || !idempotencyKeyPattern.test(key)) return false;
      const record = await ledger.byIdempotencyKey(caller.tenant.id, key);
      return record !== undefined && record.state !== "refused";
    },

    admit(caller: Caller, admit: AdmitRequest): Promise<Admission> {
      const { tracer } = deps;
      if (tracer === undefined) return admitRequest(caller, admit);
      // A step beside the generation's, not around it: the generation it
      // starts hangs under the request, as it outlives the admission.
      const span = tracer.start("imagegate.admission", tracer.current(), {
        "imagegate.upstream.model": admit.translation.model.spec.id,
      });
      return admitRequest(caller, admit).then(
        (admitted) => {
          span.set({
            [generationIdAttribute]:
              admitted.kind === "started" ? admitted.generation.recordId : admitted.record.id,
            "imagegate.admission": admitted.kind,
          });
          span.end();
          return admitted;
        },
        (err: unknown) => {
          span.fail(failureCode(err));
          span.end();
          throw err;
        },
      );
    },

    /**
     * The result for a synchronous caller: waits for a running generation up to
     * the wait limit (then a 504 naming the task, which goes on), or answers
     * from the record of a finished one.
     */
    async result(admission: Admission, receivedAt: number): Promise<GeneratedImages> {
      const running = admission.generation;
      const until = receivedAt + deps.maxWaitMs;
      if (running !== undefined) return waitAtMost(running, until);
      const record = admission.kind === "joined" ? admission.record : undefined;
      // Shared records: another replica may be watching it; its outcome is
      // announced to every replica (and read now and then, should one be missed).
      if (record !== undefined && unfinished(record) && ledger.subscribe !== undefined) {
        return fromRecord((await finalRecord(record.id, until)) ?? record);
      }
      return fromRecord(record);
    },
  };

  /** Limits, retry joining, the reservation and the start of the generation. */
  async function admitRequest(caller: Caller, admit: AdmitRequest): Promise<Admission> {
    const { tenant } = caller;
    const { translation, requestHash, uploads } = admit;
    // Every spooled file once (a multipart edit's masked original is its first upload).
    const spooled = [
      ...new Map(
        [...uploads, ...(admit.mask ? [admit.mask.original, admit.mask.mask] : [])].map((file) => [
          file.path,
          file,
        ]),
      ).values(),
    ];
    // The slot the intake took before the body was read, if it took one.
    let release = caller.takeSlot?.();
    const removeUploads = () => {
      if (spooled.length > 0) void references.discard(spooled).finally(admit.releaseUploads);
      else admit.releaseUploads?.();
    };
    const discard = () => {
      release?.();
      removeUploads();
    };
    let key: string | undefined;
    let channels: Channel[];
    try {
      // Every check that can refuse the request runs before anything is submitted.
      assertModelAllowed(
        tenant.models,
        translation.model.spec.id,
        translation.model.requested,
        deps.models,
      );
      channels = await channelsFor(tenant, translation);
      key = idempotencyKeyOf(caller);
      const previous = await earlier(tenant, requestHash, key, caller.retryCount);
      if (previous !== undefined) {
        // The earlier attempt's task holds its own slot; this one needs none.
        discard();
        return join(previous, admit.releaseWith);
      }
      // The slot counts the upstream task: it is held until the task is
      // final, whether or not the caller is still waiting for it.
      release ??= await gate.acquire(tenant.id, tenant.maxConcurrent);
    } catch (err) {
      discard();
      throw err;
    }
    const slot = release;
    // A masked edit's image and mask wait in the blob store for its results.
    const kept: string[] = [];
    let mask: MaskBlobs | undefined;
    if (admit.mask !== undefined) {
      try {
        for (const image of [admit.mask.original, admit.mask.mask]) {
          kept.push(await references.keep(image));
        }
      } catch (err) {
        void references.forget(kept);
        discard();
        throw err;
      }
      mask = { original: kept[0] as string, mask: kept[1] as string };
    }
    let recordId: string;
    try {
      // Past the daily image budget this is a 429; otherwise the images are
      // reserved and the generation recorded.
      recordId = await ledger.reserve({
        tenant,
        model: translation.model.spec.id,
        requestedModel: translation.model.requested,
        n: translation.n,
        plan: {
          n: translation.n,
          expectedMs: translation.expectedMs,
          responseFormat: translation.responseFormat,
          echo: translation.echo,
          mask,
          waited: admit.releaseWith !== undefined,
        },
        requestHash,
        idempotencyKey: key,
      });
    } catch (err) {
      discard();
      void references.forget(kept);
      // Two requests with one Idempotency-Key at once: the second joins the
      // first, if it asks the same (else it is the same key reused: a 409).
      if (key !== undefined && err instanceof IdempotencyKeyTaken) {
        const record = await ledger.byIdempotencyKey(tenant.id, key);
        if (record !== undefined && record.requestHash !== requestHash) {
          throw gatewayError("idempotency_key_reused");
        }
        if (record !== undefined) return join(record, admit.releaseWith);
      }
      throw err;
    }
    attach(recordId, admit.releaseWith);
    // Uploads are stored or encoded before the submit; meanwhile a request
    // joining this generation waits for it to start rather than seeing a
    // record with nothing running behind it.
    const starting = (async () => {
      let submitted = translation;
      try {
        if (uploads.length > 0) {
          submitted = withReferences(translation, await references.publish(uploads));
        }
      } catch (err) {
        discard();
        void references.forget(kept);
        ledger.finished(recordId, {
          state: "refused",
          errorCode: "reference_upload_failed",
          error: failureInfo(err),
        });
        throw err;
      }
      const running = generation.start({
        recordId,
        channels,
        translation: submitted,
        mask,
        // The synchronous routes answer with a response; the async API does not.
        waited: admit.releaseWith !== undefined,
      });
      // The spooled files are read while the submit goes out, and not after.
      running.submitted.then(removeUploads, removeUploads);
      running.done.then(slot, slot);
      return running;
    })();
    startingUp.set(
      recordId,
      starting.catch(() => undefined),
    );
    try {
      return { kind: "started", generation: await starting };
    } finally {
      startingUp.delete(recordId);
    }
  }

  function unfinished(record: GenerationRecord): boolean {
    return record.state === "pending" || record.state === "running";
  }

  /** The record once final, or undefined when `until` comes first. */
  function finalRecord(id: string, until: number): Promise<GenerationRecord | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const timers = new Set<ReturnType<Clock["setTimeout"]>>();
      const finish = (record: GenerationRecord | undefined) => {
        if (settled) return;
        settled = true;
        unsubscribe?.();
        for (const timer of timers) clock.clearTimeout(timer);
        resolve(record);
      };
      const check = async () => {
        try {
          const record = await ledger.get(id);
          if (record !== undefined && !unfinished(record)) finish(record);
        } catch (err) {
          deps.log.warn(
            { err, recordId: id },
            "could not read a generation another replica watches",
          );
        }
      };
      const unsubscribe = ledger.subscribe?.((finished) => {
        if (finished === id) void check();
      });
      const poll = () => {
        const timer = clock.setTimeout(() => {
          timers.delete(timer);
          void check().then(() => {
            if (!settled) poll();
          });
        }, finalReadEveryMs);
        timers.add(timer);
      };
      timers.add(clock.setTimeout(() => finish(undefined), Math.max(0, until - clock.now())));
      void check();
      poll();
    });
  }

  async function waitAtMost(running: RunningGeneration, until: number): Promise<GeneratedImages> {
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(
        () => reject(stillRunning(running.recordId, running.upstreamTaskId)),
        Math.max(0, until - clock.now()),
      );
    });
    try {
      return await Promise.race([running.done, timeout]);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
  }

  function fromRecord(record: GenerationRecord | undefined): GeneratedImages {
    if (record === undefined) throw new Error("a joined admission without a record");
    if (record.state === "succeeded" && record.upstreamTaskId !== null) {
      return {
        recordId: record.id,
        created: Math.floor((record.finishedAt ?? record.createdAt) / 1000),
        images: record.results.map((result) => ({ ...result, written: Promise.resolve() })),
        echo: record.plan?.echo ?? {},
        upstreamTaskId: record.upstreamTaskId,
        model: record.model,
        // Nobody waited on it here: no lag of this answer's to tell.
        readyAt: undefined,
        replay: record.deliveredAt !== null,
      };
    }
    if (record.state === "pending" || record.state === "running") {
      // Not running in this process: being resumed, or its references are
      // still being stored by the request that started it.
      throw stillRunning(record.id, record.upstreamTaskId ?? undefined);
    }
    throw recordedError(record.error ?? failureInfo(undefined));
  }
}

export type AdmissionService = ReturnType<typeof createAdmission>;
