// The error catalogue, the typed errors made from it, and the one mapping to
// the OpenAI error envelope (as fastify's lib/errors.js).
//
// `errorCatalogue` lists every code a client can see: its status, its OpenAI
// `type`, whether a client may retry it, and its message. A code has exactly
// one status, one type and one meaning; the errors are made with
// `gatewayError(code, params, extras)` (or `errorSpec` for the few subclasses
// that code tests with instanceof), whose params TypeScript checks per code.
// `toErrorResponse` is the only place that knows the body shape
// `{"error": {message, type, param, code}}`. Errors that are not GatewayErrors
// are internal faults: their message never reaches the caller.

export type ErrorType =
  | "invalid_request_error"
  | "permission_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "server_error"
  | "upstream_error"
  | "timeout_error";

/** One code of the catalogue; `P` are the named parameters its message (or headers) take. */
interface CatalogueEntry<P> {
  status: number;
  type: ErrorType;
  /**
   * False: clients are told not to retry (`x-should-retry: false`). The OpenAI
   * SDK retries 408, 409, 429 and every 5xx otherwise: false wherever a blind
   * retry could submit and pay twice, or cannot succeed.
   */
  retryable: boolean;
  message: string | ((params: P) => string);
  /** The parameter the error is about, when the code always names the same one. */
  param?: string | ((params: P) => string);
  /** Headers the answer always carries, e.g. retry-after. */
  headers?: Readonly<Record<string, string>> | ((params: P) => Record<string, string>);
}

/** Ties an entry's params type to its message and headers. */
const entry = <P = undefined>(spec: CatalogueEntry<P>): CatalogueEntry<P> => spec;

/** A delay as whole seconds for retry-after, at least 1. */
const retryAfterSeconds = (ms: number): string => String(Math.max(1, Math.ceil(ms / 1000)));

/** For codes whose message is written by the check that found the problem. */
type Detail = { detail: string };
const detail = ({ detail }: Detail) => detail;

/** 400 invalid_request_error, retryable (by the SDK's rules a 400 is never retried anyway). */
const invalid = <P = undefined>(
  message: CatalogueEntry<P>["message"],
  param?: CatalogueEntry<P>["param"],
) =>
  entry<P>({
    status: 400,
    type: "invalid_request_error",
    retryable: true,
    message,
    ...(param === undefined ? {} : { param }),
  });

const mb = (bytes: number) => Math.floor(bytes / 1024 / 1024);

export const errorCatalogue = {
  // ---- 400: the request itself -------------------------------------------
  /** A parameter's value is not accepted (the check says which and why). */
  invalid_value: invalid<Detail>(detail),
  /** A parameter has the wrong JSON type. */
  invalid_type: invalid<Detail>(detail),
  missing_required_parameter: invalid<{ param: string }>(
    ({ param }) => `Missing required parameter: '${param}'.`,
    ({ param }) => param,
  ),
  /** A body field, or a multipart file field, the route does not take. */
  unknown_parameter: invalid<{ param: string; file?: boolean }>(
    ({ param, file }) =>
      file === true ? `Unexpected file field '${param}'.` : `Unknown parameter: '${param}'.`,
    ({ param }) => param,
  ),
  // Bounds, named as OpenAI names them.
  integer_above_max_value: invalid<Detail>(detail),
  integer_below_min_value: invalid<Detail>(detail),
  decimal_above_max_value: invalid<Detail>(detail),
  decimal_below_min_value: invalid<Detail>(detail),
  empty_string: invalid<Detail>(detail),
  empty_array: invalid<Detail>(detail),
  string_above_max_length: invalid<Detail>(detail),
  string_below_min_length: invalid<Detail>(detail),
  array_above_max_length: invalid<Detail>(detail),
  array_below_min_length: invalid<Detail>(detail),
  /** The body is JSON but not an object. */
  invalid_json: invalid("The request body must be a JSON object."),
  /** Not a valid HTTP request, or a body Fastify could not parse (its own message). */
  invalid_request: invalid<Detail>(detail),
  invalid_idempotency_key: invalid(
    "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
  ),
  invalid_content_type: invalid(
    "Variations take multipart/form-data with one 'image' file.",
    "image",
  ),
  invalid_multipart: invalid<{ reason: string }>(
    ({ reason }) => `The multipart/form-data body is malformed: ${reason}.`,
  ),
  too_many_fields: invalid("The form has too many fields."),
  too_many_images: invalid<{ max: number }>(
    ({ max }) =>
      max === 0
        ? "This model does not take reference images."
        : `This model takes at most ${max} reference image${max === 1 ? "" : "s"}.`,
    "image",
  ),
  /** An upload whose bytes are not PNG, JPEG or WebP. */
  invalid_image_format: invalid<{ param: string }>(
    ({ param }) =>
      `Invalid image file for '${param}': its content is not a PNG, JPEG or WebP image (the file name and declared type are not trusted).`,
    ({ param }) => param,
  ),
  /** An image that cannot be read or processed. */
  invalid_image: invalid<Detail>(detail, "image"),
  /** A mask that cannot be used with its image. */
  invalid_mask: invalid<Detail>(detail, "mask"),
  mask_not_supported: invalid(
    "None of the upstream's models can apply a mask, so 'mask' cannot be honoured. Describe the change in the prompt and send the image without a mask.",
    "mask",
  ),
  /** Storing a credential without IMAGEGATE_MASTER_KEY (admin API, CLI). */
  master_key_required: invalid<{ secret: string }>(
    ({ secret }) =>
      `Storing ${secret} needs IMAGEGATE_MASTER_KEY to be configured (it seals credentials at rest).`,
  ),
  /** The prompt or an image was refused for safety, on submit or as the task's failure. */
  content_policy_violation: entry({
    status: 400,
    type: "invalid_request_error",
    retryable: false,
    message: ({ reason, taskId }: { reason: string; taskId?: string }) =>
      taskId === undefined ? reason : `${reason} (upstream task ${taskId})`,
    param: "prompt",
  }),
  /** The upstream refused a parameter (its own words). */
  upstream_rejected: invalid<{ upstreamSays: string }>(
    ({ upstreamSays }) => `The upstream rejected the request: ${upstreamSays}`,
  ),

  // ---- 401 ----------------------------------------------------------------
  /** A missing, unknown, revoked or expired API key (or admin token). */
  invalid_api_key: entry({
    status: 401,
    type: "invalid_request_error",
    retryable: true,
    message: (params?: { missing?: boolean; admin?: boolean }) =>
      params?.missing === true
        ? "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'."
        : params?.admin === true
          ? "Invalid admin token."
          : "Incorrect API key provided.",
    headers: { "www-authenticate": 'Bearer realm="imagegate"' },
  }),

  // ---- 403 ----------------------------------------------------------------
  /** Authenticated, but not allowed (Fastify's own 403s). */
  permission_denied: entry({
    status: 403,
    type: "permission_error",
    retryable: true,
    message: detail,
  }),
  model_not_allowed: entry({
    status: 403,
    type: "permission_error",
    retryable: true,
    message: ({ model }: { model: string }) =>
      `This API key is not allowed to use the model '${model}'.`,
    param: "model",
  }),
  /** The upstream refused the model or route for the gateway's account. */
  upstream_permission_denied: entry({
    status: 403,
    type: "permission_error",
    retryable: true,
    message: ({ upstreamSays }: { upstreamSays: string }) =>
      `The upstream refused this request: ${upstreamSays}`,
    param: "model",
  }),
  url_expired: entry({
    status: 403,
    type: "permission_error",
    retryable: true,
    message: "This image URL has expired.",
  }),
  invalid_signature: entry({
    status: 403,
    type: "permission_error",
    retryable: true,
    message: "This image URL is not valid (bad or missing signature).",
  }),

  // ---- 404 ----------------------------------------------------------------
  /** Fastify's own 404s. */
  not_found: notFound<Detail>(detail),
  /** No route for this method and path. */
  unknown_url: notFound<{ method: string; path: string }>(
    ({ method, path }) => `Unknown request URL: ${method} ${path}.`,
  ),
  /** An unknown (or hidden) model; `retrieve` for GET /v1/models/{id}, worded as OpenAI's. */
  model_not_found: notFound<{ model: string; retrieve?: boolean }>(
    ({ model, retrieve }) =>
      retrieve === true
        ? `The model '${model}' does not exist`
        : `The model '${model}' does not exist or you do not have access to it.`,
    "model",
  ),
  /** No task with this id for this tenant (the upstream's own wording of the code). */
  task_not_exist: notFound<{ task: string }>(({ task }) => `No task '${task}'.`),
  result_not_found: notFound<{ task: string; index: number; finished: boolean }>(
    ({ task, index, finished }) =>
      finished
        ? `Task '${task}' has no result ${index} (any more).`
        : `Task '${task}' has no result yet.`,
  ),
  file_not_found: notFound("This image no longer exists."),
  tenant_not_found: notFound<{ tenant: string }>(({ tenant }) => `No tenant '${tenant}'.`),
  key_not_found: notFound<{ key: string; tenant: string }>(
    ({ key, tenant }) => `No key '${key}' for tenant '${tenant}'.`,
  ),
  channel_not_found: notFound<{ channel: string }>(({ channel }) => `No channel '${channel}'.`),
  generation_not_found: notFound<{ generation: string }>(
    ({ generation }) => `No generation '${generation}'.`,
  ),

  // ---- 405, 406 (Fastify's own), 408 ---------------------------------------
  method_not_allowed: clientError<Detail>(405, detail),
  not_acceptable: clientError<Detail>(406, detail),
  /** The request did not arrive within IMAGEGATE_BODY_TIMEOUT_MS (or Fastify's 408). */
  request_timeout: entry({
    status: 408,
    type: "timeout_error",
    retryable: true,
    message: ({ ms }: { ms: number }) => `The request was not received within ${ms} ms.`,
  }),

  // ---- 409: conflicts no retry resolves -----------------------------------
  idempotency_key_reused: conflict(
    "This Idempotency-Key was already used with a different request; use a new key for a new request.",
  ),
  /**
   * The environment's channel is changed through the environment only (the
   * CLI, which works on the data dir, says it is not stored there).
   */
  channel_from_environment: conflict<{ channel: string; cli?: boolean }>(({ channel, cli }) =>
    cli === true
      ? `${channel} is the environment's channel (IMAGEGATE_UPSTREAM_URL and IMAGEGATE_UPSTREAM_KEY); it is not stored: change those and restart.`
      : `Channel ${channel} is defined by IMAGEGATE_UPSTREAM_URL and IMAGEGATE_UPSTREAM_KEY; change those and restart.`,
  ),
  channel_in_use: conflict<{ channel: string; inFlight: number; disableWith: string }>(
    ({ channel, inFlight, disableWith }) =>
      `Channel ${channel} has ${inFlight} task(s) in flight; disable it (${disableWith}) and delete it once they are done.`,
  ),
  channel_name_taken: conflict<{ name: string }>(
    ({ name }) => `A channel named ${JSON.stringify(name)} exists already.`,
    "name",
  ),

  // ---- 413: too large ------------------------------------------------------
  /**
   * The request is larger than the gateway (Fastify's body limit) or the
   * upstream takes: checked before sending (no `upstreamSays`), or said by the
   * upstream. Nothing was submitted either way.
   */
  request_too_large: clientError<{ upstreamSays?: string }>(413, ({ upstreamSays }) =>
    upstreamSays === undefined
      ? "With its reference images this request is larger than the upstream accepts; nothing was submitted. Send fewer or smaller images."
      : `The upstream refused the request as too large: ${upstreamSays}`,
  ),
  /** All the uploaded files of one request together, as declared or as received. */
  upload_too_large: clientError<{ maxBytes: number; declared?: boolean }>(
    413,
    ({ maxBytes, declared }) =>
      declared === true
        ? `The request body is larger than ${mb(maxBytes)} MB, the most the uploaded files of one request may have together.`
        : `The uploaded files together are larger than ${mb(maxBytes)} MB.`,
    "image",
  ),
  file_too_large: clientError<{ param: string; maxBytes: number }>(
    413,
    ({ param, maxBytes }) => `The file for '${param}' is larger than ${mb(maxBytes)} MB.`,
    ({ param }) => param,
  ),

  // ---- 415 (Fastify's own), 431 ---------------------------------------------
  unsupported_media_type: clientError<Detail>(415, detail),
  request_headers_too_large: clientError(431, "The request headers are too large."),

  // ---- 429: limits ---------------------------------------------------------
  /** The key's requests per minute (@fastify/rate-limit adds retry-after). */
  rate_limit_exceeded: entry({
    status: 429,
    type: "rate_limit_error",
    retryable: true,
    message: ({ max, after }: { max: number; after: string }) =>
      `Rate limit reached: ${max} requests per minute. Retry in ${after}.`,
  }),
  concurrency_limit_exceeded: entry({
    status: 429,
    type: "rate_limit_error",
    retryable: true,
    message: ({ max }: { max: number }) =>
      `Too many concurrent image requests: this key allows ${max} at a time. Retry when one finishes.`,
    headers: { "retry-after": "1" },
  }),
  /** This key's share of the uploads being received at once (retry-after: uploads take seconds). */
  upload_limit_exceeded: entry({
    status: 429,
    type: "rate_limit_error",
    retryable: true,
    message:
      "Too many uploads in progress for this key at once. Retry when one of them has been received.",
    headers: { "retry-after": "2" },
  }),
  /** The upstream throttles; nothing was submitted. */
  upstream_rate_limited: entry({
    status: 429,
    type: "rate_limit_error",
    retryable: true,
    message: ({ upstreamSays }: { upstreamSays: string; retryAfterMs?: number }) =>
      `The upstream is rate limiting requests; nothing was submitted. (${upstreamSays})`,
    headers: ({ retryAfterMs }) => ({ "retry-after": retryAfterSeconds(retryAfterMs ?? 5_000) }),
  }),
  /** The key's own daily image budget (images_per_day) is used up. */
  insufficient_quota: entry({
    status: 429,
    type: "insufficient_quota",
    retryable: false,
    message: ({ used, limit, asked }: { used: number; limit: number; asked: number }) =>
      `This key's daily image budget is used up: ${used} of ${limit} images today (UTC), ${Math.max(0, limit - used)} left, ${asked} asked for. It resets at 00:00 UTC.`,
  }),
  /** The upstream account behind the gateway has no balance left: an operator's matter. */
  upstream_insufficient_quota: entry({
    status: 429,
    type: "insufficient_quota",
    retryable: false,
    message: ({ upstreamSays }: { upstreamSays: string }) =>
      `The upstream account has insufficient balance: ${upstreamSays}`,
  }),

  // ---- 500 ----------------------------------------------------------------
  /** An unexpected fault; its own message is never shown. */
  internal_error: entry({
    status: 500,
    type: "server_error",
    retryable: true,
    message: (params?: { finishingGeneration?: boolean }) =>
      params?.finishingGeneration === true
        ? "The gateway failed while finishing this generation."
        : "The server had an error while processing your request.",
  }),
  /** The gateway could not send the submit: nothing reached the upstream. */
  submit_not_sent: entry({
    status: 500,
    type: "server_error",
    retryable: true,
    message:
      "The gateway could not send this request to the upstream; nothing was submitted or charged.",
  }),
  /** The result exists but could not be stored for a URL. */
  result_storage_failed: entry({
    status: 500,
    type: "server_error",
    retryable: false,
    message: ({ taskId }: { taskId: string }) =>
      `The result of upstream task ${taskId} could not be stored for a URL; ask for response_format "b64_json" or try again later.`,
  }),
  /** After a restart, the account that accepted a task is no longer configured. */
  upstream_credential_missing: entry({
    status: 500,
    type: "server_error",
    retryable: false,
    message: ({ taskId }: { taskId: string | null }) =>
      `The gateway restarted and the upstream account that accepted task ${taskId} is no longer configured, so it could not be collected.`,
  }),

  // ---- 502: the upstream, after a submit (never retried: it may be paid) ---
  /**
   * The submit may have reached the upstream, and is not sent again: its
   * answer was lost, or the gateway restarted while submitting (`restart`) or
   * during a synchronous upstream call (`restart: "sync_call"`).
   */
  upstream_submit_unconfirmed: upstreamFault((params?: { restart?: "submitting" | "sync_call" }) =>
    params?.restart === "submitting"
      ? "The gateway restarted while this task was being submitted. It was not resubmitted, to avoid a double charge."
      : params?.restart === "sync_call"
        ? "The gateway restarted while the upstream was making these images. The call was not repeated, to avoid a double charge."
        : "The upstream did not confirm the task submission. It was not resubmitted, to avoid a double charge.",
  ),
  upstream_authentication_failed: upstreamFault(
    "The upstream rejected the gateway's credential for this tenant.",
  ),
  /** The task ran and ended in FAILURE. */
  upstream_task_failed: upstreamFault(
    ({ taskId, reason }: { taskId: string; reason: string }) =>
      `The upstream task ${taskId} failed: ${reason}`,
  ),
  upstream_task_lost: upstreamFault(
    ({ taskId }: { taskId: string }) => `The upstream no longer knows task ${taskId}.`,
  ),
  /** Reading a task already submitted kept failing; the task may still run upstream. */
  upstream_unreachable_while_waiting: upstreamFault(
    ({ taskId }: { taskId: string }) =>
      `The upstream could not be reached while waiting for task ${taskId}.`,
  ),
  upstream_result_unavailable: upstreamFault(
    ({ taskId, detail }: { taskId: string; detail: string }) =>
      `The result of upstream task ${taskId} could not be downloaded: ${detail}`,
  ),
  /** A result past IMAGEGATE_MAX_RESULT_MB, discarded. */
  upstream_result_too_large: upstreamFault(
    ({ taskId, index, maxBytes }: { taskId: string; index: number; maxBytes: number }) =>
      `Result ${index} of upstream task ${taskId} is larger than ${mb(maxBytes)} MB, the most this gateway accepts; it was discarded.`,
  ),
  /** A result image that cannot be read or processed. */
  upstream_result_invalid: upstreamFault(detail),

  // ---- 503: not now; nothing was submitted unless said ---------------------
  /** The upstream cannot be reached (connection refused, DNS): nothing was submitted. */
  upstream_unreachable: unavailable(
    "The image service upstream cannot be reached; nothing was submitted.",
    { "retry-after": "5" },
  ),
  /** The circuit breaker is open: the upstream keeps failing, nothing was submitted. */
  upstream_unavailable: entry({
    status: 503,
    type: "server_error",
    retryable: true,
    message:
      "The image service upstream is failing right now; nothing was submitted. Retry after the time in retry-after.",
    headers: ({ retryAfterMs }: { retryAfterMs: number }) => ({
      "retry-after": retryAfterSeconds(retryAfterMs),
    }),
  }),
  /** Every channel serving the model is at its max_concurrent. */
  upstream_busy: unavailable(
    "Every upstream account that serves this model is at its concurrency limit; nothing was submitted. Retry after the time in retry-after.",
    { "retry-after": "1" },
  ),
  /** The upstream's channels do not serve the model now; an operator's matter. */
  model_unavailable: entry({
    status: 503,
    type: "server_error",
    retryable: false,
    message: ({ upstreamSays }: { upstreamSays: string }) =>
      `No upstream channel serves this model right now: ${upstreamSays}`,
  }),
  /** No channel is configured for the model. */
  no_upstream_channel: entry({
    status: 503,
    type: "server_error",
    retryable: true,
    message: ({ model }: { model: string }) =>
      `No upstream account is configured for model ${model}; nothing was submitted.`,
    headers: { "retry-after": "30" },
  }),
  /** A shared engine (PostgreSQL, Redis) is not answering: nothing was started. */
  dependency_unavailable: entry({
    status: 503,
    type: "server_error",
    retryable: true,
    message: ({ dependency }: { dependency: "database" | "redis" | "storage" }) =>
      `The gateway's ${dependencyNames[dependency]} is not answering; nothing was started. Retry shortly.`,
    headers: { "retry-after": "2" },
  }),
  /** The generation could not be recorded, so nothing was submitted. */
  record_unavailable: unavailable(
    "The gateway could not record this generation, so nothing was submitted. Try again in a moment.",
    { "retry-after": "1" },
  ),
  /** The gateway stopped waiting; the task is recorded and collected at the next start. */
  shutting_down: entry({
    status: 503,
    type: "server_error",
    retryable: false,
    message: ({ taskId }: { taskId: string }) =>
      `The gateway is shutting down; upstream task ${taskId} is still recorded and will be collected when the gateway starts again.`,
  }),
  /** The process receives too many uploads at once (retry-after: uploads take seconds). */
  server_busy: unavailable("The gateway is receiving too many uploads right now. Retry shortly.", {
    "retry-after": "2",
  }),
  too_many_connections: unavailable(
    "The server has too many open connections. Please retry shortly.",
    { "retry-after": "1" },
  ),
  /** GET /console where the console's bundle was not built: waiting does not mend it. */
  console_not_built: entry({
    status: 503,
    type: "server_error",
    retryable: false,
    message:
      "The operator console is not built into this installation: run `npm run build` (it bundles web/ into dist/console/), then restart the gateway.",
  }),

  // ---- 504 ----------------------------------------------------------------
  /**
   * A synchronous caller's wait (IMAGEGATE_MAX_WAIT_MS) ran out; the
   * generation goes on and keeps its result under the task named.
   */
  generation_timeout: entry({
    status: 504,
    type: "timeout_error",
    retryable: false,
    message: ({ recordId, upstreamTaskId }: { recordId: string; upstreamTaskId?: string }) =>
      `The image is still being generated by task ${recordId}${upstreamTaskId === undefined ? "" : ` (upstream task ${upstreamTaskId})`}, which goes on and keeps its result: fetch it with GET /v1/images/tasks/${recordId} and /v1/images/tasks/${recordId}/content?index=0.`,
  }),
  /** The task did not finish within its lifetime upstream (about two hours): it is lost. */
  upstream_task_expired: entry({
    status: 504,
    type: "timeout_error",
    retryable: false,
    message: ({ taskId }: { taskId: string }) =>
      `The upstream task ${taskId} did not finish while its results could still be collected (about two hours).`,
  }),
};

function notFound<P = undefined>(
  message: CatalogueEntry<P>["message"],
  param?: CatalogueEntry<P>["param"],
): CatalogueEntry<P> {
  return clientError<P>(404, message, param);
}

function clientError<P = undefined>(
  status: number,
  message: CatalogueEntry<P>["message"],
  param?: CatalogueEntry<P>["param"],
): CatalogueEntry<P> {
  return {
    status,
    type: "invalid_request_error",
    retryable: true,
    message,
    ...(param === undefined ? {} : { param }),
  };
}

function conflict<P = undefined>(
  message: CatalogueEntry<P>["message"],
  param?: CatalogueEntry<P>["param"],
): CatalogueEntry<P> {
  return {
    status: 409,
    type: "invalid_request_error",
    retryable: false,
    message,
    ...(param === undefined ? {} : { param }),
  };
}

function upstreamFault<P = undefined>(message: CatalogueEntry<P>["message"]): CatalogueEntry<P> {
  return { status: 502, type: "upstream_error", retryable: false, message };
}

const dependencyNames = {
  database: "database",
  redis: "shared limits store",
  storage: "image storage",
} as const;

function unavailable(message: string, headers: Record<string, string>): CatalogueEntry<undefined> {
  return { status: 503, type: "server_error", retryable: true, message, headers };
}

type Catalogue = typeof errorCatalogue;
export type ErrorCode = keyof Catalogue;

/** The named parameters of a code's message (undefined: none, or all optional). */
export type ErrorParams<C extends ErrorCode> =
  Catalogue[C] extends CatalogueEntry<infer P> ? P : never;

export interface ErrorExtras {
  /** The parameter the error is about, for codes the catalogue does not fix one for. */
  param?: string | null;
  /** Kept for logs; never shown to the caller. */
  cause?: unknown;
}

export type ErrorArgs<C extends ErrorCode> =
  undefined extends ErrorParams<C>
    ? [params?: ErrorParams<C>, extras?: ErrorExtras]
    : [params: ErrorParams<C>, extras?: ErrorExtras];

declare const fromCatalogue: unique symbol;

/** What a GatewayError is made of; only `errorSpec` (from the catalogue) makes one. */
export interface ErrorSpec {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: ErrorCode;
  readonly message: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  readonly retryable: boolean;
  readonly cause?: unknown;
  readonly [fromCatalogue]: true;
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(errorCatalogue, code);
}

/** The catalogue's entry for `code`, filled in with its params. */
export function errorSpec<C extends ErrorCode>(code: C, ...args: ErrorArgs<C>): ErrorSpec {
  const [params, extras = {}] = args;
  const entry = errorCatalogue[code] as CatalogueEntry<unknown>;
  const fill = <T>(field: T | ((p: unknown) => T)): T =>
    typeof field === "function" ? (field as (p: unknown) => T)(params) : field;
  const spec = {
    status: entry.status,
    type: entry.type,
    code,
    message: fill(entry.message),
    param: extras.param ?? (entry.param === undefined ? null : fill(entry.param)),
    headers: entry.headers === undefined ? {} : { ...fill(entry.headers) },
    retryable: entry.retryable,
    ...(extras.cause === undefined ? {} : { cause: extras.cause }),
  };
  return spec as typeof spec & { [fromCatalogue]: true };
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  /** False: the answer carries `x-should-retry: false`. */
  readonly retryable: boolean;

  constructor(spec: ErrorSpec) {
    super(spec.message, spec.cause === undefined ? undefined : { cause: spec.cause });
    this.name = new.target.name;
    this.status = spec.status;
    this.type = spec.type;
    this.code = spec.code;
    this.param = spec.param;
    this.headers = spec.headers;
    this.retryable = spec.retryable;
  }
}

/** 400: a parameter the caller got wrong; `param` names it. */
export class InvalidRequestError extends GatewayError {}

/** 404: an unknown model (OpenAI answers model_not_found), route or resource. */
export class NotFoundError extends GatewayError {}

/** The error for `code`; a 400 is an InvalidRequestError and a 404 a NotFoundError. */
export function gatewayError<C extends ErrorCode>(code: C, ...args: ErrorArgs<C>): GatewayError {
  const spec = errorSpec(code, ...args);
  if (spec.status === 400) return new InvalidRequestError(spec);
  if (spec.status === 404) return new NotFoundError(spec);
  return new GatewayError(spec);
}

/**
 * The same error (class, code, status, headers and all) with another message,
 * the original as its cause: the caller's model name put for the upstream's.
 */
export function withMessage<E extends GatewayError>(err: E, message: string): E {
  const copy = Object.create(Object.getPrototypeOf(err)) as E;
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(err));
  Object.defineProperty(copy, "message", { value: message, writable: true, configurable: true });
  Object.defineProperty(copy, "cause", { value: err, writable: true, configurable: true });
  return copy;
}

/**
 * An error recorded with a generation, answered again (to a retry that joins
 * it) as it was first answered. Never retried: the generation is over. A
 * record written by an earlier version may carry a status a code has since
 * given up; it is replayed as written.
 */
export function recordedError(recorded: {
  status: number;
  type: string;
  code: string | null;
  message: string;
}): GatewayError {
  // Built as recorded, not from the catalogue: it was made from it when it happened.
  const spec = {
    status: recorded.status,
    type: recorded.type,
    code: recorded.code,
    message: recorded.message,
    param: null,
    headers: {},
    retryable: false,
  } as ErrorSpec;
  return new GatewayError(spec);
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
}

/** Shape of the errors Fastify and its plugins throw; no Fastify import needed. */
interface StatusLike {
  statusCode?: unknown;
  status?: unknown;
  code?: unknown;
  message?: unknown;
}

/** The code of a client error Fastify (or a plugin) throws, by its status. */
export const fastifyStatusCodes: Readonly<Record<number, ErrorCode>> = {
  400: "invalid_request",
  401: "invalid_api_key",
  403: "permission_denied",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  413: "request_too_large",
  415: "unsupported_media_type",
  429: "rate_limit_exceeded",
};

// Messages Fastify produces for client mistakes are safe and useful to show;
// these codes are rewritten into something an SDK user understands.
const fastifyMessages: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "The request body is not valid JSON.",
  FST_ERR_CTP_EMPTY_JSON_BODY: "The request body is empty; a JSON object is required.",
  FST_ERR_CTP_BODY_TOO_LARGE: "The request body is too large.",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "Unsupported Content-Type; send application/json.",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "The Content-Length header does not match the body.",
};

function envelope(
  status: number,
  headers: Record<string, string>,
  error: ErrorResponse["body"]["error"],
): ErrorResponse {
  return { status, headers, body: { error } };
}

export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof GatewayError) {
    const headers = { ...err.headers };
    if (!err.retryable) headers["x-should-retry"] = "false";
    return envelope(err.status, headers, {
      message: err.message,
      type: err.type,
      param: err.param,
      code: err.code,
    });
  }
  const like = (typeof err === "object" && err !== null ? err : {}) as StatusLike;
  const status = typeof like.statusCode === "number" ? like.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own message (or its rewording) under the catalogue's code and
    // type; an unlisted status keeps a null code.
    const code = fastifyStatusCodes[status];
    const fastifyCode = typeof like.code === "string" ? like.code : "";
    const message =
      fastifyMessages[fastifyCode] ??
      (typeof like.message === "string" && like.message !== "" ? like.message : "Invalid request.");
    return envelope(
      status,
      {},
      {
        message,
        type: code === undefined ? "invalid_request_error" : errorCatalogue[code].type,
        param: null,
        code: code ?? null,
      },
    );
  }
  // Internal fault: never leak the message or stack of an unexpected error.
  const hidden = errorSpec("internal_error");
  return envelope(
    hidden.status,
    {},
    {
      message: hidden.message,
      type: hidden.type,
      param: null,
      code: hidden.code,
    },
  );
}
