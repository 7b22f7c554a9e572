// npm run bench: numbers against the budget in DESIGN.md, each measured against
// a direct, optimal client of the same simulator in the same run. Prints; never
// asserts (the machines are shared and noisy). The memory budgets run the
// gateway in a child process (bench/memory.ts, bench/gateway-child.ts).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { type SimulatorOptions, startSimulator } from "../src/simulator/server.js";
import { heldRequests, largeResults, uploadStorm } from "./memory.js";

const upstreamKey = "bench-upstream-key";
const adminToken = "bench-admin-token-0123456789";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

async function setup(simOptions: SimulatorOptions) {
  const sim = await startSimulator({ keys: [upstreamKey], recordRequests: false, ...simOptions });
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-bench-"));
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    IMAGEGATE_UPSTREAM_URL: sim.url,
    IMAGEGATE_UPSTREAM_KEY: upstreamKey,
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_ADMIN_TOKEN: adminToken,
    IMAGEGATE_MASTER_KEY: Buffer.alloc(32, 1).toString("base64"),
  });
  const app = await buildApp(config, { logger: false });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const created = await app.inject({
    method: "POST",
    url: "/admin/tenants",
    headers: { authorization: `Bearer ${adminToken}` },
    payload: { name: "bench" },
  });
  const apiKey = created.json<{ api_key: string }>().api_key;
  const gateway = new Pool(address, { connections: 256 });
  const upstream = new Pool(sim.url, { connections: 256 });
  return {
    sim,
    async generate(body: Record<string, unknown>): Promise<void> {
      const response = await gateway.request({
        path: "/v1/images/generations",
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`gateway ${response.statusCode}: ${text}`);
    },
    /** What an optimal direct client does: submit, read at once and then densely, download. */
    async direct(body: Record<string, unknown>): Promise<void> {
      const auth = { authorization: `Bearer ${upstreamKey}` };
      const submitted = await upstream.request({
        path: "/v1/images/generations/async",
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const { task_id: taskId } = (await submitted.body.json()) as { task_id: string };
      for (;;) {
        const read = await upstream.request({
          path: `/v1/images/tasks/${taskId}`,
          method: "GET",
          headers: auth,
        });
        const task = (await read.body.json()) as {
          data: { status: string; data?: { data: unknown[] } };
        };
        if (task.data.status === "SUCCESS") {
          const count = task.data.data?.data.length ?? 1;
          for (let index = 0; index < count; index++) {
            const download = await upstream.request({
              path: `/v1/images/tasks/${taskId}/content?index=${index}`,
              method: "GET",
              headers: auth,
            });
            Buffer.from(await download.body.arrayBuffer()).toString("base64");
          }
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await gateway.close();
      await upstream.close();
      await app.close();
      await sim.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function timeEach(count: number, run: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times;
}

async function overhead(): Promise<void> {
  const env = await setup({ durationMs: 0 });
  const body = { model: "nano-banana", prompt: "bench", response_format: "b64_json" };
  try {
    await timeEach(50, () => env.generate(body));
    await timeEach(50, () => env.direct(body));
    const rounds = 400;
    const gateway: number[] = [];
    const direct: number[] = [];
    // Interleaved so that machine noise hits both alike.
    for (let i = 0; i < rounds; i++) {
      gateway.push(...(await timeEach(1, () => env.generate(body))));
      direct.push(...(await timeEach(1, () => env.direct(body))));
    }
    const p50 = percentile(gateway, 50) - percentile(direct, 50);
    const p99 = percentile(gateway, 99) - percentile(direct, 99);
    console.log("overhead on a zero-latency upstream (small image, b64_json)");
    console.log(`  direct   P50 ${ms(percentile(direct, 50))}  P99 ${ms(percentile(direct, 99))}`);
    console.log(
      `  gateway  P50 ${ms(percentile(gateway, 50))}  P99 ${ms(percentile(gateway, 99))}`,
    );
    console.log(`  overhead P50 ${ms(p50)} (budget 1 ms)  P99 ${ms(p99)} (budget 5 ms)`);
  } finally {
    await env.close();
  }
}

async function pollEfficiency(): Promise<void> {
  // Durations spread around the model's expectation (Nano Banana 2 at 1K: ~8 s).
  const durations = new Map<string, number>();
  let reads = 0;
  const env = await setup({
    durationMs: (task) => {
      const duration = 4_000 + Math.random() * 8_000;
      durations.set(task.prompt, duration);
      return duration;
    },
  });
  try {
    const tasks = 40;
    const lags: number[] = [];
    let generationMs = 0;
    await Promise.all(
      Array.from({ length: tasks }, async (_, i) => {
        const prompt = `bench ${i}`;
        const started = performance.now();
        await env.generate({ model: "nano-banana", prompt });
        const duration = durations.get(prompt) ?? 0;
        generationMs += duration;
        lags.push(performance.now() - started - duration);
      }),
    );
    reads = env.sim.counts.read;
    console.log(`result lag over ${tasks} tasks of 4–12 s (Nano Banana 2)`);
    console.log(
      `  lag P50 ${ms(percentile(lags, 50))} (budget 150 ms)  P90 ${ms(percentile(lags, 90))}`,
    );
    console.log(
      `  reads per 2 s of generation ${((reads / generationMs) * 2_000).toFixed(2)} (budget 1.00)`,
    );
  } finally {
    await env.close();
  }
}

await overhead();
await pollEfficiency();
// The memory budgets take about two minutes (10,000 requests held for a minute);
// BENCH_SKIP_MEMORY=1 leaves them out.
if (process.env.BENCH_SKIP_MEMORY === "1") {
  console.log("memory budgets skipped (BENCH_SKIP_MEMORY=1)");
} else {
  await uploadStorm();
  await heldRequests();
  await largeResults();
}
