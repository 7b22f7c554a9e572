// What the shared limits hold in Redis: members of sorted sets (a slot, an
// upload's bytes), each scored by when it expires. Adding one is a Lua script
// of its own (the check and the add in one step); this module keeps the
// members this replica holds, renews them while they are held, and gives them
// back. A replica that dies stops renewing: its members free themselves when
// their lease ends, and the limits are whole again.
import { randomBytes } from "node:crypto";
import type { Redis } from "./connection.js";

/** Redis's own clock, so that replicas with skewed clocks agree on expiry. */
export const luaNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] a set; ARGV lease ms, then the members this replica still holds. */
const renewScript = `${luaNow}
local expires = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expires, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return #ARGV - 1`;

export interface LeasedMembers {
  readonly leaseMs: number;
  /** A member name unique to this replica; `suffix` is carried in it (an upload's bytes). */
  newMember(suffix?: string): string;
  /** Records a member the script added; returns its release (idempotent). */
  held(key: string, member: string): () => void;
  /** Stops renewing and gives back every member still held. */
  close(): Promise<void>;
}

export function createLeasedMembers(options: {
  redis: Redis;
  /** How long a member outlives its replica's last renewal (default 30 s). */
  leaseMs?: number;
  /** A renewal or release that failed (the member then lives until its lease ends). */
  onError?: (err: unknown) => void;
}): LeasedMembers {
  const { redis } = options;
  const leaseMs = options.leaseMs ?? 30_000;
  const replica = randomBytes(6).toString("hex");
  let sequence = 0;
  const byKey = new Map<string, Set<string>>();

  const renew = async () => {
    for (const [key, members] of byKey) {
      try {
        await redis.eval(renewScript, 1, key, leaseMs, ...members);
      } catch (err) {
        options.onError?.(err);
      }
    }
  };
  // Renewed at a third of the lease: two more tries before a member may expire.
  const timer = setInterval(() => void renew(), Math.max(10, Math.floor(leaseMs / 3)));
  timer.unref();

  return {
    leaseMs,
    newMember: (suffix) => `${replica}:${++sequence}${suffix === undefined ? "" : `:${suffix}`}`,
    held(key, member) {
      const members = byKey.get(key) ?? new Set<string>();
      members.add(member);
      byKey.set(key, members);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        members.delete(member);
        if (members.size === 0 && byKey.get(key) === members) byKey.delete(key);
        redis.zrem(key, member).catch((err: unknown) => options.onError?.(err));
      };
    },
    async close() {
      clearInterval(timer);
      const all = [...byKey].flatMap(([key, members]) => [...members].map((m) => [key, m]));
      byKey.clear();
      await Promise.all(
        all.map(([key, member]) => redis.zrem(key as string, member as string).catch(() => {})),
      );
    },
  };
}
