// A shared engine that does not answer (PostgreSQL restarting, Redis away) is
// the gateway's 503 with retry-after, never a 500 or a hang: the caller's SDK
// retries, and nothing was started. The drivers' errors are recognised here,
// in one place, whichever module met them.
import { GatewayError, gatewayError } from "../errors.js";

// PostgreSQL's SQLSTATE classes 08 (connection exception) and 57P (operator
// intervention: shutdown, crash recovery), and 53 (insufficient resources).
const postgresUnavailable = /^(08|57P|53)/;
const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

function postgresDown(err: Error & { code?: unknown }): boolean {
  if (typeof err.code === "string" && postgresUnavailable.test(err.code)) return true;
  // pg's own messages when the pool cannot connect or the server went away.
  return /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error/i.test(
    err.message,
  );
}

function redisDown(err: Error): boolean {
  // ioredis: no offline queue while disconnected, or a command given up on.
  return (
    err.name === "MaxRetriesPerRequestError" ||
    /enableOfflineQueue options is false|Connection is closed|Reached the max retries per request/i.test(
      err.message,
    )
  );
}

/**
 * The 503 for an error that says a shared engine is away; undefined for any
 * other error (a constraint, a bug), which keeps its own meaning.
 */
export function unavailableDependency(err: unknown): GatewayError | undefined {
  if (!(err instanceof Error) || err instanceof GatewayError) return undefined;
  const code = (err as { code?: unknown }).code;
  const network = typeof code === "string" && networkCodes.has(code);
  // The S3 SDK's errors carry $metadata: a bucket that cannot be reached, or answers 5xx.
  const s3 = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  if (s3 !== undefined) {
    const status = s3.httpStatusCode;
    return network || status === undefined || status >= 500
      ? gatewayError("dependency_unavailable", { dependency: "storage" })
      : undefined;
  }
  if (redisDown(err)) return gatewayError("dependency_unavailable", { dependency: "redis" });
  if (postgresDown(err) || network) {
    return gatewayError("dependency_unavailable", { dependency: "database" });
  }
  return undefined;
}
