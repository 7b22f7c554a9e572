// The use case behind every image route: submit once, wait through the shared
// poller, download every result into the blob store, and record each step.
// A generation runs in the background from its submit to its stored result,
// whatever happens to the request that started it: a caller that stops
// waiting (timeout, disconnect) loses nothing it paid for, and a restarted
// process picks up what the previous one left running. Knows nothing of HTTP
// requests or tenants.

import type { ModelMap } from "../catalog/model-map.js";
import type { ImageRequest } from "../catalog/request.js";
import { type TranslateOptions, type Translation, translateRequest } from "../catalog/translate.js";
import type { Channel } from "../channels/channel.js";
import { type ChannelRegistry, failsOver } from "../channels/registry.js";
import type { Clock } from "../clock.js";
import { GatewayError, gatewayError } from "../errors.js";
import type { TaskSnapshot } from "../providers/async/status.js";
import { UpstreamError } from "../providers/failures.js";
import { providers, type SyncImage } from "../providers/index.js";
import { syncTaskIdKind } from "../providers/openai/models.js";
import { type BlobStore, BlobTooLargeError, type StoredBlob } from "../storage/blobs.js";
import { newId } from "../tenancy/ids.js";
import { type Poller, TaskWaitError } from "../upstream/poller.js";
import { conformResults } from "./conform-results.js";
import {
  channelsBusy,
  circuitOpen,
  downloadFailure,
  inCallerNames,
  type ModelNames,
  noChannel,
  recordUnavailable,
  resultTooLarge,
  resultTooLargeCode,
  submitFailure,
  TaskFailedError,
  taskFailure,
  waitFailure,
} from "./failures.js";
import { compositeResults, removeMaskBlobs } from "./mask-results.js";
import type { FailureInfo, GenerationOutcome, MaskBlobs } from "./record.js";
import { syncImageDownload } from "./sync-images.js";
import {
  type AnsweredImages,
  endWith,
  failureCode,
  type GenerationSteps,
  inStep,
  readSteps,
  type StepTracer,
  traceGeneration,
} from "./telemetry.js";

/** Where the use case records how a generation went (durable, for usage and resume). */
export interface GenerationRecorder {
  /** Settles once the reservation is durable; the submit waits for it. */
  reserved?(recordId: string): Promise<void>;
  /** Settles once the task id (and the channel that took it) is durable; the task is announced only then. */
  submitted(recordId: string, upstreamTaskId: string, channelId: string): Promise<void> | void;
  finished(recordId: string, outcome: GenerationOutcome): void;
}

export type { Channel };

/** What the response needs besides the images. */
export type Echo = Translation["echo"];

export interface GeneratedImages {
  recordId: string;
  /** Unix seconds, as OpenAI's `created`. */
  created: number;
  images: StoredBlob[];
  echo: Echo;
  upstreamTaskId: string;
  /** The upstream model, for the metrics. */
  model?: string | undefined;
  /** When the result was ready upstream (clock ms, estimated), for the result lag. */
  readyAt?: number | undefined;
  /**
   * Answered again from the record of a generation a caller already received
   * (an Idempotency-Key replay): not counted as delivered a second time.
   */
  replay?: boolean | undefined;
}

export interface StartCommand {
  /** The generation's record, reserved before the submit. */
  recordId: string;
  /** The channels to submit to, in order: the next is tried only after a definite refusal. */
  channels: readonly Channel[];
  translation: Translation;
  /** An edit with a mask: its image and mask in the blob store, removed once the results are made. */
  mask?: MaskBlobs | undefined;
  /**
   * A synchronous caller waits for the images: it is answered by the
   * delivery. Otherwise (the async API) the stored outcome is the answer, and
   * its images are counted as answered once it is written.
   */
  waited?: boolean | undefined;
}

/** A generation under way in this process. */
export interface RunningGeneration {
  recordId: string;
  /** Set once the upstream accepted the task. */
  readonly upstreamTaskId?: string | undefined;
  /** The channel that accepted it, once one has. */
  readonly channelId?: string | undefined;
  /** The upstream's task id once it accepted the task; rejects with the submit's error. */
  submitted: Promise<string>;
  /** The stored results; rejects with a GatewayError. */
  done: Promise<GeneratedImages>;
}

/** An upstream key a caller brings: a private channel only its owner uses. */
export interface OwnAccount {
  owner: string;
  credential: string;
}

/** A generation a previous process left running upstream. */
export interface ResumeCommand {
  recordId: string;
  /** The channel that accepted the task: its reads and downloads go there. */
  channel: Channel;
  upstreamTaskId: string;
  /** When the task was submitted (clock ms). */
  submittedAt: number;
  n: number;
  expectedMs: number;
  echo: Echo;
  /** An edit with a mask (the record's plan): what the results are composited with. */
  mask?: MaskBlobs | undefined;
  /** The model as the caller named it and as the upstream knows it: errors use the caller's. */
  names?: ModelNames | undefined;
  /** A synchronous channel's answer: the images, with nothing to wait for. */
  syncImages?: readonly SyncImage[] | undefined;
  /** Its first caller waited synchronously (the record's plan): the stored outcome answers no one. */
  waited?: boolean | undefined;
  /** Set by resume(): the task ran before this process watched it. */
  resumed?: boolean | undefined;
}

export interface GenerationService {
  /** Checks and translates a request without submitting it (throws 4xx errors). */
  translate(request: ImageRequest, options?: TranslateOptions): Translation;
  /**
   * The channels a new task for `upstreamModel` may go to, in order: the
   * caller's own account alone when it brings one, else the shared channels
   * that serve the model, as changed anywhere up to now (another replica, the
   * CLI). Throws the 503 to answer when none may take it now.
   */
  channelsFor(upstreamModel: string, callerModel: string, own?: OwnAccount): Promise<Channel[]>;
  start(command: StartCommand): RunningGeneration;
  resume(command: ResumeCommand): RunningGeneration;
  /** A generation still running in this process. */
  running(recordId: string): RunningGeneration | undefined;
  /** How many generations this process is submitting or watching now. */
  inFlight(): number;
  /** The last progress (0..1) the upstream reported for a running generation. */
  progress(recordId: string): number | undefined;
  /** Stops recording outcomes: what is still running stays recorded as running, for resume. */
  close(): void;
  /** Settles once nothing is left running and every outcome is written (before the store closes). */
  settled(): Promise<void>;
}

/** The slice of a pino logger the use case writes to. */
export interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface GenerationDeps {
  /** The upstream accounts: clients, breakers and task slots per channel. */
  channels: ChannelRegistry;
  poller: Poller;
  blobs: BlobStore;
  clock: Clock;
  log: Log;
  recorder: GenerationRecorder;
  /** The effective model map; default the built-in table. */
  models?: ModelMap | undefined;
  /** Largest single result (IMAGEGATE_MAX_RESULT_MB); a larger one fails the generation. */
  maxResultBytes?: number;
  /**
   * How long after its submit a task is still waited for in the background.
   * The upstream keeps results for about two hours (UPSTREAM.md).
   */
  taskLifetimeMs?: number;
  /** Waits between submit attempts (tests shorten them); one retry per entry. */
  submitRetryDelaysMs?: readonly number[];
  /** Waits between download attempts of one result; one retry per entry. */
  downloadRetryDelaysMs?: readonly number[];
  /** Waits between attempts to write a record; one retry per entry. */
  recordRetryDelaysMs?: readonly number[];
  /** Spans for each generation's steps; absent when tracing is off. */
  tracer?: StepTracer | undefined;
  /** Counts the images of generations nobody waits for, once stored (the async API's answer). */
  answered?: AnsweredImages | undefined;
}

// Connection refused and 429 leave no task behind, so a short retry is safe;
// anything longer belongs to the caller's own retry policy.
const submitRetryDelaysMs = [250, 1_000] as const;
const submitRetryAfterCapMs = 5_000;
const downloadRetryDelaysMs = [300, 1_200] as const;
const recordRetryDelaysMs = [500, 2_000, 8_000] as const;
/** How long a task is waited for after its submit by default: the upstream keeps results about 2 h. */
export const taskLifetimeMs = 2 * 3_600_000;

export function failureInfo(err: unknown): FailureInfo {
  const known =
    err instanceof GatewayError
      ? err
      : gatewayError("internal_error", { finishingGeneration: true });
  return { status: known.status, type: known.type, code: known.code, message: known.message };
}

export function createGenerationService(deps: GenerationDeps): GenerationService {
  const { channels, poller, blobs, clock, log, recorder, tracer } = deps;
  const lifetimeMs = deps.taskLifetimeMs ?? taskLifetimeMs;
  const maxResultBytes = deps.maxResultBytes ?? Number.POSITIVE_INFINITY;
  const submitDelays = deps.submitRetryDelaysMs ?? submitRetryDelaysMs;
  const downloadDelays = deps.downloadRetryDelaysMs ?? downloadRetryDelaysMs;
  const recordDelays = deps.recordRetryDelaysMs ?? recordRetryDelaysMs;
  const live = new Map<string, RunningGeneration>();
  const progressOf = new Map<string, number>();
  // Outcomes still being written, by record id.
  const recordings = new Map<string, Promise<void>>();
  let closed = false;
  // Cuts synchronous calls in flight when the gateway closes: their records
  // say submitted, and the next start marks them unknown, never repeats them.
  const stopping = new AbortController();

  // A record that cannot be written (disk full, database locked) must not turn
  // a task the upstream accepted into a lost one, nor crash the process: the
  // write is tried again a few times, then given up with an error in the log.
  const record = (what: string, write: () => Promise<void> | void): Promise<void> =>
    new Promise((resolve) => {
      const attempt = async (tries: number) => {
        try {
          await write();
          resolve();
        } catch (err) {
          const delay = recordDelays[tries];
          if (delay === undefined) {
            log.error({ err, what }, "could not record a generation's progress; giving up");
            resolve();
            return;
          }
          log.warn({ err, what }, "could not record a generation's progress; trying again");
          clock.setTimeout(() => void attempt(tries + 1), delay);
        }
      };
      void attempt(0);
    });

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      clock.setTimeout(resolve, ms);
    });

  /** A task one channel accepted, holding one of that channel's task slots until it is final. */
  interface Accepted {
    taskId: string;
    channel: Channel;
    release: () => void;
    /** A synchronous channel's answer. */
    images?: readonly SyncImage[];
  }

  /**
   * Submits through the first channel that takes the task. The next channel
   * is tried only when one definitely refused (failsOver: nothing was created
   * upstream); an ambiguous answer or a refusal of the request itself ends it.
   * When every channel refused in a way that may pass (unreachable, 429), the
   * round is tried again after a short wait.
   */
  async function submit(
    recordId: string,
    candidates: readonly Channel[],
    translation: Translation,
    tried: (channel: Channel) => void,
    steps: GenerationSteps | undefined,
  ): Promise<Accepted> {
    // A synchronous call's id, the same through failover: the record names it while calls run.
    let syncTaskId: string | undefined;
    for (let attempt = 0; ; attempt++) {
      let last: UpstreamError | undefined;
      let blockedMs: number | undefined;
      let busy = false;
      for (const channel of candidates) {
        const breaker = channels.breaker(channel.id);
        const blocked = breaker.blockedForMs();
        if (blocked !== undefined) {
          blockedMs = Math.min(blockedMs ?? blocked, blocked);
          continue;
        }
        const release = channels.acquire(channel);
        if (release === undefined) {
          busy = true;
          continue;
        }
        breaker.probing();
        tried(channel);
        // One span per channel tried: a failover shows as a refused submit, then the next.
        const span = steps?.start("imagegate.submit", {
          "imagegate.channel": channel.id,
          "imagegate.upstream.model": String(translation.body.model),
        });
        try {
          let taken: Accepted;
          if (providers[channel.provider].style === "sync") {
            syncTaskId ??= newId(syncTaskIdKind);
            const taskId = syncTaskId;
            // The call may be billed from the moment it is sent: the record
            // says so first, and a restart never sends it again.
            try {
              await recorder.submitted(recordId, taskId, channel.id);
            } catch (err) {
              throw recordUnavailable(err);
            }
            const images = await channels
              .syncClient(channel)
              .create(channel.baseUrl, channel.credential, translation.body, stopping.signal);
            taken = { taskId, channel, release, images };
          } else {
            const taskId = await channels
              .client(channel)
              .submit(channel.credential, translation.body);
            taken = { taskId, channel, release };
          }
          channels.accepted(channel);
          span?.set({ "imagegate.upstream.task_id": taken.taskId });
          span?.end();
          return taken;
        } catch (err) {
          span?.fail(failureCode(err));
          span?.end();
          release();
          if (!(err instanceof UpstreamError)) throw err;
          channels.refused(channel, err);
          if (!failsOver(err)) throw err;
          last = err;
          log.warn(
            { channel: channel.id, kind: err.kind, status: err.status, code: err.code },
            "upstream submit refused by a channel",
          );
        }
      }
      if (last === undefined) {
        if (blockedMs !== undefined) throw circuitOpen(blockedMs);
        if (busy) throw channelsBusy();
        throw noChannel(translation.model.requested);
      }
      const delay = submitDelays[attempt];
      const retryable =
        last.kind === "unreachable" ||
        (last.kind === "rate_limited" && (last.retryAfterMs ?? 0) <= submitRetryAfterCapMs);
      if (!retryable || delay === undefined) throw last;
      log.warn(
        { kind: last.kind, attempt },
        "upstream submit not accepted by any channel; retrying",
      );
      await sleep(Math.max(delay, last.retryAfterMs ?? 0));
    }
  }

  /** How result `index` of a task is opened: an async task's download, or a synchronous answer's image. */
  function opener(channel: Channel, taskId: string, index: number, sync?: SyncImage) {
    if (sync === undefined) {
      return () => channels.client(channel).download(channel.credential, taskId, index);
    }
    if ("url" in sync) {
      return () => channels.syncClient(channel).open(channel.baseUrl, channel.credential, sync.url);
    }
    return async () => syncImageDownload(sync.b64);
  }

  /** One result into the blob store, as a step of its own when tracing is on. */
  function downloadOne(
    channel: Channel,
    taskId: string,
    index: number,
    sync: SyncImage | undefined,
    steps: GenerationSteps | undefined,
  ): Promise<StoredBlob> {
    return inStep(
      steps,
      "imagegate.download",
      { "imagegate.upstream.task_id": taskId, "imagegate.download.index": index },
      () => fetchResult(channel, taskId, index, sync),
      (blob) => ({
        "imagegate.download.bytes": blob.size,
        "imagegate.download.type": blob.contentType,
      }),
    );
  }

  async function fetchResult(
    channel: Channel,
    taskId: string,
    index: number,
    sync?: SyncImage,
  ): Promise<StoredBlob> {
    const open = opener(channel, taskId, index, sync);
    for (let attempt = 0; ; attempt++) {
      try {
        const download = await open();
        if (download.contentLength !== undefined && download.contentLength > maxResultBytes) {
          download.body.destroy();
          throw new BlobTooLargeError(maxResultBytes);
        }
        let blob: StoredBlob;
        try {
          blob = await blobs.put(download.body, {
            maxBytes: maxResultBytes,
            expectedBytes: download.contentLength,
          });
        } catch (err) {
          download.body.destroy();
          throw err;
        }
        if (blob.contentType === undefined) {
          await blobs.remove(blob.id);
          throw downloadFailure(taskId, `result ${index} is not a PNG, JPEG, WebP or GIF image`);
        }
        return blob;
      } catch (err) {
        // A result past the cap is refused, not fetched again: the next
        // attempt would be just as large.
        if (err instanceof BlobTooLargeError) throw resultTooLarge(taskId, index, err.maxBytes);
        const delay = downloadDelays[attempt];
        const again =
          err instanceof UpstreamError &&
          (err.kind === "transient" || (err.kind === "gone" && err.status === 502));
        if (!again || delay === undefined) {
          if (err instanceof UpstreamError) throw downloadFailure(taskId, err.message);
          throw err;
        }
        await sleep(delay);
      }
    }
  }

  async function downloadAll(
    channel: Channel,
    taskId: string,
    count: number,
    sync: readonly SyncImage[] | undefined,
    steps: GenerationSteps | undefined,
  ): Promise<StoredBlob[]> {
    const outcomes = await Promise.allSettled(
      Array.from({ length: count }, (_, index) =>
        downloadOne(channel, taskId, index, sync?.[index], steps),
      ),
    );
    const images: StoredBlob[] = [];
    let firstError: unknown;
    let tooLarge: unknown;
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") images.push(outcome.value);
      else {
        firstError ??= outcome.reason;
        if (outcome.reason instanceof GatewayError && outcome.reason.code === resultTooLargeCode) {
          tooLarge ??= outcome.reason;
        }
      }
    }
    // An upstream sending results past the cap is broken: the whole task
    // fails, and what it did send is not kept.
    if (tooLarge !== undefined) {
      await Promise.all(images.map((image) => blobs.remove(image.id)));
      throw tooLarge;
    }
    if (images.length === 0) throw firstError;
    if (firstError !== undefined) {
      // Answer with the images that arrived, as for a provider returning fewer than n.
      log.warn({ taskId, err: firstError }, "some results could not be downloaded");
    }
    return images;
  }

  /** Stored results, and when they were ready upstream (clock ms). */
  interface Collected {
    downloaded: StoredBlob[];
    /** Unknown for a resumed task found finished at its first read. */
    readyAt: number | undefined;
  }

  /** The images of a synchronous call, stored as an async task's downloads are. */
  async function collectSync(
    command: ResumeCommand,
    images: readonly SyncImage[],
    steps: GenerationSteps | undefined,
  ): Promise<Collected> {
    const { channel, upstreamTaskId: taskId } = command;
    if (images.length === 0) {
      throw downloadFailure(taskId, "the upstream answered without any image");
    }
    // Ready when the call answered (just before the task counts as submitted).
    const readyAt = command.submittedAt;
    const count = Math.min(images.length, command.n);
    return { downloaded: await downloadAll(channel, taskId, count, images, steps), readyAt };
  }

  /** Waits for an async task and downloads its results. */
  async function collectTask(
    command: ResumeCommand,
    steps: GenerationSteps | undefined,
  ): Promise<Collected> {
    const { channel, upstreamTaskId: taskId, recordId } = command;
    let snapshot: TaskSnapshot;
    let readyAt: number | undefined;
    try {
      snapshot = await poller.watch({
        credential: channel.credential,
        reader: channels.client(channel),
        taskId,
        submittedAt: command.submittedAt,
        model: command.names?.upstream ?? "unknown",
        expectedMs: command.expectedMs,
        deadline: command.submittedAt + lifetimeMs,
        onProgress: (progress) => progressOf.set(recordId, progress),
        onReadStart: steps && readSteps(steps, channel.id, taskId),
        onEnded: (endedAt) => {
          readyAt = endedAt;
        },
        resumed: command.resumed,
      });
    } catch (err) {
      if (err instanceof TaskWaitError) throw waitFailure(err);
      throw err;
    }
    if (snapshot.state === "failed") {
      throw taskFailure(taskId, snapshot.failReason ?? "unknown reason");
    }
    if (snapshot.resultCount === 0) {
      throw downloadFailure(taskId, "the upstream reported success without any image");
    }
    // Providers may return fewer images than asked; never more than asked.
    const count = Math.min(snapshot.resultCount, command.n);
    return {
      downloaded: await downloadAll(channel, taskId, count, undefined, steps),
      readyAt,
    };
  }

  /** Waits for the task (or takes the synchronous call's images) and stores its results. */
  async function collect(
    command: ResumeCommand,
    steps: GenerationSteps | undefined,
  ): Promise<GeneratedImages> {
    const { upstreamTaskId: taskId, recordId } = command;
    const collected =
      command.syncImages === undefined
        ? await collectTask(command, steps)
        : await collectSync(command, command.syncImages, steps);
    let { downloaded } = collected;
    if (command.mask !== undefined) {
      // The caller's pixels where the mask is opaque, at the original's size.
      downloaded = await compositeResults(blobs, downloaded, command.mask);
      await removeMaskBlobs(blobs, command.mask);
    }
    // Made the size and format an OpenAI caller asked for before anyone sees them.
    const images = await conformResults(blobs, downloaded, command.echo);
    log.info(
      { upstreamTaskId: taskId, images: images.length, ms: clock.now() - command.submittedAt },
      "upstream task delivered",
    );
    return {
      recordId,
      created: Math.floor(clock.now() / 1000),
      images,
      echo: command.echo,
      upstreamTaskId: taskId,
      model: command.names?.upstream,
      readyAt: collected.readyAt,
    };
  }

  /**
   * Runs `collect` and records its outcome (unless the gateway is shutting
   * down). `waited`: a synchronous caller is answered by the delivery;
   * otherwise the stored outcome is the answer, counted once written.
   */
  function finish(
    command: ResumeCommand,
    steps: GenerationSteps | undefined,
    waited: boolean,
  ): Promise<GeneratedImages> {
    const { recordId } = command;
    return collect(command, steps).then(
      (result) => {
        // The caller is answered from memory at once; the record points only
        // at files that reached the disk, so it is written once they have.
        const recorded = Promise.allSettled(result.images.map((image) => image.written)).then(
          (writes) => {
            const stored = result.images.filter((_, i) => writes[i]?.status === "fulfilled");
            if (stored.length < result.images.length) {
              log.warn({ recordId }, "some results could not be stored for later reads");
            }
            return record("finished", () =>
              recorder.finished(recordId, {
                state: "succeeded",
                images: result.images.length,
                results: stored.map(({ id, contentType, size }) => ({ id, contentType, size })),
                upstreamTaskId: command.upstreamTaskId,
                // Whole milliseconds: the estimate is a midpoint.
                readyAt: result.readyAt === undefined ? undefined : Math.round(result.readyAt),
              }),
            ).then(() => {
              if (waited || deps.answered === undefined) return;
              // The async API answers with URLs to the stored results.
              deps.answered.answered(
                result.model ?? "unknown",
                "url",
                stored.length,
                result.readyAt === undefined ? undefined : (clock.now() - result.readyAt) / 1000,
              );
            });
          },
        );
        recordings.set(recordId, recorded);
        return result;
      },
      (caught: unknown) => {
        const err = inCallerNames(caught, command.names);
        // A shutdown interrupts the wait, not the task: it stays recorded as
        // running, and the next start resumes it (with its mask, if any).
        if (!closed) {
          void removeMaskBlobs(blobs, command.mask);
          recordings.set(
            recordId,
            record("finished", () =>
              recorder.finished(recordId, {
                state: err instanceof TaskFailedError ? "failed" : "error",
                errorCode: err instanceof GatewayError ? err.code : "internal_error",
                error: failureInfo(err),
                upstreamTaskId: command.upstreamTaskId,
              }),
            ),
          );
        }
        throw err;
      },
    );
  }

  function track(generation: RunningGeneration): RunningGeneration {
    live.set(generation.recordId, generation);
    // Nobody may be waiting any more (the caller left): failures are recorded,
    // not unhandled.
    generation.submitted.catch(() => {});
    // It stays findable (for retries that join it) until its record is final.
    generation.done
      .catch(() => {})
      .then(() => recordings.get(generation.recordId))
      .finally(() => {
        live.delete(generation.recordId);
        progressOf.delete(generation.recordId);
        recordings.delete(generation.recordId);
      });
    return generation;
  }

  return {
    translate: (request, options) =>
      translateRequest(request, deps.models ? { ...options, models: deps.models } : options),

    async channelsFor(upstreamModel, callerModel, own) {
      await channels.refresh();
      const plan = channels.route(
        upstreamModel,
        own === undefined ? undefined : channels.privateChannel(own.owner, own.credential),
      );
      if (plan.candidates.length > 0) return plan.candidates;
      if (plan.blockedForMs !== undefined) throw circuitOpen(plan.blockedForMs);
      if (plan.busy) throw channelsBusy();
      throw noChannel(callerModel);
    },

    start(command) {
      const names: ModelNames = {
        caller: command.translation.model.requested,
        upstream: command.translation.model.spec.id,
      };
      const { recordId, translation } = command;
      // The generation's own span, under the request that started it.
      const traced =
        tracer &&
        traceGeneration(tracer, tracer.current(), recordId, {
          "imagegate.upstream.model": names.upstream,
        });
      const steps = traced?.steps;
      let accepted: Accepted | undefined;
      // The channel of the last submit sent: an ambiguous answer's usage is that account's.
      let lastTried: Channel | undefined;
      const submitted = (async () => {
        // Nothing goes upstream (and is paid for) before its record is on disk.
        try {
          await recorder.reserved?.(recordId);
        } catch (err) {
          throw recordUnavailable(err);
        }
        return submit(
          recordId,
          command.channels,
          translation,
          (channel) => {
            lastTried = channel;
          },
          steps,
        );
      })().then(
        async (taken) => {
          accepted = taken;
          const { taskId, channel } = taken;
          await record("submitted", () => recorder.submitted(recordId, taskId, channel.id));
          log.info(
            {
              upstreamTaskId: taskId,
              recordId,
              channel: channel.id,
              model: translation.body.model,
            },
            "upstream task submitted",
          );
          return taskId;
        },
        (err: unknown) => {
          const failure = inCallerNames(
            err instanceof UpstreamError ? submitFailure(err) : err,
            names,
          );
          // An ambiguous submit may have created (and charged) a task; so may
          // anything unexpected. A GatewayError raised before sending (the
          // circuit breaker) and a definite refusal created none.
          const unknown =
            err instanceof UpstreamError
              ? err.kind === "ambiguous"
              : !(err instanceof GatewayError);
          // No result will be composited with them.
          void removeMaskBlobs(blobs, command.mask);
          // Written before the store closes: settled() waits for it.
          recordings.set(
            recordId,
            record("finished", () =>
              recorder.finished(recordId, {
                state: unknown ? "unknown" : "refused",
                errorCode: failure instanceof GatewayError ? failure.code : "internal_error",
                error: failureInfo(failure),
                ...(unknown && lastTried !== undefined ? { channelId: lastTried.id } : {}),
              }),
            ),
          );
          throw failure;
        },
      );
      const done = submitted.then((upstreamTaskId) =>
        finish(
          {
            recordId,
            channel: (accepted as Accepted).channel,
            syncImages: (accepted as Accepted).images,
            upstreamTaskId,
            submittedAt: clock.now(),
            n: translation.n,
            expectedMs: translation.expectedMs,
            echo: translation.echo,
            mask: command.mask,
            names,
          },
          steps,
          command.waited === true,
        ),
      );
      if (traced !== undefined) endWith(traced.span, done);
      // The channel's task slot is held until the task is final.
      const release = () => accepted?.release();
      done.then(release, release);
      return track({
        recordId,
        submitted,
        done,
        get upstreamTaskId() {
          return accepted?.taskId;
        },
        get channelId() {
          return accepted?.channel.id;
        },
      });
    },

    resume(resumed) {
      const command: ResumeCommand = { ...resumed, resumed: true };
      // Counted against the channel's max_concurrent, never refused: the task runs upstream already.
      const release = channels.acquire(command.channel, true);
      // A trace of its own: the request that started it was another process's.
      const traced =
        tracer &&
        traceGeneration(tracer, undefined, command.recordId, {
          "imagegate.upstream.model": command.names?.upstream,
          "imagegate.resumed": true,
        });
      // A synchronous caller's generation answers that caller (or its retry), not the async API.
      const done = finish(command, traced?.steps, command.waited === true);
      if (traced !== undefined) endWith(traced.span, done);
      if (release !== undefined) done.then(release, release);
      return track({
        recordId: command.recordId,
        upstreamTaskId: command.upstreamTaskId,
        channelId: command.channel.id,
        submitted: Promise.resolve(command.upstreamTaskId),
        done,
      });
    },

    running: (recordId) => live.get(recordId),
    inFlight: () => live.size,
    progress: (recordId) => progressOf.get(recordId),
    close() {
      closed = true;
      stopping.abort();
    },
    async settled() {
      await Promise.allSettled([...live.values()].map((generation) => generation.done));
      await Promise.allSettled([...recordings.values()]);
    },
  };
}
