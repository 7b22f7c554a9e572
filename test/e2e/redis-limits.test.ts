// Two gateways as two replicas: one PostgreSQL schema (the same tenants and
// keys) and one Redis prefix (the same limits). A tenant's requests per minute
// and concurrent generations count across both. IMAGEGATE_TEST_REDIS_URL and
// IMAGEGATE_TEST_POSTGRES_URL point the test at other servers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { openRedis } from "../../src/stores/redis/connection.js";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";
import { dropPrefix, freshPrefix, testRedisUrl } from "../helpers/redis.js";

const redisUrl = testRedisUrl;

let schema: TestSchema | undefined;
let prefix = "";
let gateways: TestGateway[] = [];

/** Two gateways on one schema and one Redis prefix, each before its own simulator. */
async function twoReplicas(): Promise<[TestGateway, TestGateway]> {
  schema = await freshSchema("redis_limits");
  prefix = freshPrefix();
  const env = {
    IMAGEGATE_DATABASE_URL: schema.url,
    IMAGEGATE_REDIS_URL: redisUrl,
    IMAGEGATE_REDIS_PREFIX: prefix,
  };
  // One after the other: the first creates the schema's tables.
  gateways.push(await buildTestApp({ env }));
  gateways.push(await buildTestApp({ env }));
  return gateways as [TestGateway, TestGateway];
}

afterEach(async () => {
  try {
    await Promise.all(gateways.map((gw) => gw.close()));
  } finally {
    gateways = [];
    await schema?.drop();
    schema = undefined;
    if (prefix !== "") {
      const admin = await openRedis(redisUrl);
      try {
        await dropPrefix(prefix, admin);
      } finally {
        admin.disconnect();
      }
      prefix = "";
    }
  }
});

describe("limits shared by two gateways on Redis", () => {
  it("rpm counts a tenant's requests on both replicas", async () => {
    const [a, b] = await twoReplicas();
    const tenant = await a.createTenant({ name: "five-a-minute", rpm: 5 });
    // The key made on A works on B: the tenants are shared.
    const statuses: number[] = [];
    const remaining: (string | null)[] = [];
    const refusals: unknown[] = [];
    for (let i = 0; i < 8; i++) {
      const gw = i % 2 === 0 ? a : b;
      const response = await fetch(`${gw.url}/v1/models`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      });
      statuses.push(response.status);
      remaining.push(response.headers.get("x-ratelimit-remaining-requests"));
      if (response.status === 429) {
        expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
        refusals.push(await response.json());
      } else {
        await response.arrayBuffer();
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(remaining.slice(0, 5)).toEqual(["4", "3", "2", "1", "0"]);
    for (const body of refusals) {
      expect(body).toMatchObject({
        error: { code: "rate_limit_exceeded", type: "rate_limit_error" },
      });
    }

    // Another tenant's minute is its own, on either replica.
    const other = await b.createTenant({ name: "other", rpm: 5 });
    const list = await a.clientWith(other.apiKey).models.list();
    expect(list.data.length).toBeGreaterThan(0);
    // And the limited tenant is refused through the SDK too.
    const err = await apiError(b.clientWith(tenant.apiKey).models.list());
    expect(err.status).toBe(429);
    expect(err.code).toBe("rate_limit_exceeded");
  });

  it("max_concurrent counts a tenant's generations on both replicas", async () => {
    const [a, b] = await twoReplicas();
    const tenant = await a.createTenant({ name: "one-at-a-time", max_concurrent: 1 });
    const onA = a.clientWith(tenant.apiKey, { maxRetries: 0 });
    const onB = b.clientWith(tenant.apiKey, { maxRetries: 0 });

    const slow = onA.images.generate({
      model: "gpt-image-2",
      prompt: "slow [sim:duration=1500]",
    });
    slow.catch(() => {});
    await a.sim.waitForSubmits(1);

    const refused = await apiError(onB.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(refused.status).toBe(429);
    expect(refused.code).toBe("concurrency_limit_exceeded");
    expect(refused.headers?.get("retry-after")).toBe("1");
    expect(b.sim.submits).toHaveLength(0);
    // A's own second request is refused as well.
    const refusedOnA = await apiError(onA.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(refusedOnA.code).toBe("concurrency_limit_exceeded");
    expect(a.sim.submits).toHaveLength(1);

    // Another tenant is not held back.
    const other = await b.createTenant({ name: "other", max_concurrent: 1 });
    const otherImage = await b.clientWith(other.apiKey).images.generate({
      model: "nano-banana",
      prompt: "p",
    });
    expect(otherImage.data).toHaveLength(1);

    expect((await slow).data).toHaveLength(1);
    // A's slot is given back once its task is final: B's request goes through.
    const done = await vi.waitFor(
      () => onB.images.generate({ model: "nano-banana", prompt: "p" }),
      { timeout: 10_000, interval: 100 },
    );
    expect(done.data).toHaveLength(1);
    expect(b.sim.submits).toHaveLength(2);
  });
});
