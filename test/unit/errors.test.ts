// The one mapping from errors to the OpenAI error envelope.
import { errorCodes } from "fastify";
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  GatewayError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  toErrorResponse,
  UpstreamFailureError,
} from "../../src/errors.js";

/** The body must be exactly OpenAI's envelope: no extra keys, no stack. */
function expectEnvelope(body: unknown) {
  expect(Object.keys(body as object)).toEqual(["error"]);
  const error = (body as { error: object }).error;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
}

describe("toErrorResponse: GatewayError subclasses", () => {
  it("InvalidRequestError → 400 with param and a default code", () => {
    const response = toErrorResponse(new InvalidRequestError("size must be 1024x1024", "size"));
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

  it("InvalidRequestError keeps a custom code and a null param", () => {
    const response = toErrorResponse(new InvalidRequestError("bad", null, "missing_prompt"));
    expect(response.body.error).toMatchObject({ param: null, code: "missing_prompt" });
  });

  it("AuthenticationError → 401 invalid_api_key with WWW-Authenticate", () => {
    const response = toErrorResponse(new AuthenticationError());
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
    expect(toErrorResponse(new AuthenticationError("Key revoked.")).body.error.message).toBe(
      "Key revoked.",
    );
  });

  it("PermissionDeniedError → 403 permission_error", () => {
    const response = toErrorResponse(
      new PermissionDeniedError("model not allowed", "model", "model_not_allowed"),
    );
    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      error: {
        message: "model not allowed",
        type: "permission_error",
        param: "model",
        code: "model_not_allowed",
      },
    });
    expect(toErrorResponse(new PermissionDeniedError("no")).body.error).toMatchObject({
      param: null,
      code: "permission_denied",
    });
  });

  it("NotFoundError → 404 (model_not_found like OpenAI)", () => {
    const response = toErrorResponse(
      new NotFoundError("The model `nope` does not exist.", "model_not_found", "model"),
    );
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      error: {
        message: "The model `nope` does not exist.",
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      },
    });
    expect(toErrorResponse(new NotFoundError("gone")).body.error).toMatchObject({
      param: null,
      code: "not_found",
    });
  });

  it("UpstreamFailureError keeps its status, type, code and headers", () => {
    const response = toErrorResponse(
      new UpstreamFailureError({
        status: 503,
        type: "upstream_error",
        code: "model_unavailable",
        message: "No upstream channel serves this model right now.",
        headers: { "retry-after": "30" },
      }),
    );
    expect(response).toEqual({
      status: 503,
      headers: { "retry-after": "30" },
      body: {
        error: {
          message: "No upstream channel serves this model right now.",
          type: "upstream_error",
          param: null,
          code: "model_unavailable",
        },
      },
    });
  });

  it("a plain GatewayError maps the same way", () => {
    const response = toErrorResponse(
      new GatewayError({
        status: 429,
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        message: "Rate limit reached.",
        headers: { "retry-after": "12" },
      }),
    );
    expect(response.status).toBe(429);
    expect(response.headers).toEqual({ "retry-after": "12" });
    expect(response.body.error).toEqual({
      message: "Rate limit reached.",
      type: "rate_limit_error",
      param: null,
      code: "rate_limit_exceeded",
    });
    expectEnvelope(response.body);
  });

  it("subclasses carry their own name and are GatewayErrors", () => {
    for (const err of [
      new InvalidRequestError("x", null),
      new AuthenticationError(),
      new PermissionDeniedError("x"),
      new NotFoundError("x"),
      new UpstreamFailureError({ status: 502, type: "upstream_error", code: null, message: "x" }),
    ]) {
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(err.constructor.name);
    }
  });

  it("does not show the cause", () => {
    const cause = new Error("connect ECONNREFUSED 10.0.0.7:443 with key sk-secret");
    const response = toErrorResponse(
      new UpstreamFailureError({
        status: 502,
        type: "upstream_error",
        code: "upstream_unreachable",
        message: "The upstream could not be reached.",
        cause,
      }),
    );
    expect(JSON.stringify(response)).not.toContain("sk-secret");
    expect(JSON.stringify(response)).not.toContain("10.0.0.7");
  });
});

describe("toErrorResponse: x-should-retry", () => {
  const upstream = (retryable: boolean | undefined) =>
    new UpstreamFailureError({
      status: 502,
      type: "upstream_error",
      code: "upstream_ambiguous",
      message: "The upstream may have started the task.",
      headers: { "x-request-id": "req_1" },
      ...(retryable === undefined ? {} : { retryable }),
    });

  it("tells clients not to retry when the error is not retryable", () => {
    const response = toErrorResponse(upstream(false));
    expect(response.status).toBe(502);
    expect(response.headers).toEqual({ "x-request-id": "req_1", "x-should-retry": "false" });
  });

  it("says nothing when retryable or unspecified", () => {
    expect(toErrorResponse(upstream(true)).headers).toEqual({ "x-request-id": "req_1" });
    expect(toErrorResponse(upstream(undefined)).headers).toEqual({ "x-request-id": "req_1" });
  });

  it("does not modify the error's own headers", () => {
    const err = upstream(false);
    toErrorResponse(err);
    expect(err.headers).toEqual({ "x-request-id": "req_1" });
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
