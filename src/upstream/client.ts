// The upstream's three routes over undici (UPSTREAM.md). Takes a base URL, a
// credential and a body; knows nothing of tenants, Fastify or OpenAI shapes.
// Every failure is an UpstreamError whose `kind` says what the caller may do
// next, above all whether a submit may have reached the upstream.
import type { Readable } from "node:stream";
import { type Dispatcher, Pool } from "undici";
import { type EncodedBody, encodeJsonBody } from "./json-body.js";
import { errorMessageOf, normaliseTask, submittedTaskId, type TaskSnapshot } from "./status.js";

export type UpstreamErrorKind =
  /** Nothing reached the upstream (connection refused, DNS): safe to retry. */
  | "unreachable"
  /** The upstream definitely refused; no task was created. */
  | "refused"
  /** Refused for throttling (429); no task was created. */
  | "rate_limited"
  /** A submit may or may not have created a task: never resubmit. */
  | "ambiguous"
  /** A read or download failed in a way that may pass (5xx, timeout, bad body). */
  | "transient"
  /** The upstream does not know the task (400 task_not_exist, 404). */
  | "task_not_exist"
  /** A result that is no longer there (404, 410, 502 on download). */
  | "gone"
  /**
   * The gateway itself failed to build or send the body (an unreadable
   * upload): nothing complete reached the upstream, and it says nothing about
   * the upstream's health.
   */
  | "local";

export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly status: number | undefined;
  /** The upstream's error code (`model_not_found`, `insufficient_user_quota`, …). */
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: UpstreamErrorKind,
    message: string,
    details: { status?: number; code?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "UpstreamError";
    this.kind = kind;
    this.status = details.status;
    this.code = details.code;
    this.retryAfterMs = details.retryAfterMs;
  }
}

export interface Download {
  /** The upstream's Content-Type, if it sent one. */
  contentType: string | undefined;
  contentLength: number | undefined;
  body: Readable;
}

export interface UpstreamClient {
  /** Submits a task; resolves to the upstream task id. */
  submit(credential: string, body: Record<string, unknown>): Promise<string>;
  read(credential: string, taskId: string): Promise<TaskSnapshot>;
  /** Opens result `index`; the caller must consume or destroy `body`. */
  download(credential: string, taskId: string, index: number): Promise<Download>;
  close(): Promise<void>;
}

export interface UpstreamClientOptions {
  baseUrl: string;
  /** A Pool in production, a MockAgent in unit tests. */
  dispatcher?: Dispatcher;
  /** Longest wait for a submit's answer before it counts as ambiguous. */
  submitTimeoutMs?: number;
  readTimeoutMs?: number;
  /** Longest silence between chunks of a download. */
  downloadIdleTimeoutMs?: number;
  connections?: number;
  /** Largest body the upstream takes: a larger submit is refused before it is sent. */
  maxBodyBytes?: number;
}

// Connection errors raised before a request could be written.
const notSentCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Happy-eyeballs connects fail with an AggregateError of per-address errors.
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0 ? errorCode(inner[0]) : undefined;
}

/** Retry-After in seconds or as an HTTP date, in ms from now. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function header(
  headers: Dispatcher.ResponseData["headers"],
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function readJson(body: Dispatcher.ResponseData["body"]): Promise<unknown> {
  const text = await body.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What a submit answered with other than 2xx means: refused for sure, throttled, or maybe created. */
export function submitRefusal(response: Dispatcher.ResponseData, json: unknown): UpstreamError {
  const status = response.statusCode;
  const { message, code } = errorMessageOf(json);
  const details = {
    status,
    ...(code === undefined ? {} : { code }),
  };
  const text = message ?? `HTTP ${status}`;
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"));
    return new UpstreamError("rate_limited", text, {
      ...details,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  // 4xx, 503 model_not_found and 500 invalid_request are definite refusals;
  // any other 5xx may have been raised after the task was created.
  const definite =
    (status >= 400 && status < 500) || code === "model_not_found" || code === "invalid_request";
  return new UpstreamError(definite ? "refused" : "ambiguous", text, details);
}

/** A submit that failed on the way: nothing sent (unreachable) or maybe received (ambiguous). */
export function sendFailureKind(err: unknown): "unreachable" | "ambiguous" {
  const code = errorCode(err);
  return code !== undefined && notSentCodes.has(code) ? "unreachable" : "ambiguous";
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const base = new URL(options.baseUrl);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, "");
  const submitTimeoutMs = options.submitTimeoutMs ?? 60_000;
  const readTimeoutMs = options.readTimeoutMs ?? 30_000;
  const downloadIdleTimeoutMs = options.downloadIdleTimeoutMs ?? 60_000;
  const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  const ownsDispatcher = options.dispatcher === undefined;
  const dispatcher: Dispatcher =
    options.dispatcher ??
    new Pool(origin, {
      connections: options.connections ?? 128,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
    });

  const authorization = (credential: string) => `Bearer ${credential}`;

  async function send(
    method: "GET" | "POST",
    path: string,
    credential: string,
    timeoutMs: number,
    body?: string | EncodedBody,
    bodyTimeoutMs = timeoutMs,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {
      authorization: authorization(credential),
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (body !== undefined && typeof body !== "string") {
      headers["content-length"] = String(body.length);
    }
    return dispatcher.request({
      origin,
      path: `${prefix}${path}`,
      method,
      headers,
      body: body === undefined ? null : typeof body === "string" ? body : body.open(),
      headersTimeout: timeoutMs,
      bodyTimeout: bodyTimeoutMs,
    });
  }

  function failure(kind: UpstreamErrorKind, what: string, err: unknown): UpstreamError {
    const code = errorCode(err);
    return new UpstreamError(kind, `${what}: ${code ?? "network error"}`, {
      ...(code === undefined ? {} : { code }),
      cause: err,
    });
  }

  return {
    async submit(credential, payload) {
      let body: string | EncodedBody;
      try {
        body = encodeJsonBody(payload);
      } catch (err) {
        throw new UpstreamError("local", "the submit body could not be built", { cause: err });
      }
      const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      if (length > maxBodyBytes) {
        throw new UpstreamError(
          "local",
          `the submit body would be ${length} bytes, more than the upstream takes (${maxBodyBytes})`,
          { status: 413 },
        );
      }
      let response: Dispatcher.ResponseData;
      try {
        response = await send(
          "POST",
          "/v1/images/generations/async",
          credential,
          submitTimeoutMs,
          body,
        );
      } catch (err) {
        // A file that could not be read cut the body short: the upstream
        // never had a complete request, so no task exists.
        // undici stops a body longer than it declared before the extra byte
        // goes out: likewise incomplete, likewise ours.
        const tooLong = errorCode(err) === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH";
        if (typeof body !== "string" && (body.localError !== undefined || tooLong)) {
          throw new UpstreamError("local", "an uploaded reference could not be read", {
            cause: body.localError ?? err,
          });
        }
        throw failure(sendFailureKind(err), "upstream submit failed", err);
      }
      const status = response.statusCode;
      let json: unknown;
      try {
        json = await readJson(response.body);
      } catch (err) {
        // The answer was cut off: whether a task exists is unknown.
        throw failure("ambiguous", "upstream submit answer was cut off", err);
      }
      if (status >= 200 && status < 300) {
        const taskId = submittedTaskId(json);
        if (taskId === undefined) {
          throw new UpstreamError("ambiguous", "upstream accepted the submit without a task id", {
            status,
          });
        }
        return taskId;
      }
      throw submitRefusal(response, json);
    },

    async read(credential, taskId) {
      let response: Dispatcher.ResponseData;
      try {
        response = await send(
          "GET",
          `/v1/images/tasks/${encodeURIComponent(taskId)}`,
          credential,
          readTimeoutMs,
        );
      } catch (err) {
        throw failure("transient", "upstream task read failed", err);
      }
      const status = response.statusCode;
      let json: unknown;
      try {
        json = await readJson(response.body);
      } catch (err) {
        throw failure("transient", "upstream task read was cut off", err);
      }
      if (status >= 200 && status < 300) {
        const snapshot = normaliseTask(json);
        if (!snapshot) {
          throw new UpstreamError("transient", "upstream task read is not a task object", {
            status,
          });
        }
        return snapshot;
      }
      const { message, code } = errorMessageOf(json);
      if (status === 404 || code === "task_not_exist") {
        throw new UpstreamError("task_not_exist", `upstream does not know task ${taskId}`, {
          status,
          code: code ?? "task_not_exist",
        });
      }
      const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"));
      throw new UpstreamError(
        status === 429 ? "rate_limited" : "transient",
        message ?? `HTTP ${status}`,
        {
          status,
          ...(code === undefined ? {} : { code }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      );
    },

    async download(credential, taskId, index) {
      let response: Dispatcher.ResponseData;
      try {
        response = await dispatcher.request({
          origin,
          path: `${prefix}/v1/images/tasks/${encodeURIComponent(taskId)}/content?index=${index}`,
          method: "GET",
          headers: { authorization: authorization(credential) },
          headersTimeout: readTimeoutMs,
          bodyTimeout: downloadIdleTimeoutMs,
        });
      } catch (err) {
        throw failure("transient", "upstream download failed", err);
      }
      const status = response.statusCode;
      if (status !== 200) {
        const { message, code } = errorMessageOf(await readJson(response.body).catch(() => null));
        const gone = status === 404 || status === 410 || status === 502;
        const kind: UpstreamErrorKind = gone
          ? "gone"
          : code === "task_not_exist"
            ? "task_not_exist"
            : "transient";
        const retryAfterMs = parseRetryAfter(header(response.headers, "retry-after"));
        throw new UpstreamError(kind, message ?? `HTTP ${status}`, {
          status,
          ...(code === undefined ? {} : { code }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      const length = Number(header(response.headers, "content-length"));
      return {
        contentType: header(response.headers, "content-type"),
        contentLength: Number.isFinite(length) ? length : undefined,
        body: response.body,
      };
    },

    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
