// Added latency: the same generation through the gateway and by a direct,
// optimal client, on a zero-latency upstream, one at a time, interleaved so
// that machine noise hits both alike. The gateway runs in this process here,
// as the simulator and both clients do: requests are sequential, so sharing
// the event loop costs nothing, and neither path pays for waking another
// process (a child gateway adds ~1 ms of cross-process hops the direct path
// does not have). The figure is the gateway's own work per request.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { type SimulatorOptions, startSimulator } from "../src/simulator/server.js";
import { adminToken, gatewayEnv, generationRequest, upstreamKey } from "./child-gateway.js";
import { directGenerate } from "./direct-client.js";
import { type Figure, skipped } from "./report.js";
import { ms, percentile } from "./stats.js";

/** An OTLP/HTTP collector that takes every batch and keeps nothing: what tracing costs the gateway. */
async function startTraceSink(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => response.writeHead(200).end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function setup(simOptions: SimulatorOptions, traced: boolean) {
  const sim = await startSimulator({ keys: [upstreamKey], recordRequests: false, ...simOptions });
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-bench-"));
  const sink = traced ? await startTraceSink() : undefined;
  const config = loadConfig({
    ...gatewayEnv(sim.url, dataDir),
    ...(sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } : {}),
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
  const gateway = new Pool(address, { connections: 4 });
  const upstream = new Pool(sim.url, { connections: 4 });
  return {
    async generate(body: Record<string, unknown>): Promise<void> {
      const response = await gateway.request({
        ...generationRequest(apiKey, body),
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
      });
      // Read as text, as an OpenAI SDK does before parsing it. (Read as an
      // ArrayBuffer instead, the 1.5 MB case measures about twice as slow:
      // the gateway shares this heap, and the client's allocations change
      // when its GCs fall. The tiny case does not move.)
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`gateway ${response.statusCode}: ${text}`);
    },
    async direct(body: Record<string, unknown>): Promise<void> {
      await directGenerate(upstream, body);
    },
    async close() {
      await gateway.close();
      await upstream.close();
      await app.close();
      await sim.close();
      if (sink) await new Promise((resolve) => sink.server.close(resolve));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

interface Case {
  label: string;
  imageBytes: number | undefined;
  rounds: number;
  /** Undefined: for scale only. */
  p50Budget: number | undefined;
  p99Budget: number | undefined;
  /** Traces on, exported over OTLP/HTTP to a local sink. */
  traced?: boolean;
}

async function measure(c: Case): Promise<Figure[]> {
  const env = await setup({ durationMs: 0, imageBytes: c.imageBytes }, c.traced === true);
  const body = { model: "nano-banana", prompt: "bench", response_format: "b64_json" };
  try {
    for (let i = 0; i < 50; i++) {
      await env.generate(body);
      await env.direct(body);
    }
    const gateway: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < c.rounds; i++) {
      gateway.push(await timed(() => env.generate(body)));
      direct.push(await timed(() => env.direct(body)));
    }
    // Percentile minus percentile: the two runs are not paired request by request.
    const p50 = percentile(gateway, 50) - percentile(direct, 50);
    const p99 = percentile(gateway, 99) - percentile(direct, 99);
    console.log(`overhead on a zero-latency upstream (${c.label}, b64_json, ${c.rounds} rounds)`);
    console.log(`  direct   P50 ${ms(percentile(direct, 50))}  P99 ${ms(percentile(direct, 99))}`);
    console.log(
      `  gateway  P50 ${ms(percentile(gateway, 50))}  P99 ${ms(percentile(gateway, 99))}`,
    );
    console.log(
      `  overhead P50 ${ms(p50)} (${budgetText(c.p50Budget)})  P99 ${ms(p99)} (${budgetText(c.p99Budget)})`,
    );
    const [p50Name, p99Name] = figureNames(c);
    const within = (value: number, budget: number | undefined) =>
      budget === undefined ? undefined : value <= budget;
    return [
      { figure: p50Name[0], measured: ms(p50), budget: p50Name[1], met: within(p50, c.p50Budget) },
      { figure: p99Name[0], measured: ms(p99), budget: p99Name[1], met: within(p99, c.p99Budget) },
    ];
  } finally {
    await env.close();
  }
}

const cases: readonly Case[] = [
  { label: "tiny image", imageBytes: undefined, rounds: 400, p50Budget: 1, p99Budget: 5 },
  // About 2 MB of base64 in the answer.
  {
    label: "1.5 MB image",
    imageBytes: 1.5 * 1024 * 1024,
    rounds: 200,
    p50Budget: 10,
    p99Budget: 25,
  },
  // What an operator pays for traces (OTEL_EXPORTER_OTLP_ENDPOINT): a dozen spans per request.
  {
    label: "tiny image, traces on",
    imageBytes: undefined,
    rounds: 400,
    p50Budget: undefined,
    p99Budget: undefined,
    traced: true,
  },
];

const budgetText = (budget: number | undefined) =>
  budget === undefined ? "for scale" : `≤ ${budget} ms`;

const figureNames = (c: Case): [[string, string], [string, string]] => [
  [`added latency P50, ${c.label}`, budgetText(c.p50Budget)],
  [`added latency P99, ${c.label}`, budgetText(c.p99Budget)],
];

export const overheadSkipped = (why: string): Figure[] =>
  cases.flatMap((c) => figureNames(c).map(([figure, budget]) => skipped(figure, budget, why)));

export async function overhead(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const c of cases) figures.push(...(await measure(c)));
  return figures;
}
