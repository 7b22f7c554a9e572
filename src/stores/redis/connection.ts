// Redis (IMAGEGATE_REDIS_URL): the limits replicas share. One client per
// process; commands fail at once while Redis is away (no offline queue), so a
// request is answered 503 instead of hanging, and the client reconnects by
// itself in the background.
import { Redis } from "ioredis";

export type { Redis } from "ioredis";

export interface RedisOptions {
  /** Reported when the connection drops or a reconnect fails (without the URL's password). */
  onError?: (err: Error) => void;
}

/** Connects and waits for the first answer: a Redis that is not there fails the start. */
export async function openRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    // Back off to at most 2 s between reconnects, for as long as the process runs.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  redis.on("error", (err: Error) => options.onError?.(err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return redis;
}

/** Whether Redis answers now (readiness). */
export async function redisAnswers(redis: Redis): Promise<boolean> {
  try {
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  }
}
