// Which driver errors say a shared engine is away (a 503 with retry-after),
// and which keep their own meaning.
import { describe, expect, it } from "vitest";
import { gatewayError } from "../../src/errors.js";
import { unavailableDependency } from "../../src/stores/unavailable.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("unavailableDependency", () => {
  it.each([
    ["PostgreSQL shutting down (57P01)", withCode("terminating connection", "57P01"), "database"],
    ["PostgreSQL connection failure (08006)", withCode("connection failure", "08006"), "database"],
    [
      "the pool's connect timeout",
      new Error("timeout exceeded when trying to connect"),
      "database",
    ],
    [
      "a refused connection",
      withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"),
      "database",
    ],
    [
      "ioredis without its offline queue",
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      "redis",
    ],
    [
      "S3 answering 503",
      Object.assign(new Error("Service Unavailable"), { $metadata: { httpStatusCode: 503 } }),
      "storage",
    ],
    [
      "S3 out of reach",
      Object.assign(withCode("getaddrinfo ENOTFOUND bucket.s3", "ENOTFOUND"), { $metadata: {} }),
      "storage",
    ],
  ])("%s is a 503 dependency_unavailable", (_, err, dependency) => {
    const mapped = unavailableDependency(err);
    expect(mapped?.status).toBe(503);
    expect(mapped?.code).toBe("dependency_unavailable");
    expect(mapped?.headers).toEqual({ "retry-after": "2" });
    expect(mapped?.message).toBe(
      gatewayError("dependency_unavailable", {
        dependency: dependency as "database" | "redis" | "storage",
      }).message,
    );
  });

  it.each([
    ["a unique violation", withCode("duplicate key", "23505")],
    ["S3's 404", Object.assign(new Error("NotFound"), { $metadata: { httpStatusCode: 404 } })],
    ["a bug", new TypeError("x is undefined")],
    ["a gateway error", gatewayError("invalid_api_key")],
    ["not an error", "text"],
  ])("%s keeps its own meaning", (_, err) => {
    expect(unavailableDependency(err)).toBeUndefined();
  });
});
