// The use case behind /v1/images/generations: resolve the model, translate,
// submit once, wait through the shared poller, and download every result into
// the blob store. Knows nothing of HTTP requests or tenants.
import type { ImageRequest } from "../catalog/request.js";
import { type TranslateOptions, type Translation, translateRequest } from "../catalog/translate.js";
import type { Clock } from "../clock.js";
import { GatewayError } from "../errors.js";
import type { BlobStore, StoredBlob } from "../storage/blobs.js";
import { type UpstreamClient, UpstreamError } from "../upstream/client.js";
import { type Poller, TaskWaitError } from "../upstream/poller.js";
import {
  downloadFailure,
  submitFailure,
  TaskFailedError,
  taskFailure,
  waitFailure,
} from "./failures.js";

export interface GenerateCommand {
  request: ImageRequest;
  /** The upstream credential to submit, read and download with. */
  credential: string;
  /** Clock time the caller's request arrived; the wait limit counts from it. */
  receivedAt: number;
  /** The usage record reserved for this generation, if any. */
  recordId?: string | undefined;
}

/** Where the use case reports how a generation went (usage accounting). */
export interface GenerationRecorder {
  submitted(recordId: string, upstreamTaskId: string): void;
  finished(
    recordId: string,
    outcome:
      | { state: "succeeded"; images: number }
      | { state: "failed" | "refused" | "unknown" | "error"; errorCode: string },
  ): void;
}

export interface GeneratedImages {
  /** Unix seconds, as OpenAI's `created`. */
  created: number;
  images: StoredBlob[];
  translation: Translation;
  upstreamTaskId: string;
}

export interface GenerationService {
  /** Checks and translates a request without submitting it (throws 4xx errors). */
  translate(request: ImageRequest, options?: TranslateOptions): Translation;
  generate(command: GenerateCommand, translation?: Translation): Promise<GeneratedImages>;
}

/** The slice of a pino logger the use case writes to. */
export interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface GenerationDeps {
  upstream: UpstreamClient;
  poller: Poller;
  blobs: BlobStore;
  clock: Clock;
  log: Log;
  /** Longest a synchronous request waits for its task (IMAGEGATE_MAX_WAIT_MS). */
  maxWaitMs: number;
  recorder?: GenerationRecorder;
}

// Connection refused and 429 leave no task behind, so a short retry is safe;
// anything longer belongs to the caller's own retry policy.
const submitRetryDelaysMs = [250, 1_000] as const;
const submitRetryAfterCapMs = 5_000;
const downloadRetryDelaysMs = [300, 1_200] as const;

export function createGenerationService(deps: GenerationDeps): GenerationService {
  const { upstream, poller, blobs, clock, log } = deps;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      clock.setTimeout(resolve, ms);
    });

  /** Submits once (retrying only what left no task behind); rejects with [error, reached upstream?]. */
  async function submit(credential: string, translation: Translation): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await upstream.submit(credential, translation.body);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        const delay = submitRetryDelaysMs[attempt];
        const retryable =
          err.kind === "unreachable" ||
          (err.kind === "rate_limited" && (err.retryAfterMs ?? 0) <= submitRetryAfterCapMs);
        if (!retryable || delay === undefined) throw err;
        log.warn({ kind: err.kind, attempt }, "upstream submit not accepted; retrying");
        await sleep(Math.max(delay, err.retryAfterMs ?? 0));
      }
    }
  }

  async function downloadOne(
    credential: string,
    taskId: string,
    index: number,
  ): Promise<StoredBlob> {
    for (let attempt = 0; ; attempt++) {
      try {
        const download = await upstream.download(credential, taskId, index);
        const blob = await blobs.put(download.body);
        if (blob.contentType === undefined) {
          await blobs.remove(blob.id);
          throw downloadFailure(taskId, `result ${index} is not a PNG, JPEG, WebP or GIF image`);
        }
        return blob;
      } catch (err) {
        const delay = downloadRetryDelaysMs[attempt];
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
    credential: string,
    taskId: string,
    count: number,
  ): Promise<StoredBlob[]> {
    const outcomes = await Promise.allSettled(
      Array.from({ length: count }, (_, index) => downloadOne(credential, taskId, index)),
    );
    const images: StoredBlob[] = [];
    let firstError: unknown;
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") images.push(outcome.value);
      else firstError ??= outcome.reason;
    }
    if (images.length === 0) throw firstError;
    if (firstError !== undefined) {
      // Answer with the images that arrived, as for a provider returning fewer than n.
      log.warn({ taskId, err: firstError }, "some results could not be downloaded");
    }
    return images;
  }

  return {
    translate: translateRequest,

    async generate(command, translation = translateRequest(command.request)) {
      const { recordId } = command;
      const record = deps.recorder;
      let taskId: string;
      try {
        taskId = await submit(command.credential, translation);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        const failure = submitFailure(err);
        if (recordId !== undefined) {
          record?.finished(recordId, {
            // An ambiguous submit may have created (and charged) a task.
            state: err.kind === "ambiguous" ? "unknown" : "refused",
            errorCode: failure.code ?? "upstream_error",
          });
        }
        throw failure;
      }
      const submittedAt = clock.now();
      if (recordId !== undefined) record?.submitted(recordId, taskId);
      try {
        const result = await waitAndDownload(command, translation, taskId, submittedAt);
        if (recordId !== undefined) {
          record?.finished(recordId, { state: "succeeded", images: result.images.length });
        }
        return result;
      } catch (err) {
        if (recordId !== undefined) {
          const code = err instanceof GatewayError ? err.code : null;
          record?.finished(recordId, {
            state: err instanceof TaskFailedError ? "failed" : "error",
            errorCode: code ?? "internal_error",
          });
        }
        throw err;
      }
    },
  };

  async function waitAndDownload(
    command: GenerateCommand,
    translation: Translation,
    taskId: string,
    submittedAt: number,
  ): Promise<GeneratedImages> {
    log.info({ upstreamTaskId: taskId, model: translation.body.model }, "upstream task submitted");

    let snapshot: Awaited<ReturnType<Poller["watch"]>>;
    try {
      snapshot = await poller.watch({
        credential: command.credential,
        taskId,
        submittedAt,
        expectedMs: translation.expectedMs,
        deadline: command.receivedAt + deps.maxWaitMs,
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
    const count = Math.min(snapshot.resultCount, translation.n);
    let images: StoredBlob[];
    try {
      images = await downloadAll(command.credential, taskId, count);
    } catch (err) {
      throw err instanceof UpstreamError
        ? downloadFailure(taskId, err.message)
        : (err as GatewayError);
    }
    log.info(
      { upstreamTaskId: taskId, images: images.length, ms: clock.now() - submittedAt },
      "upstream task delivered",
    );
    return {
      created: Math.floor(clock.now() / 1000),
      images,
      translation,
      upstreamTaskId: taskId,
    };
  }
}
