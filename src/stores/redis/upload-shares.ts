// A tenant's share of the uploads being received, across every replica
// (tenancy/upload-budget.ts's per-tenant cap on Redis). Each replica keeps its
// own total (what protects its memory and disk); the tenant's share is one
// sorted set whose members carry their bytes (`<replica>:<n>:<bytes>`), so
// one Lua script sums, checks and adds.
import { gatewayError } from "../../errors.js";
import type { TenantUploadShares } from "../../tenancy/upload-budget.js";
import { redisUnavailable } from "./concurrency-gate.js";
import type { Redis } from "./connection.js";
import { type LeasedMembers, luaNow } from "./leased-members.js";

/** KEYS[1] the tenant's uploads; ARGV share, bytes, member, force (1: never refuse), lease ms. */
const takeScript = `${luaNow}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  held = held + tonumber(string.match(member, ':(%d+)$'))
end
if ARGV[4] ~= '1' and held > 0 and held + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1`;

export function createRedisUploadShares(options: {
  redis: Redis;
  prefix: string;
  leases: LeasedMembers;
}): TenantUploadShares {
  const { redis, prefix, leases } = options;
  return {
    async take(tenantId, bytes, share, force) {
      const key = `${prefix}uploads:${tenantId}`;
      const member = leases.newMember(String(Math.ceil(bytes)));
      let taken: unknown;
      try {
        taken = await redis.eval(
          takeScript,
          1,
          key,
          share,
          Math.ceil(bytes),
          member,
          force ? 1 : 0,
          leases.leaseMs,
        );
      } catch (err) {
        throw redisUnavailable(err);
      }
      if (taken !== 1) throw gatewayError("upload_limit_exceeded");
      return leases.held(key, member);
    },
  };
}
