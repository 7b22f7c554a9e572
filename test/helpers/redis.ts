// A Redis key prefix of its own for each test: the project's machines run
// Redis (127.0.0.1:6379); tests reach it over a real connection, each under a
// prefix made for it whose keys are deleted afterwards.
// IMAGEGATE_TEST_REDIS_URL points them at another server.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const testRedisUrl = process.env.IMAGEGATE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A prefix no other test uses: what IMAGEGATE_REDIS_PREFIX takes. */
export const freshPrefix = () => `t_${randomBytes(6).toString("hex")}:`;

/** Deletes every key under `prefix` (SCAN, never KEYS: the server may be shared). */
export async function dropPrefix(prefix: string, redis?: Redis): Promise<void> {
  const client = redis ?? new Redis(testRedisUrl);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    if (redis === undefined) client.disconnect();
  }
}
