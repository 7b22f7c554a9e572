// Two replicas as separate processes on one PostgreSQL schema, one Redis
// prefix and one bucket, behind a round-robin balancer: mixed traffic through both, one of
// them SIGKILLed mid-task. Every result is delivered, each generation is
// submitted once, the daily budget holds exactly across both, usage counts
// once, and the survivor takes the dead replica's tasks over within 15 s.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Simulator, startSimulator } from "../../src/simulator/server.js";
import { type Balancer, startBalancer } from "../helpers/balancer.js";
import {
  adminToken,
  type CompiledSources,
  compileSources,
  freePort,
  masterKey,
} from "../helpers/gateway.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";
import { dropPrefix, freshPrefix, testRedisUrl } from "../helpers/redis.js";
import { startS3, type TestS3 } from "../helpers/s3.js";

const redisUrl = testRedisUrl;

let compiled: CompiledSources;
let sim: Simulator;
let schema: TestSchema;
let s3: TestS3;
let balancer: Balancer | undefined;
const prefix = freshPrefix();
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  compiled = await compileSources();
  // Results larger than a database row takes: they are objects in the bucket.
  sim = await startSimulator({ keys: ["sim-key"], imageBytes: 200_000 });
  schema = await freshSchema("replicas");
  s3 = await startS3();
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await balancer?.close();
  await sim?.close();
  await schema?.drop();
  await s3?.close();
  await dropPrefix(prefix);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  await compiled?.remove();
});

interface Replica {
  child: ChildProcess;
  port: number;
  url: string;
}

/** One replica: Node running the compiled gateway (a SIGKILL reaches it, not a launcher). */
async function startReplica(): Promise<Replica> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-replica-"));
  dirs.push(dataDir);
  const child = spawn(process.execPath, [compiled.entry("main.ts")], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      IMAGEGATE_UPSTREAM_URL: sim.url,
      IMAGEGATE_UPSTREAM_KEY: "sim-key",
      IMAGEGATE_DATA_DIR: dataDir,
      IMAGEGATE_PUBLIC_URL: url,
      IMAGEGATE_ADMIN_TOKEN: adminToken,
      IMAGEGATE_MASTER_KEY: masterKey,
      IMAGEGATE_DATABASE_URL: schema.url,
      IMAGEGATE_REDIS_URL: redisUrl,
      IMAGEGATE_REDIS_PREFIX: prefix,
      ...s3.env,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    stdio: "ignore",
  });
  children.push(child);
  await vi.waitFor(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), {
    timeout: 30_000,
    interval: 100,
  });
  return { child, port, url };
}

async function json<T>(response: Response): Promise<T> {
  expect(response.headers.get("content-type") ?? "").toContain("application/json");
  return (await response.json()) as T;
}

const sdk = (baseURL: string, apiKey: string) =>
  new OpenAI({ apiKey, baseURL: `${baseURL}/v1`, maxRetries: 0, timeout: 60_000 });

/** The bytes the simulator serves for the task whose prompt is `prompt`. */
function expectedImage(prompt: string): Buffer {
  const submitted = sim.submits.filter((task) => task.prompt === prompt);
  expect(submitted, `submits of "${prompt}"`).toHaveLength(1);
  return sim.image((submitted[0] as { taskId: string }).taskId, 0).bytes;
}

describe("two replicas on PostgreSQL and Redis", { timeout: 120_000 }, () => {
  it("deliver everything once, hold the budget exactly, and survive a SIGKILL", async () => {
    const [a, b] = await Promise.all([startReplica(), startReplica()]);
    if (a === undefined || b === undefined) throw new Error("replicas did not start");
    balancer = await startBalancer([a.port, b.port]);

    // A tenant made on one replica is known to the other at its next request.
    const created = await fetch(`${a.url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "replicated", images_per_day: 17, max_concurrent: 40 }),
    });
    expect(created.status).toBe(201);
    const tenant = await json<{ id: string; api_key: string }>(created);
    const auth = { authorization: `Bearer ${tenant.api_key}` };
    const viaBalancer = sdk(balancer.url, tenant.api_key);

    // A result A stored, to be served by B once A is gone.
    const storedByA = await fetch(`${a.url}/v1/images/generations/async`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "stored by A" }),
    });
    const storedId = (await json<{ task_id: string }>(storedByA)).task_id;
    await vi.waitFor(
      async () => {
        const task = await json<{ data: { status: string } }>(
          await fetch(`${a.url}/v1/images/tasks/${storedId}`, { headers: auth }),
        );
        expect(task.data.status).toBe("SUCCESS");
      },
      { timeout: 30_000, interval: 50 },
    );

    // Quick synchronous generations through the balancer, and one
    // Idempotency-Key sent to both replicas at once.
    const quick = Array.from({ length: 6 }, (_, i) =>
      viaBalancer.images.generate({
        model: "nano-banana",
        prompt: `quick ${i} [sim:duration=200]`,
        response_format: "b64_json",
      }),
    );
    const idempotentBody = JSON.stringify({
      model: "nano-banana",
      prompt: "once [sim:duration=300]",
      response_format: "b64_json",
    });
    const idempotent = [a, b].map((replica) =>
      fetch(`${replica.url}/v1/images/generations`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", "idempotency-key": "order-7" },
        body: idempotentBody,
      }),
    );
    const answered = await Promise.all(quick);
    for (const [i, answer] of answered.entries()) {
      expect(Buffer.from(answer.data?.[0]?.b64_json ?? "", "base64")).toEqual(
        expectedImage(`quick ${i} [sim:duration=200]`),
      );
    }
    const [onA, onB] = await Promise.all(idempotent);
    expect(onA?.status).toBe(200);
    expect(onB?.status).toBe(200);
    const [imageA, imageB] = await Promise.all(
      [onA, onB].map(async (response) => {
        const body = await json<{ data: Array<{ b64_json: string }> }>(response as Response);
        return Buffer.from(body.data[0]?.b64_json ?? "", "base64");
      }),
    );
    expect(imageA).toEqual(expectedImage("once [sim:duration=300]"));
    expect(imageB).toEqual(imageA);

    // The budget across both replicas at once: 1 + 6 + 1 images are
    // reserved; of twelve more, exactly nine fit in the 17 a day.
    const overBudget = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        viaBalancer.images.generate({
          model: "nano-banana",
          prompt: `budget ${i} [sim:duration=100]`,
          response_format: "b64_json",
        }),
      ),
    );
    const refused = overBudget.filter((outcome) => outcome.status === "rejected");
    expect(overBudget.length - refused.length).toBe(9);
    for (const outcome of refused) {
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        status: 429,
        code: "insufficient_quota",
      });
    }

    // Slow tasks of another tenant, watched by A: three through the async
    // API, one synchronous caller waiting on A itself.
    const other = await fetch(`${b.url}/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "waiting" }),
    });
    const waiting = await json<{ id: string; api_key: string }>(other);
    const waitingAuth = { authorization: `Bearer ${waiting.api_key}` };
    const slowPrompts = [0, 1, 2].map((i) => `slow ${i} [sim:duration=6000]`);
    const asyncIds: string[] = [];
    for (const prompt of slowPrompts) {
      const response = await fetch(`${a.url}/v1/images/generations/async`, {
        method: "POST",
        headers: { ...waitingAuth, "content-type": "application/json" },
        body: JSON.stringify({ model: "nano-banana", prompt }),
      });
      expect(response.status).toBe(200);
      asyncIds.push((await json<{ task_id: string }>(response)).task_id);
    }
    const dyingPrompt = "waits on A [sim:duration=6000]";
    const dyingBody = { model: "nano-banana", prompt: dyingPrompt, response_format: "b64_json" };
    const dying = fetch(`${a.url}/v1/images/generations`, {
      method: "POST",
      headers: { ...waitingAuth, "content-type": "application/json" },
      body: JSON.stringify(dyingBody),
    }).then(
      (response) => response.status,
      () => "connection lost",
    );

    // A dies with four tasks running upstream.
    await sim.waitForSubmits(21);
    // ...and A has recorded them as submitted: a reservation whose submit was
    // in flight when its replica died is judged only after minutes, never sent again.
    const db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    try {
      await vi.waitFor(
        async () => {
          const pending = await db.query("SELECT id FROM generations WHERE state = 'pending'");
          expect(pending.rows).toEqual([]);
        },
        { timeout: 10_000, interval: 20 },
      );
    } finally {
      await db.end();
    }
    const exited = new Promise((resolve) => a.child.once("exit", resolve));
    a.child.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    expect(await dying).toBe("connection lost");

    // B takes them over and finishes them; the async API answers on B.
    for (const id of asyncIds) {
      await vi.waitFor(
        async () => {
          const task = await json<{ data: { status: string } }>(
            await fetch(`${b.url}/v1/images/tasks/${id}`, { headers: waitingAuth }),
          );
          expect(task.data.status).toBe("SUCCESS");
        },
        { timeout: 30_000, interval: 100 },
      );
    }
    const slowTaskIds = new Set(
      sim.submits.filter((task) => task.prompt.startsWith("slow ")).map((task) => task.taskId),
    );
    const firstReadAfterKill = sim.requests.find(
      (request) =>
        request.route === "read" &&
        request.at >= killedAt &&
        request.taskId !== undefined &&
        slowTaskIds.has(request.taskId),
    );
    expect(firstReadAfterKill).toBeDefined();
    const takeoverMs = (firstReadAfterKill?.at ?? Number.POSITIVE_INFINITY) - killedAt;
    console.info(`take-over after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(15_000);

    // The synchronous caller whose replica died: its SDK retry, sent to B,
    // joins the generation B took over and gets its image.
    const retried = await fetch(`${b.url}/v1/images/generations`, {
      method: "POST",
      headers: {
        ...waitingAuth,
        "content-type": "application/json",
        "x-stainless-retry-count": "1",
      },
      body: JSON.stringify(dyingBody),
    });
    expect(retried.status).toBe(200);
    const retriedBody = await json<{ data: Array<{ b64_json: string }> }>(retried);
    expect(Buffer.from(retriedBody.data[0]?.b64_json ?? "", "base64")).toEqual(
      expectedImage(dyingPrompt),
    );

    // What A stored is served by B, from the bucket.
    const content = await fetch(`${b.url}/v1/images/tasks/${storedId}/content?index=0`, {
      headers: auth,
    });
    expect(content.status).toBe(200);
    expect(Buffer.from(await content.arrayBuffer())).toEqual(expectedImage("stored by A"));
    expect((await s3.keys()).length).toBeGreaterThan(0);

    // One submit per generation, and usage counted once, read on B.
    expect(sim.submits).toHaveLength(21);
    const usage = await json<{
      totals: { requests: number; upstream_tasks: number; images: number; succeeded: number };
    }>(
      await fetch(`${b.url}/admin/tenants/${tenant.id}/usage`, {
        headers: { authorization: `Bearer ${adminToken}` },
      }),
    );
    expect(usage.totals).toMatchObject({
      requests: 17,
      upstream_tasks: 17,
      images: 17,
      succeeded: 17,
    });
    const waitingUsage = await json<{ totals: { requests: number; succeeded: number } }>(
      await fetch(`${b.url}/admin/tenants/${waiting.id}/usage`, {
        headers: { authorization: `Bearer ${adminToken}` },
      }),
    );
    expect(waitingUsage.totals).toMatchObject({ requests: 4, succeeded: 4 });
  });
});
