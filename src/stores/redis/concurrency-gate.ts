// Tenants' concurrency slots shared by every replica (tenancy/limits.ts's
// ConcurrencyGate on Redis). A tenant's slots are one sorted set, a member per
// slot held (leased-members.ts). Taking one is one Lua script (drop the
// expired, count, add), so replicas taking the last slot at once cannot both
// get it.
import { gatewayError } from "../../errors.js";
import type { ConcurrencyGate } from "../../tenancy/limits.js";
import { unavailableDependency } from "../unavailable.js";
import type { Redis } from "./connection.js";
import { type LeasedMembers, luaNow } from "./leased-members.js";

/** KEYS[1] the tenant's slots; ARGV max (-1: none, never refused), member, lease ms. */
const takeScript = `${luaNow}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local max = tonumber(ARGV[1])
if max >= 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1`;

/** KEYS[1] the tenant's slots: how many are held now. */
const countScript = `${luaNow}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

/** Redis's error as the gateway's 503: the request is refused, nothing started. */
export function redisUnavailable(err: unknown) {
  return (
    unavailableDependency(err) ?? gatewayError("dependency_unavailable", { dependency: "redis" })
  );
}

export function createRedisConcurrencyGate(options: {
  redis: Redis;
  /** Prepended to every key (IMAGEGATE_REDIS_PREFIX). */
  prefix: string;
  leases: LeasedMembers;
}): ConcurrencyGate {
  const { redis, prefix, leases } = options;
  const keyOf = (tenantId: string) => `${prefix}slots:${tenantId}`;

  async function take(tenantId: string, max: number | null) {
    const key = keyOf(tenantId);
    const member = leases.newMember();
    let taken: unknown;
    try {
      taken = await redis.eval(takeScript, 1, key, max ?? -1, member, leases.leaseMs);
    } catch (err) {
      throw redisUnavailable(err);
    }
    return taken === 1 ? leases.held(key, member) : undefined;
  }

  return {
    async acquire(tenantId, max) {
      const release = await take(tenantId, max);
      if (release === undefined) {
        throw gatewayError("concurrency_limit_exceeded", { max: max ?? 0 });
      }
      return release;
    },
    tryAcquire: (tenantId, max) => take(tenantId, max),
    async inFlight(tenantId) {
      try {
        return Number(await redis.eval(countScript, 1, keyOf(tenantId)));
      } catch (err) {
        throw redisUnavailable(err);
      }
    },
  };
}
