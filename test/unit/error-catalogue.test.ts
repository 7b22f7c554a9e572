// The error catalogue (src/errors.ts): every code a client can see, with one
// status, one type and one meaning; nothing in src/ makes an error (or an
// error body) around it; and the README's list of codes is the table's.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type ErrorCode,
  errorCatalogue,
  fastifyStatusCodes,
  gatewayError,
  isErrorCode,
  recordedError,
  toErrorResponse,
  withMessage,
} from "../../src/errors.js";
import {
  circuitOpen,
  stillRunning,
  submitFailure,
  waitFailure,
} from "../../src/generation/failures.js";
import { UpstreamError } from "../../src/providers/failures.js";
import { TaskWaitError, type WaitFailure } from "../../src/upstream/poller.js";

const codes = Object.keys(errorCatalogue) as ErrorCode[];
const entries = Object.entries(errorCatalogue) as Array<
  [ErrorCode, (typeof errorCatalogue)[ErrorCode]]
>;

/** The types OpenAI's API answers with, and the gateway's own for upstream trouble. */
const openAiTypes = new Set([
  "invalid_request_error",
  "permission_error",
  "rate_limit_error",
  "insufficient_quota",
  "server_error",
  "upstream_error",
  "timeout_error",
]);

/** Params for any template: every name is a short string (booleans read it as "not true"). */
const anyParams = new Proxy({}, { get: (_target, name) => (name === "then" ? undefined : "x") });

describe("the table", () => {
  it("has codes in snake_case, each with a status 400–599, an OpenAI type and a message", () => {
    expect(codes.length).toBeGreaterThan(50);
    for (const [code, entry] of entries) {
      expect(code, code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      expect(Number.isInteger(entry.status), code).toBe(true);
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThanOrEqual(599);
      expect(openAiTypes.has(entry.type), `${code}: ${entry.type}`).toBe(true);
      expect(typeof entry.retryable, code).toBe("boolean");
      const message =
        typeof entry.message === "string"
          ? entry.message
          : (entry.message as (params: unknown) => string)(anyParams);
      expect(typeof message, code).toBe("string");
      expect(message.length, code).toBeGreaterThan(0);
    }
  });

  it("makes each code's error with the code's status, type and retry advice", () => {
    for (const [code, entry] of entries) {
      const err = gatewayError(code as "invalid_value", anyParams as { detail: string });
      expect(err.code).toBe(code);
      expect(err.status).toBe(entry.status);
      expect(err.type).toBe(entry.type);
      expect(err.retryable).toBe(entry.retryable);
      const response = toErrorResponse(err);
      expect(response.status).toBe(entry.status);
      expect(response.body.error.code).toBe(code);
      expect(response.headers["x-should-retry"]).toBe(entry.retryable ? undefined : "false");
    }
  });

  it("types 5xx as the server's or the upstream's, 429 as a limit, and 4xx as the request's", () => {
    for (const [code, entry] of entries) {
      const { status, type } = entry;
      if (status >= 500)
        expect(["server_error", "upstream_error", "timeout_error"], code).toContain(type);
      else if (status === 429)
        expect(["rate_limit_error", "insufficient_quota"], code).toContain(type);
      else if (status === 403) expect(type, code).toBe("permission_error");
      else if (status === 408) expect(type, code).toBe("timeout_error");
      else expect(type, code).toBe("invalid_request_error");
    }
  });
});

describe("retry advice for what the OpenAI SDK would retry (408, 409, 429, 5xx)", () => {
  // Today's x-should-retry: false, code by code. A code joins this list only
  // with a reason: a blind retry could pay twice, or cannot succeed.
  const notRetryable = [
    // 400: never retried by the SDK; said anyway, as for every task failure.
    "content_policy_violation",
    // 409: the same request conflicts again.
    "idempotency_key_reused",
    "channel_from_environment",
    "channel_in_use",
    "channel_name_taken",
    // 429: a budget or a balance, not a rate.
    "insufficient_quota",
    "upstream_insufficient_quota",
    // 500 after the task ran, or that a retry cannot mend.
    "result_storage_failed",
    "upstream_credential_missing",
    // 502: the submit may have reached the upstream (and been paid).
    "upstream_submit_unconfirmed",
    "upstream_authentication_failed",
    "upstream_task_failed",
    "upstream_task_lost",
    "upstream_unreachable_while_waiting",
    "upstream_result_unavailable",
    "upstream_result_too_large",
    "upstream_result_invalid",
    // 503 that waiting does not mend, or after a submit.
    "model_unavailable",
    "shutting_down",
    "console_not_built",
    // 504: the task goes on (or is lost); a retry would submit again.
    "generation_timeout",
    "upstream_task_expired",
  ];

  it("marks exactly these codes not retryable", () => {
    const marked = codes.filter((code) => !errorCatalogue[code].retryable);
    expect(marked.sort()).toEqual([...notRetryable].sort());
  });

  it("never lets the SDK retry a 409, a 502 or a 504", () => {
    for (const [code, { status, retryable }] of entries) {
      if (status === 409 || status === 502 || status === 504) expect(retryable, code).toBe(false);
    }
  });

  it("tells when to retry wherever nothing was submitted and a retry may work (503)", () => {
    for (const [code, entry] of entries) {
      if (entry.status !== 503 || !entry.retryable) continue;
      const err = gatewayError(code as "upstream_unavailable", { retryAfterMs: 1_500 });
      expect(err.headers["retry-after"], code).toMatch(/^\d+$/);
    }
  });
});

describe("one code, one meaning", () => {
  const wait = (reason: WaitFailure) =>
    waitFailure(new TaskWaitError(reason, "task_9", `the wait for task_9 ended: ${reason}`));

  it("a synchronous wait running out (the task goes on) is not a task past its lifetime (lost)", () => {
    const waiting = stillRunning("gen_1", "task_9");
    const expired = wait("deadline");
    expect([waiting.code, waiting.status]).toEqual(["generation_timeout", 504]);
    expect(waiting.message).toContain("GET /v1/images/tasks/gen_1");
    expect([expired.code, expired.status]).toEqual(["upstream_task_expired", 504]);
    expect(expired.message).toContain("task_9");
  });

  it("an open circuit breaker (nothing submitted) is not an upstream lost while waiting for a task", () => {
    const open = circuitOpen(4_200);
    const unreachable = wait("unavailable");
    expect([open.code, open.status, open.retryable]).toEqual(["upstream_unavailable", 503, true]);
    expect(open.headers["retry-after"]).toBe("5");
    expect([unreachable.code, unreachable.status, unreachable.retryable]).toEqual([
      "upstream_unreachable_while_waiting",
      502,
      false,
    ]);
  });

  it("the upstream account's balance is not the key's daily budget", () => {
    const balance = submitFailure(
      new UpstreamError("refused", "insufficient balance", { status: 403, code: "quota" }),
    );
    const budget = gatewayError("insufficient_quota", { used: 5, limit: 5, asked: 1 });
    expect([balance.code, balance.type, balance.status]).toEqual([
      "upstream_insufficient_quota",
      "insufficient_quota",
      429,
    ]);
    expect([budget.code, budget.type, budget.status]).toEqual([
      "insufficient_quota",
      "insufficient_quota",
      429,
    ]);
  });

  it("maps Fastify's client errors to codes of the same status", () => {
    for (const [status, code] of Object.entries(fastifyStatusCodes)) {
      expect(errorCatalogue[code].status, code).toBe(Number(status));
    }
  });

  it("keeps class, code and advice when only the message changes", () => {
    const err = gatewayError("upstream_task_failed", { taskId: "t", reason: "gpt-image-2 failed" });
    const renamed = withMessage(err, "The upstream task t failed: dall-e-2 failed");
    expect(renamed).toBeInstanceOf(err.constructor);
    expect(renamed).toMatchObject({ code: err.code, status: 502, retryable: false });
    expect(renamed.message).toBe("The upstream task t failed: dall-e-2 failed");
    expect(renamed.cause).toBe(err);
  });

  it("answers a recorded error again as it was recorded, never to be retried", () => {
    const again = recordedError({
      status: 502,
      type: "upstream_error",
      code: "upstream_task_lost",
      message: "The upstream no longer knows task t.",
    });
    expect(toErrorResponse(again)).toEqual({
      status: 502,
      headers: { "x-should-retry": "false" },
      body: {
        error: {
          message: "The upstream no longer knows task t.",
          type: "upstream_error",
          param: null,
          code: "upstream_task_lost",
        },
      },
    });
  });
});

// ---- src/ makes its errors from the table ----------------------------------

const src = join(process.cwd(), "src");
/** The simulator imitates other servers: its errors are theirs, not the gateway's. */
const outside = (file: string) => file === "errors.ts" || file.startsWith("simulator/");
const sources = readdirSync(src, { recursive: true })
  .map(String)
  .filter((name) => name.endsWith(".ts") && !outside(name))
  .map((name) => ({ file: name, text: readFileSync(join(src, name), "utf8") }));

/**
 * `code: "…"` written out as a key; reading a code is not this (`err.code === "…"`,
 * `{ code?: string }`, `ok ? err.code : "…"`).
 */
const codeLiteral = /(?<![.\w])code\s*:\s*(["'`])([^"'`]*)\1/g;
/** `type: "…_error"`: an OpenAI error type written out. */
const typeLiteral = /\btype\s*:\s*(["'`])([a-z_]*_error)\1/g;
/** `{ error: { message …`: the body of an error. */
const errorBody = /\berror\s*:\s*\{\s*message\b/g;
/** A GatewayError class given anything but a spec from the table. */
const handMade = /new\s+(?:GatewayError|InvalidRequestError|NotFoundError)\s*\(\s*(?!errorSpec\()/g;

/** Literals that are not errors, each with its reason. */
const allowed: Array<{ file: string; literal: string; why: string }> = [
  {
    file: "http/routes/tasks.ts",
    literal: 'code: "success"',
    why: "the upstream's own task envelope, which the async API imitates: a success",
  },
];

function findings(pattern: RegExp): string[] {
  const found: string[] = [];
  for (const { file, text } of sources) {
    for (const match of text.matchAll(pattern)) {
      if (allowed.some((ok) => ok.file === file && ok.literal === match[0])) continue;
      const line = text.slice(0, match.index).split("\n").length;
      found.push(`src/${file}:${line}: ${match[0]}`);
    }
  }
  return found;
}

describe("src/ makes every error from the catalogue", () => {
  it("reads the files it scans", () => {
    expect(sources.length).toBeGreaterThan(50);
    expect(sources.some(({ file }) => file === "generation/failures.ts")).toBe(true);
  });

  it("writes no error code outside the table", () => {
    expect(findings(codeLiteral)).toEqual([]);
  });

  it("writes no OpenAI error type outside the table", () => {
    expect(findings(typeLiteral)).toEqual([]);
  });

  it("builds no error body outside errors.ts", () => {
    expect(findings(errorBody)).toEqual([]);
  });

  it("makes no GatewayError by hand", () => {
    expect(findings(handMade)).toEqual([]);
  });

  it("uses only codes of the table", () => {
    const used = new Set<string>();
    for (const { text } of sources) {
      for (const match of text.matchAll(/\b(?:gatewayError|errorSpec)\(\s*"([^"]+)"/g)) {
        used.add(match[1] as string);
      }
    }
    expect(used.size).toBeGreaterThan(40);
    expect([...used].filter((code) => !isErrorCode(code))).toEqual([]);
  });

  it("finds what it looks for (the patterns are not blind)", () => {
    const sample = [
      'throw new GatewayError({ status: 409, type: "invalid_request_error", code: "x_taken" });',
      "return { error: { message: 'm', type: 'server_error', param: null, code: `y` } };",
    ].join("\n");
    expect([...sample.matchAll(codeLiteral)].map((m) => m[2])).toEqual(["x_taken", "y"]);
    expect([...sample.matchAll(typeLiteral)].map((m) => m[2])).toEqual([
      "invalid_request_error",
      "server_error",
    ]);
    expect([...sample.matchAll(errorBody)]).toHaveLength(1);
    expect([...sample.matchAll(handMade)]).toHaveLength(1);
    const reads =
      'if (err.code === "model_not_found") return { code?: string }; x = ok ? err.code : "internal_error";';
    expect([...reads.matchAll(codeLiteral)]).toEqual([]);
  });
});

describe("README.md lists the table", () => {
  const readme = readFileSync(join(process.cwd(), "README.md"), "utf8");
  // From its heading to the next one.
  const start = readme.indexOf("\n", readme.indexOf("### Errors"));
  const end = readme.slice(start).search(/^#/m);
  const section = end < 0 ? readme.slice(start) : readme.slice(start, start + end);
  const rows = new Map<string, { status: number; type: string }>();
  for (const match of section.matchAll(/^\| `([a-z0-9_]+)` \| (\d{3}) \| `([a-z_]+)` \|/gm)) {
    rows.set(match[1] as string, { status: Number(match[2]), type: match[3] as string });
  }

  it("has one row per code, with its status and type", () => {
    expect(readme).toContain("### Errors");
    expect([...rows.keys()].sort()).toEqual([...codes].sort());
    for (const [code, row] of rows) {
      if (!isErrorCode(code)) continue;
      const { status, type } = errorCatalogue[code];
      expect(row, code).toEqual({ status, type });
    }
  });
});
