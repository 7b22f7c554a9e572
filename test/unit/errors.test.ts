// The one mapping from errors to the OpenAI error envelope.
import { errorCodes } from "fastify";
import { describe, expect, it } from "vitest";
import {
  errorSpec,
  GatewayError,
  gatewayError,
  InvalidRequestError,
  NotFoundError,
  toErrorResponse,
} from "../../src/errors.js";
import { TaskFailedError } from "../../src/generation/failures.js";

/** The body must be exactly OpenAI's envelope: no extra keys, no stack. */
function expectEnvelope(body: unknown) {
  expect(Object.keys(body as object)).toEqual(["error"]);
  const error = (body as { error: object }).error;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
}

describe("toErrorResponse: errors from the catalogue", () => {
  it("a 400 names its param and is an InvalidRequestError", () => {
    const err = gatewayError(
      "invalid_value",
      { detail: "size must be 1024x1024" },
      { param: "size" },
    );
    expect(err).toBeInstanceOf(InvalidRequestError);
    const response = toErrorResponse(err);
    expect(response).toEqual({
      status: 400,
      headers: {},
      body: {
        error: {
          message: "size must be 1024x1024",
          type: "invalid_request_error",
          param: "size",
          code: "invalid_value",
        },
      },
    });
    expectEnvelope(response.body);
  });

  it("a 400 of another code with a null param", () => {
    const response = toErrorResponse(gatewayError("too_many_fields"));
    expect(response.body.error).toMatchObject({ param: null, code: "too_many_fields" });
  });

  it("invalid_api_key → 401 with WWW-Authenticate", () => {
    const response = toErrorResponse(gatewayError("invalid_api_key"));
    expect(response.status).toBe(401);
    expect(response.headers).toEqual({ "www-authenticate": 'Bearer realm="imagegate"' });
    expect(response.body).toEqual({
      error: {
        message: "Incorrect API key provided.",
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
    expect(
      toErrorResponse(gatewayError("invalid_api_key", { admin: true })).body.error.message,
    ).toBe("Invalid admin token.");
  });

  it("model_not_allowed → 403 permission_error on 'model'", () => {
    const response = toErrorResponse(gatewayError("model_not_allowed", { model: "dall-e-3" }));
    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      error: {
        message: "This API key is not allowed to use the model 'dall-e-3'.",
        type: "permission_error",
        param: "model",
        code: "model_not_allowed",
      },
    });
    expect(
      toErrorResponse(gatewayError("permission_denied", { detail: "no" })).body.error,
    ).toMatchObject({
      param: null,
      code: "permission_denied",
    });
  });

  it("model_not_found → 404 like OpenAI, a NotFoundError", () => {
    const err = gatewayError("model_not_found", { model: "nope" });
    expect(err).toBeInstanceOf(NotFoundError);
    const response = toErrorResponse(err);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      error: {
        message: "The model 'nope' does not exist or you do not have access to it.",
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      },
    });
    expect(toErrorResponse(gatewayError("not_found", { detail: "gone" })).body.error).toMatchObject(
      {
        param: null,
        code: "not_found",
      },
    );
  });

  it("an upstream failure keeps its status, type, code and headers", () => {
    const response = toErrorResponse(gatewayError("no_upstream_channel", { model: "gpt-image-1" }));
    expect(response).toEqual({
      status: 503,
      headers: { "retry-after": "30" },
      body: {
        error: {
          message:
            "No upstream account is configured for model gpt-image-1; nothing was submitted.",
          type: "server_error",
          param: null,
          code: "no_upstream_channel",
        },
      },
    });
  });

  it("a limit maps the same way, with its retry-after", () => {
    const response = toErrorResponse(gatewayError("concurrency_limit_exceeded", { max: 2 }));
    expect(response.status).toBe(429);
    expect(response.headers).toEqual({ "retry-after": "1" });
    expect(response.body.error).toEqual({
      message:
        "Too many concurrent image requests: this key allows 2 at a time. Retry when one finishes.",
      type: "rate_limit_error",
      param: null,
      code: "concurrency_limit_exceeded",
    });
    expectEnvelope(response.body);
  });

  it("subclasses carry their own name and are GatewayErrors", () => {
    for (const err of [
      gatewayError("invalid_json"),
      gatewayError("invalid_api_key"),
      gatewayError("url_expired"),
      gatewayError("file_not_found"),
      gatewayError("upstream_task_lost", { taskId: "t" }),
      new TaskFailedError(errorSpec("upstream_task_failed", { taskId: "t", reason: "r" })),
    ]) {
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(err.constructor.name);
    }
  });

  it("does not show the cause", () => {
    const cause = new Error("connect ECONNREFUSED 10.0.0.7:443 with key sk-secret");
    const err = gatewayError("upstream_unreachable", undefined, { cause });
    expect(err.cause).toBe(cause);
    const response = toErrorResponse(err);
    expect(JSON.stringify(response)).not.toContain("sk-secret");
    expect(JSON.stringify(response)).not.toContain("10.0.0.7");
  });
});

describe("toErrorResponse: x-should-retry", () => {
  // The breaker's 503 as it is, and as if it were not retryable.
  const upstream = (retryable: boolean) =>
    new GatewayError({
      ...errorSpec("upstream_unavailable", { retryAfterMs: 1_000 }),
      retryable,
    });

  it("tells clients not to retry when the error is not retryable", () => {
    const response = toErrorResponse(upstream(false));
    expect(response.status).toBe(503);
    expect(response.headers).toEqual({ "retry-after": "1", "x-should-retry": "false" });
    expect(toErrorResponse(gatewayError("upstream_submit_unconfirmed")).headers).toEqual({
      "x-should-retry": "false",
    });
  });

  it("says nothing when retryable", () => {
    expect(toErrorResponse(upstream(true)).headers).toEqual({ "retry-after": "1" });
  });

  it("does not modify the error's own headers", () => {
    const err = upstream(false);
    toErrorResponse(err);
    expect(err.headers).toEqual({ "retry-after": "1" });
    expect(toErrorResponse(err).headers["x-should-retry"]).toBe("false");
  });
});

describe("toErrorResponse: Fastify errors", () => {
  it.each([
    [
      "invalid JSON",
      new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(),
      400,
      "invalid_request",
      "The request body is not valid JSON.",
    ],
    [
      "empty JSON",
      new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(),
      400,
      "invalid_request",
      "The request body is empty; a JSON object is required.",
    ],
    [
      "body too large",
      new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(),
      413,
      "request_too_large",
      "The request body is too large.",
    ],
    [
      "unsupported media type",
      new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE("text/plain"),
      415,
      "unsupported_media_type",
      "Unsupported Content-Type; send application/json.",
    ],
    [
      "bad content length",
      new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(),
      400,
      "invalid_request",
      "The Content-Length header does not match the body.",
    ],
  ])("%s → %i", (_name, err, status, code, message) => {
    const response = toErrorResponse(err);
    expect(response.status).toBe(status);
    expect(response.headers).toEqual({});
    expect(response.body).toEqual({
      error: { message, type: "invalid_request_error", param: null, code },
    });
    expectEnvelope(response.body);
  });

  it("maps other client errors by status and keeps their message", () => {
    const notFound = Object.assign(new Error("Route GET:/v1/nope not found"), { statusCode: 404 });
    expect(toErrorResponse(notFound)).toEqual({
      status: 404,
      headers: {},
      body: {
        error: {
          message: "Route GET:/v1/nope not found",
          type: "invalid_request_error",
          param: null,
          code: "not_found",
        },
      },
    });
    const tooMany = Object.assign(new Error("Slow down"), { statusCode: 429 });
    expect(toErrorResponse(tooMany).body.error).toMatchObject({
      type: "rate_limit_error",
      code: "rate_limit_exceeded",
    });
    const timeout = Object.assign(new Error("Request timeout"), { statusCode: 408 });
    expect(toErrorResponse(timeout).body.error.type).toBe("timeout_error");
  });

  it("maps an unlisted 4xx to invalid_request_error with a null code", () => {
    const response = toErrorResponse(Object.assign(new Error("teapot"), { statusCode: 418 }));
    expect(response.status).toBe(418);
    expect(response.body.error).toEqual({
      message: "teapot",
      type: "invalid_request_error",
      param: null,
      code: null,
    });
  });

  it("gives a 4xx without a message a generic one", () => {
    expect(toErrorResponse({ statusCode: 400 }).body.error.message).toBe("Invalid request.");
    expect(toErrorResponse({ statusCode: 400, message: "" }).body.error.message).toBe(
      "Invalid request.",
    );
  });
});

describe("toErrorResponse: internal faults", () => {
  const hidden = {
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

  it("hides the message and stack of an unexpected error", () => {
    const err = new Error("SQLITE_CORRUPT at /srv/imagegate/data/db.sqlite, key=sk-live-123");
    const response = toErrorResponse(err);
    expect(response).toEqual(hidden);
    const text = JSON.stringify(response);
    expect(text).not.toContain("SQLITE");
    expect(text).not.toContain("sk-live-123");
    expect(text).not.toContain("/srv/");
  });

  it("hides non-Gateway errors that carry a 5xx status", () => {
    const err = Object.assign(new Error("upstream pool exploded: 10.0.0.7"), { statusCode: 503 });
    expect(toErrorResponse(err)).toEqual(hidden);
  });

  it.each([
    ["a string", "boom"],
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["a string status", { statusCode: "400", message: "x" }],
    ["a 3xx status", { statusCode: 302, message: "moved" }],
    ["a TypeError", new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])("answers 500 for %s", (_name, thrown) => {
    expect(toErrorResponse(thrown)).toEqual(hidden);
  });
});
