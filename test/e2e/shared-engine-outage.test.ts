// A shared engine that goes away is a clear error, not corruption: with
// PostgreSQL or Redis unreachable, new work is a 503 dependency_unavailable
// with retry-after and /readyz names the missing dependency; a task running
// meanwhile keeps its record, written once the database is back. The engines
// are reached through a line the test can cut (test/helpers/balancer.ts).
import { afterEach, describe, expect, it } from "vitest";
import { type Balancer, startBalancer } from "../helpers/balancer.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { freshSchema, type TestSchema, withSearchPath } from "../helpers/postgres.js";
import { dropPrefix, freshPrefix, testRedisUrl } from "../helpers/redis.js";

const redisUrl = new URL(testRedisUrl);
const postgresUrl = new URL(
  process.env.IMAGEGATE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
);

let gw: TestGateway | undefined;
let schema: TestSchema | undefined;
const lines: Balancer[] = [];
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  for (const line of lines.splice(0)) await line.close();
  await schema?.drop();
  schema = undefined;
});

/** A cuttable line to host:port; returns it and the URL that goes through it. */
async function lineTo(url: URL): Promise<{ line: Balancer; through: URL }> {
  const line = await startBalancer([Number(url.port)]);
  lines.push(line);
  const through = new URL(url);
  through.hostname = "127.0.0.1";
  through.port = String(line.port);
  return { line, through };
}

async function readyz(base: string) {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("a shared engine goes away", { timeout: 60_000 }, () => {
  it("PostgreSQL: 503 with retry-after for new work, readiness says so, a running task's outcome is written when it returns", async () => {
    schema = await freshSchema("outage");
    const { line, through } = await lineTo(postgresUrl);
    gw = await buildTestApp({
      env: { IMAGEGATE_DATABASE_URL: withSearchPath(through.toString(), schema.name) },
    });
    const auth = { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" };
    const started = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        model: "nano-banana",
        prompt: "outlives the outage [sim:duration=1500]",
      }),
    });
    expect(started.status).toBe(200);
    const { task_id: taskId } = (await started.json()) as { task_id: string };

    await line.close();
    const refused = await fetch(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "nano-banana", prompt: "while the database is away" }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      "dependency_unavailable",
    );
    expect(await readyz(gw.url)).toEqual({
      status: 503,
      body: { status: "unavailable", database: "unavailable" },
    });
    // The task finishes upstream while the database is away.
    await gw.sim.waitForSubmits(1);
    await expect
      .poll(() => gw?.sim.requests.some((request) => request.route === "download"), {
        timeout: 20_000,
      })
      .toBe(true);

    lines.push(await startBalancer([Number(postgresUrl.port)], line.port));
    await expect
      .poll(async () => (await readyz(gw?.url ?? "")).status, { timeout: 20_000 })
      .toBe(200);
    await expect
      .poll(
        async () => {
          const task = await fetch(`${gw?.url}/v1/images/tasks/${taskId}`, { headers: auth });
          return ((await task.json()) as { data: { status: string } }).data.status;
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe("SUCCESS");
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("Redis: 503 with retry-after for new work, readiness says so, and back when it returns", async () => {
    const { line, through } = await lineTo(redisUrl);
    const prefix = freshPrefix();
    gw = await buildTestApp({
      env: { IMAGEGATE_REDIS_URL: through.toString(), IMAGEGATE_REDIS_PREFIX: prefix },
    });
    const auth = { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" };
    const ok = await gw.client.images.generate({ model: "nano-banana", prompt: "before" });
    expect(ok.data?.length).toBe(1);

    await line.close();
    await expect
      .poll(async () => (await readyz(gw?.url ?? "")).body, { timeout: 10_000 })
      .toEqual({ status: "unavailable", redis: "unavailable" });
    const refused = await fetch(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "nano-banana", prompt: "while Redis is away" }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      "dependency_unavailable",
    );
    expect(gw.sim.submits).toHaveLength(1);

    lines.push(await startBalancer([Number(redisUrl.port)], line.port));
    await expect
      .poll(async () => (await readyz(gw?.url ?? "")).status, { timeout: 20_000 })
      .toBe(200);
    const again = await gw.client.images.generate({ model: "nano-banana", prompt: "after" });
    expect(again.data?.length).toBe(1);

    await dropPrefix(prefix);
  });
});
