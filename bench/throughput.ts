// Generations per second at concurrency 50 against a zero-latency upstream,
// next to a direct client's rate for scale. The gateway runs in a child
// process (as deployed, one process); the simulator and the client share this
// one, so the CPU each side used is printed too: on a 2-core machine a
// saturated bench process caps the figure, not the gateway.
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { generationRequest, procCpuMs, startChildGateway } from "./child-gateway.js";
import { directGenerate } from "./direct-client.js";
import { type Figure, skipped } from "./report.js";
import { answerFailure, describeTally, failureOf, seconds, tally, tallyTotal } from "./stats.js";

const concurrency = 50;
const warmUpMs = 3_000;
const windowMs = 10_000;
const budget = 3_000;
const figureName = `generations/s at concurrency ${concurrency}, zero-latency upstream`;

interface Rate {
  perSecond: number;
  done: number;
  failures: Map<string, number>;
  /** CPU used over the window, as a share of one core. */
  gatewayCpu: number;
  benchCpu: number;
}

/**
 * `concurrency` loops calling `one` back to back: a warm-up, then a window in
 * which every completion is counted (failures too, separately).
 */
export async function closedLoop(one: () => Promise<void>, gatewayPid?: number): Promise<Rate> {
  const failures = new Map<string, number>();
  let measuring = false;
  let done = 0;
  const started = performance.now();
  const stopAt = started + warmUpMs + windowMs;
  let window = { at: 0, gateway: 0, bench: 0 };
  const windowOpens = new Promise<void>((resolve) =>
    setTimeout(async () => {
      measuring = true;
      window = {
        at: performance.now(),
        gateway: gatewayPid === undefined ? Number.NaN : await procCpuMs(gatewayPid),
        bench: await procCpuMs("self"),
      };
      resolve();
    }, warmUpMs),
  );
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        try {
          await one();
          if (measuring) done++;
        } catch (err) {
          if (measuring) tally(failures, failureOf(err));
        }
      }
    }),
  );
  await windowOpens;
  // The window closes when the last loop finishes its request.
  const elapsed = performance.now() - window.at;
  const gatewayCpu =
    gatewayPid === undefined ? Number.NaN : (await procCpuMs(gatewayPid)) - window.gateway;
  const benchCpu = (await procCpuMs("self")) - window.bench;
  return {
    perSecond: (done / elapsed) * 1000,
    done,
    failures,
    gatewayCpu: gatewayCpu / elapsed,
    benchCpu: benchCpu / elapsed,
  };
}

const cores = (share: number) => (Number.isNaN(share) ? "" : `${(share * 100).toFixed(0)} %`);

export const throughputSkipped = (why: string): Figure[] => [
  skipped(figureName, `≥ ${budget.toLocaleString("en")}/s, 0 errors`, why),
];

export async function throughput(): Promise<Figure[]> {
  const gateway = await startChildGateway({ durationMs: 0 });
  const client = new Pool(gateway.url, { connections: concurrency + 8 });
  const upstream = new Pool(gateway.sim.url, { connections: concurrency + 8 });
  const body = { model: "nano-banana", prompt: "throughput", response_format: "b64_json" };
  try {
    const viaGateway = await closedLoop(async () => {
      const response = await client.request(generationRequest(gateway.apiKey, body));
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(answerFailure(response.statusCode, text));
    }, gateway.pid);
    const direct = await closedLoop(async () => {
      await directGenerate(upstream, body);
    });
    const errors = tallyTotal(viaGateway.failures);
    console.log(
      `throughput at concurrency ${concurrency}, zero-latency upstream (${seconds(windowMs)} after ${seconds(warmUpMs)} of warm-up)`,
    );
    console.log(
      `  direct   ${direct.perSecond.toFixed(0)}/s (${direct.done} generations; bench process CPU ${cores(direct.benchCpu)} of a core)`,
    );
    console.log(
      `  gateway  ${viaGateway.perSecond.toFixed(0)}/s (${viaGateway.done} generations; gateway CPU ${cores(viaGateway.gatewayCpu)}, bench process with the simulator ${cores(viaGateway.benchCpu)} of a core) (budget ${budget.toLocaleString("en")}/s)`,
    );
    console.log(
      `  errors ${errors}${describeTally(viaGateway.failures)} (budget 0); direct errors ${tallyTotal(direct.failures)}${describeTally(direct.failures)}`,
    );
    return [
      {
        figure: figureName,
        measured: `${viaGateway.perSecond.toFixed(0)}/s, ${errors} errors (direct client ${direct.perSecond.toFixed(0)}/s)`,
        budget: `≥ ${budget.toLocaleString("en")}/s, 0 errors`,
        met: viaGateway.perSecond >= budget && errors === 0,
      },
    ];
  } finally {
    await client.close();
    await upstream.close();
    await gateway.close();
  }
}
