// Requests per minute per tenant through @fastify/rate-limit: keyed by tenant
// (not IP), each tenant with its own `rpm`, answered as OpenAI does (429,
// retry-after and the x-ratelimit-*-requests headers its clients read).
// Counted in process, or on Redis across replicas (plugins/limits.ts).
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import { gatewayError } from "../errors.js";

const windowMs = 60_000;

/**
 * `shared`: @fastify/rate-limit's Redis store, so that a tenant's rpm counts
 * on every replica; undefined: in process. Redis away: the request is a 503
 * (the error handler knows Redis's errors), never let through uncounted.
 */
export async function registerTenantRateLimit(
  app: FastifyInstance,
  shared: { redis: object; nameSpace: string } | undefined,
): Promise<void> {
  await app.register(rateLimit, {
    ...(shared === undefined ? {} : { redis: shared.redis, nameSpace: shared.nameSpace }),
    skipOnError: false,
    global: true,
    timeWindow: windowMs,
    // Runs after the scope's auth hook (route-level hooks follow instance-level ones).
    hook: "onRequest",
    keyGenerator: (request) => request.tenant?.id ?? request.ip,
    allowList: (request) => (request.tenant?.rpm ?? null) === null,
    max: (request) => request.tenant?.rpm ?? Number.MAX_SAFE_INTEGER,
    errorResponseBuilder: (_request, context) =>
      gatewayError("rate_limit_exceeded", { max: context.max, after: context.after }),
  });
  // OpenAI clients read x-ratelimit-{limit,remaining,reset}-requests.
  app.addHook("onSend", async (_request, reply) => {
    const limit = reply.getHeader("x-ratelimit-limit");
    if (limit === undefined) return;
    reply.header("x-ratelimit-limit-requests", limit);
    reply.header("x-ratelimit-remaining-requests", reply.getHeader("x-ratelimit-remaining"));
    reply.header("x-ratelimit-reset-requests", `${reply.getHeader("x-ratelimit-reset")}s`);
  });
}
