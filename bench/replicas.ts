// Two replicas on the shared engines (PostgreSQL, Redis), each a gateway
// process of its own in front of one simulator: generations per second
// through both at concurrency 50 (next to one process on the same engines),
// result lag through both, and how soon a replica takes over the tasks of one
// killed with SIGKILL. For scale: no budget in DESIGN.md names these; the
// issue asks for them beside the single-process figures.
//
//   BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_REDIS_URL    (default redis://127.0.0.1:6379)
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { Pool } from "undici";
import { type Simulator, startSimulator } from "../src/simulator/server.js";
import {
  type ChildGateway,
  generationRequest,
  startChildGateway,
  upstreamKey,
} from "./child-gateway.js";
import { type Figure, skipped } from "./report.js";
import { answerFailure, percentile, seconds, tallyTotal } from "./stats.js";
import { closedLoop } from "./throughput.js";

const postgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

const throughputFigure = "two replicas: generations/s at concurrency 50, zero-latency upstream";
const lagFigure = "two replicas: result lag P50 / P90, tasks of 1–8 s";
const takeoverFigure = "two replicas: take-over after a SIGKILL";

export const replicasSkipped = (why: string): Figure[] => [
  skipped(throughputFigure, "for scale", why),
  skipped(lagFigure, "for scale (one process: P50 ≤ 10 %, P90 ≤ 25 %)", why),
  skipped(takeoverFigure, "< 15 s (issue 14)", why),
];

interface Engines {
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A schema and a Redis prefix of their own, dropped afterwards. */
async function sharedEngines(): Promise<Engines> {
  const schema = `bench_${randomBytes(5).toString("hex")}`;
  const prefix = `bench_${randomBytes(5).toString("hex")}:`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    env: {
      IMAGEGATE_DATABASE_URL: url.toString(),
      IMAGEGATE_REDIS_URL: redisUrl,
      IMAGEGATE_REDIS_PREFIX: prefix,
    },
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

/** Replica A makes the tenant; B serves the same one from the shared database. */
async function twoReplicas(sim: Simulator, engines: Engines): Promise<ChildGateway[]> {
  const a = await startChildGateway({}, { sim, env: engines.env });
  try {
    const b = await startChildGateway({}, { sim, env: engines.env, apiKey: a.apiKey });
    return [a, b];
  } catch (err) {
    await a.close();
    throw err;
  }
}

async function throughputFigures(): Promise<Figure> {
  const sim = await startSimulator({ keys: [upstreamKey], recordRequests: false, durationMs: 0 });
  const engines = await sharedEngines();
  const gateways = await twoReplicas(sim, engines);
  const pools = gateways.map((gateway) => new Pool(gateway.url, { connections: 60 }));
  const body = { model: "nano-banana", prompt: "throughput", response_format: "b64_json" };
  const apiKey = gateways[0]?.apiKey ?? "";
  let turn = 0;
  const oneThrough = async (pool: Pool) => {
    const response = await pool.request(generationRequest(apiKey, body));
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(answerFailure(response.statusCode, text));
  };
  try {
    const single = await closedLoop(() => oneThrough(pools[0] as Pool), gateways[0]?.pid);
    const both = await closedLoop(() => oneThrough(pools[turn++ % 2] as Pool));
    const errors = tallyTotal(both.failures) + tallyTotal(single.failures);
    console.log("two replicas on PostgreSQL and Redis, zero-latency upstream, concurrency 50");
    console.log(`  one replica on the shared engines  ${single.perSecond.toFixed(0)}/s`);
    console.log(`  both replicas                      ${both.perSecond.toFixed(0)}/s`);
    return {
      figure: throughputFigure,
      measured: `${both.perSecond.toFixed(0)}/s through both, ${single.perSecond.toFixed(0)}/s through one on the same engines, ${errors} errors`,
      budget: "for scale",
      met: undefined,
    };
  } finally {
    for (const pool of pools) await pool.close();
    for (const gateway of gateways) await gateway.close();
    await engines.drop();
    await sim.close();
  }
}

async function lagAndTakeover(): Promise<Figure[]> {
  const sim = await startSimulator({ keys: [upstreamKey] });
  const engines = await sharedEngines();
  const gateways = await twoReplicas(sim, engines);
  const [a, b] = gateways as [ChildGateway, ChildGateway];
  const pools = gateways.map((gateway) => new Pool(gateway.url, { connections: 40 }));
  try {
    // Result lag: the answer's arrival after the task's end upstream.
    const durations = [1_000, 2_000, 4_000, 8_000].flatMap((d) => Array(5).fill(d) as number[]);
    const shares = await Promise.all(
      durations.map(async (durationMs, i) => {
        const prompt = `lag ${i} [sim:duration=${durationMs}]`;
        const response = await (pools[i % 2] as Pool).request(
          generationRequest(a.apiKey, {
            model: "nano-banana",
            prompt,
            response_format: "b64_json",
          }),
        );
        await response.body.text();
        const answeredAt = Date.now();
        const task = sim.submits.find((each) => each.prompt === prompt);
        if (response.statusCode !== 200 || task === undefined) return Number.NaN;
        return (answeredAt - (task.submittedAt + durationMs)) / durationMs;
      }),
    );
    const valid = shares.filter(Number.isFinite);
    const p50 = percentile(valid, 50);
    const p90 = percentile(valid, 90);
    console.log(
      `  result lag through both: P50 ${(p50 * 100).toFixed(1)} %, P90 ${(p90 * 100).toFixed(1)} % of the task's time (${valid.length} of ${durations.length} answered)`,
    );

    // Take-over: A dies with ten tasks running; B's first read of them, and their end.
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await (pools[0] as Pool).request({
        path: "/v1/images/generations/async",
        method: "POST",
        headers: { authorization: `Bearer ${a.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "nano-banana", prompt: `takeover ${i} [sim:duration=6000]` }),
      });
      ids.push(((await response.body.json()) as { task_id: string }).task_id);
    }
    const running = new Set(
      sim.submits.filter((task) => task.prompt.startsWith("takeover ")).map((t) => t.taskId),
    );
    const exited = new Promise((resolve) => a.process.once("exit", resolve));
    a.process.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    const done = new Set<string>();
    while (done.size < ids.length && Date.now() - killedAt < 60_000) {
      for (const id of ids.filter((each) => !done.has(each))) {
        const response = await (pools[1] as Pool).request({
          path: `/v1/images/tasks/${id}`,
          method: "GET",
          headers: { authorization: `Bearer ${b.apiKey}` },
        });
        const body = (await response.body.json()) as { data?: { status?: string } };
        if (body.data?.status === "SUCCESS") done.add(id);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const allDoneMs = Date.now() - killedAt;
    const firstRead = sim.requests.find(
      (request) =>
        request.route === "read" &&
        request.at >= killedAt &&
        request.taskId !== undefined &&
        running.has(request.taskId),
    );
    const takeoverMs = firstRead === undefined ? Number.NaN : firstRead.at - killedAt;
    console.log(
      `  take-over after SIGKILL: first read by the survivor after ${seconds(takeoverMs)}; ${done.size} of ${ids.length} tasks finished ${seconds(allDoneMs)} after the kill (the lease is 10 s)`,
    );
    return [
      {
        figure: lagFigure,
        measured: `${(p50 * 100).toFixed(1)} % / ${(p90 * 100).toFixed(1)} % of the task's time, ${durations.length - valid.length} errors`,
        budget: "for scale (one process: P50 ≤ 10 %, P90 ≤ 25 %)",
        met: undefined,
      },
      {
        figure: takeoverFigure,
        measured: `${seconds(takeoverMs)} to the first read; ${done.size} of ${ids.length} tasks done ${seconds(allDoneMs)} after the kill`,
        budget: "< 15 s (issue 14)",
        met: takeoverMs < 15_000 && done.size === ids.length,
      },
    ];
  } finally {
    for (const pool of pools) await pool.close();
    for (const gateway of gateways) await gateway.close();
    await engines.drop();
    await sim.close();
  }
}

export async function replicas(): Promise<Figure[]> {
  return [await throughputFigures(), ...(await lagAndTakeover())];
}
