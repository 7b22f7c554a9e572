// The limits replicas must share: tenants' concurrency slots, their share of
// the uploads in flight, and (through @fastify/rate-limit) their requests per
// minute. In this process by default; on Redis when IMAGEGATE_REDIS_URL is set,
// so that every replica counts against the same numbers.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Config } from "../config.js";
import { createRedisConcurrencyGate } from "../stores/redis/concurrency-gate.js";
import { openRedis, type Redis, redisAnswers } from "../stores/redis/connection.js";
import { createLeasedMembers } from "../stores/redis/leased-members.js";
import { createRedisUploadShares } from "../stores/redis/upload-shares.js";
import { type ConcurrencyGate, createConcurrencyGate } from "../tenancy/limits.js";
import { localUploadShares, type TenantUploadShares } from "../tenancy/upload-budget.js";

export interface SharedLimits {
  gate: ConcurrencyGate;
  uploadShares: TenantUploadShares;
  /** The Redis client (ioredis) for @fastify/rate-limit's store, with the key prefix; undefined: in process. */
  rateLimitStore: { redis: Redis; nameSpace: string } | undefined;
  /** Whether the shared store answers now (readiness); always true in process. */
  answers(): Promise<boolean>;
}

declare module "fastify" {
  interface FastifyInstance {
    limits: SharedLimits;
  }
}

export const limitsPluginName = "imagegate-limits";

async function limits(app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  if (config.redisUrl === undefined) {
    app.decorate("limits", {
      gate: createConcurrencyGate(),
      uploadShares: localUploadShares(),
      rateLimitStore: undefined,
      answers: async () => true,
    });
    return;
  }
  // ioredis reports each failed reconnect: one line per state change is enough.
  let down = false;
  const redis = await openRedis(config.redisUrl, {
    onError: (err) => {
      if (down) return;
      down = true;
      app.log.error(
        { err: { message: err.message } },
        "Redis is not answering; shared limits refuse new work",
      );
    },
  });
  redis.on("ready", () => {
    if (down) app.log.info("Redis answers again");
    down = false;
  });
  const prefix = config.redisPrefix;
  const leases = createLeasedMembers({
    redis,
    onError: (err) => app.log.warn({ err }, "could not renew or give back a shared limit's lease"),
  });
  app.decorate("limits", {
    gate: createRedisConcurrencyGate({ redis, prefix, leases }),
    uploadShares: createRedisUploadShares({ redis, prefix, leases }),
    rateLimitStore: { redis, nameSpace: `${prefix}rpm:` },
    answers: () => redisAnswers(redis),
  });
  app.addHook("onClose", async () => {
    await leases.close();
    redis.disconnect();
  });
}

export const limitsPlugin = fp(limits, { name: limitsPluginName, fastify: "5.x" });
