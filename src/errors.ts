// Typed errors and the one mapping to the OpenAI error envelope.
//
// Everything below the HTTP layer throws a GatewayError (or subclass) with a
// stable `code`; `toErrorResponse` is the only place that knows the body shape
// `{"error": {message, type, param, code}}`. Errors that are not GatewayErrors
// are internal faults: their message never reaches the caller.

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "server_error"
  | "upstream_error"
  | "timeout_error";

export interface GatewayErrorOptions {
  status: number;
  type: ErrorType;
  code: string | null;
  message: string;
  param?: string | null;
  /** Extra response headers, e.g. retry-after. */
  headers?: Record<string, string>;
  /**
   * When false, clients (the OpenAI SDK) are told not to retry: used wherever a
   * blind retry could submit and pay twice.
   */
  retryable?: boolean;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  readonly retryable: boolean | undefined;

  constructor(options: GatewayErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status;
    this.type = options.type;
    this.code = options.code;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
    this.retryable = options.retryable;
  }
}

/** 400: a parameter the caller got wrong; `param` names it. */
export class InvalidRequestError extends GatewayError {
  constructor(message: string, param: string | null, code = "invalid_value") {
    super({ status: 400, type: "invalid_request_error", code, message, param });
  }
}

/** 401: missing, unknown, revoked or expired API key. */
export class AuthenticationError extends GatewayError {
  constructor(message = "Incorrect API key provided.") {
    super({
      status: 401,
      type: "invalid_request_error",
      code: "invalid_api_key",
      message,
      headers: { "www-authenticate": 'Bearer realm="imagegate"' },
    });
  }
}

/** 403: authenticated, but not allowed. */
export class PermissionDeniedError extends GatewayError {
  constructor(message: string, param: string | null = null, code = "permission_denied") {
    super({ status: 403, type: "permission_error", code, message, param });
  }
}

/** 404: unknown model (OpenAI answers model_not_found) or unknown resource. */
export class NotFoundError extends GatewayError {
  constructor(message: string, code = "not_found", param: string | null = null) {
    super({ status: 404, type: "invalid_request_error", code, message, param });
  }
}

/** Upstream problems as the caller sees them (502/503/504, or 429 when upstream throttles). */
export class UpstreamFailureError extends GatewayError {}

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

const statusTypes: Record<number, { type: ErrorType; code: string | null }> = {
  400: { type: "invalid_request_error", code: "invalid_request" },
  401: { type: "invalid_request_error", code: "invalid_api_key" },
  403: { type: "permission_error", code: "permission_denied" },
  404: { type: "invalid_request_error", code: "not_found" },
  405: { type: "invalid_request_error", code: "method_not_allowed" },
  406: { type: "invalid_request_error", code: "not_acceptable" },
  408: { type: "timeout_error", code: "request_timeout" },
  413: { type: "invalid_request_error", code: "request_too_large" },
  415: { type: "invalid_request_error", code: "unsupported_media_type" },
  429: { type: "rate_limit_error", code: "rate_limit_exceeded" },
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

export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof GatewayError) {
    const headers = { ...err.headers };
    if (err.retryable === false) headers["x-should-retry"] = "false";
    return {
      status: err.status,
      headers,
      body: {
        error: {
          message: err.message,
          type: err.type,
          param: err.param,
          code: err.code,
        },
      },
    };
  }
  const like = (typeof err === "object" && err !== null ? err : {}) as StatusLike;
  const status = typeof like.statusCode === "number" ? like.statusCode : 500;
  if (status >= 400 && status < 500) {
    const known = statusTypes[status] ?? { type: "invalid_request_error", code: null };
    const fastifyCode = typeof like.code === "string" ? like.code : "";
    const message =
      fastifyMessages[fastifyCode] ??
      (typeof like.message === "string" && like.message !== "" ? like.message : "Invalid request.");
    return {
      status,
      headers: {},
      body: { error: { message, type: known.type, param: null, code: known.code } },
    };
  }
  // Internal fault: never leak the message or stack of an unexpected error.
  return {
    status: 500,
    headers: {},
    body: {
      error: {
        message: "The server had an error while processing your request.",
        type: "server_error",
        param: null,
        code: "internal_error",
      },
    },
  };
}
