// The pure parts of the gateway's edge: receive timeouts, raw error answers,
// strict days and result indexes (the end-to-end behaviour is in e2e/edges).
import { describe, expect, it } from "vitest";
import { gatewayError, withMessage } from "../../src/errors.js";
import { receiveTimeouts } from "../../src/http/client-errors.js";
import { rawErrorResponse } from "../../src/http/raw-error.js";
import { resultIndex } from "../../src/http/routes/tasks.js";
import { isUtcDay } from "../../src/validation.js";

describe("receiveTimeouts", () => {
  it.each([
    [1_000, 250],
    [60_000, 15_000],
    [120_000, 30_000],
    [600_000, 30_000],
  ])("%i ms is checked every %i ms, headers included", (timeout, interval) => {
    expect(receiveTimeouts(timeout)).toEqual({
      requestTimeout: timeout,
      http: {
        requestTimeout: timeout,
        headersTimeout: timeout,
        connectionsCheckingInterval: interval,
      },
    });
  });
});

describe("rawErrorResponse", () => {
  it("is a complete HTTP/1.1 answer in the OpenAI envelope that closes the connection", () => {
    // A message with a multi-byte character: content-length counts bytes.
    const raw = rawErrorResponse(
      withMessage(gatewayError("too_many_connections"), "Busy — retry."),
    );
    const [head = "", body = ""] = raw.split("\r\n\r\n");
    const lines = head.split("\r\n");
    expect(lines[0]).toBe("HTTP/1.1 503 Service Unavailable");
    expect(lines).toContain("retry-after: 1");
    expect(lines).toContain("connection: close");
    expect(lines).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toEqual({
      error: {
        message: "Busy — retry.",
        type: "server_error",
        param: null,
        code: "too_many_connections",
      },
    });
  });
});

describe("isUtcDay", () => {
  it.each(["2026-01-01", "2024-02-29", "2026-12-31", "0001-01-01", "9999-12-31"])(
    "%s is a day",
    (day) => expect(isUtcDay(day)).toBe(true),
  );
  it.each([
    "2026-13-45",
    "2026-02-29",
    "2026-02-30",
    "2026-04-31",
    "2026-00-01",
    "2026-01-00",
    "2026-1-01",
    "+02026-01-01",
    "2026-01-01T00:00:00Z",
    " 2026-01-01",
    "",
  ])("%j is not", (day) => expect(isUtcDay(day)).toBe(false));
});

describe("resultIndex", () => {
  it("is 0 when absent, else a plain whole number", () => {
    expect(resultIndex(undefined)).toBe(0);
    expect(resultIndex("0")).toBe(0);
    expect(resultIndex("7")).toBe(7);
    expect(resultIndex("123")).toBe(123);
  });
  it.each([
    "",
    " 0",
    "0 ",
    "0x0",
    "-0",
    "0.0",
    "00",
    "1e1",
    "+1",
    "9007199254740993",
    ["0", "1"],
    3,
  ])("%j is a 400 naming index", (raw) => {
    try {
      resultIndex(raw);
    } catch (err) {
      expect(err).toMatchObject({ status: 400, param: "index" });
      return;
    }
    throw new Error(`accepted ${JSON.stringify(raw)}`);
  });
});
