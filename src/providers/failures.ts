// What any upstream's failure means for the caller, whatever the provider:
// an UpstreamError whose `kind` says what may be done next, above all whether
// a submit (or a synchronous call) may have reached the upstream and be billed.
// Shared by the providers' clients (async/, openai/); knows no tenant and no
// OpenAI answer shape.
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";

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

/** A result image being fetched; the caller must consume or destroy `body`. */
export interface Download {
  /** The upstream's Content-Type, if it sent one. */
  contentType: string | undefined;
  contentLength: number | undefined;
  body: Readable;
}

/** A JSON object (not an array), or undefined. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A string with something in it, trimmed, or undefined. */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/** The failure message of an error body: `error.message`, else `message`. */
export function errorMessageOf(body: unknown): { message?: string; code?: string } {
  const outer = record(body);
  const error = record(outer?.error);
  const code = nonEmptyString(error?.code) ?? nonEmptyString(outer?.code);
  const message = nonEmptyString(error?.message) ?? nonEmptyString(outer?.message);
  const result: { message?: string; code?: string } = {};
  if (message !== undefined) result.message = message;
  if (code !== undefined) result.code = code;
  return result;
}

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
