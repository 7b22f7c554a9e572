// Six concurrent edits of 14 × 24 MB from one tenant while another tenant is
// served: the gateway's peak RSS, the other tenant's latency, and that the
// gateway is still up afterwards. The gateway is in a child process.
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { type FormPart, pngPart, postForm } from "../test/helpers/multipart.js";
import {
  adminToken,
  generationRequest,
  procStatusBytes,
  rssSampler,
  startChildGateway,
} from "./child-gateway.js";
import { type Figure, skipped } from "./report.js";
import { failureOf, mb, seconds, tally } from "./stats.js";

const stormFigures = {
  rss: ["peak RSS, six concurrent 14 × 24 MB edits from one tenant", "≤ 500 MB"],
  other: ["another tenant served during those edits", "< 200 ms, 0 errors"],
} as const;

export const uploadStormSkipped = (why: string): Figure[] =>
  Object.values(stormFigures).map(([figure, budget]) => skipped(figure, budget, why));

/**
 * Six concurrent edits of 14 × 24 MB from one tenant (PNG headers and filler,
 * gpt-image-2), once with declared lengths and once chunked; meanwhile another
 * tenant lists models and generates. The child's peak RSS, the bystander's
 * latency, and whether the gateway is still up.
 */
export async function uploadStorm(
  requests = 6,
  files = 14,
  fileBytes = 24 * 1024 * 1024,
): Promise<Figure[]> {
  const gateway = await startChildGateway({});
  const rss = rssSampler(gateway.pid);
  const admin = new Pool(gateway.url, { connections: 1 });
  const bystanderPool = new Pool(gateway.url, { connections: 2 });
  try {
    const created = await admin.request({
      path: "/admin/tenants",
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "bystander" }),
    });
    const bystander = ((await created.body.json()) as { api_key: string }).api_key;
    // Warm up (JIT, the key lookup, the first generation) so that the
    // bystander's latency is the storm's doing, not a cold start.
    // The bystander: models lists back to back, a generation every tenth.
    const bystanderCall = (i: number) =>
      bystanderPool.request(
        i % 10 === 9
          ? generationRequest(bystander, { model: "nano-banana", prompt: "p" })
          : {
              path: "/v1/models",
              method: "GET",
              headers: { authorization: `Bearer ${bystander}` },
            },
      );
    for (let i = 0; i < 20; i++) await (await bystanderCall(i)).body.text();
    await rss.sample();
    const idle = rss.last;
    const parts: FormPart[] = [
      { name: "model", value: "gpt-image-2" },
      { name: "prompt", value: "storm" },
      ...Array.from({ length: files }, () => pngPart("image[]", fileBytes)),
    ];
    // Across both storms: the other tenant's slowest answer and errors, and /healthz.
    let slowest = 0;
    let otherErrors = 0;
    let healthy = true;
    for (const declareLength of [true, false]) {
      rss.mark();
      const outcomes = new Map<string, number>();
      const latencies: number[] = [];
      let stormDone = false;
      const started = performance.now();
      const storm = Promise.all(
        Array.from({ length: requests }, async () => {
          try {
            const answer = await postForm(`${gateway.url}/v1/images/edits`, gateway.apiKey, parts, {
              declareLength,
            });
            const code = (answer.json as { error?: { code?: string } }).error?.code ?? "";
            tally(outcomes, `HTTP ${answer.status}${code ? ` ${code}` : ""}`);
          } catch (err) {
            tally(outcomes, `cut off by the gateway (${failureOf(err)})`);
          }
        }),
      ).finally(() => {
        stormDone = true;
      });
      let bystanderErrors = 0;
      for (let i = 0; !stormDone || i < 20; i++) {
        const t0 = performance.now();
        const response = await bystanderCall(i);
        await response.body.text();
        if (i % 10 !== 9) latencies.push(performance.now() - t0);
        if (response.statusCode !== 200) bystanderErrors++;
      }
      await storm;
      const elapsed = performance.now() - started;
      await rss.sample();
      const health = await bystanderPool.request({ path: "/healthz", method: "GET" });
      await health.body.text();
      latencies.sort((a, b) => a - b);
      slowest = Math.max(slowest, latencies.at(-1) ?? Number.NaN);
      otherErrors += bystanderErrors;
      healthy &&= health.statusCode === 200;
      const p = (q: number) =>
        latencies[Math.min(latencies.length - 1, Math.floor((q / 100) * latencies.length))] ??
        Number.NaN;
      console.log(
        `${requests} concurrent edits of ${files} × ${mb(fileBytes)} from one tenant, ${declareLength ? "declared lengths" : "chunked (no length)"} (${seconds(elapsed)})`,
      );
      console.log(`  answers: ${[...outcomes].map(([k, v]) => `${k} ×${v}`).join(", ")}`);
      console.log(
        `  gateway RSS idle ${mb(idle)}, peak during the storm ${mb(rss.windowPeak)} (sampled) (budget 500 MB)`,
      );
      console.log(
        `  other tenant: ${latencies.length} model lists, P50 ${p(50).toFixed(1)} ms, P99 ${p(99).toFixed(1)} ms, max ${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms (budget < 200 ms); errors ${bystanderErrors}; /healthz ${health.statusCode}`,
      );
    }
    const hwm = (await procStatusBytes(gateway.pid, "VmHWM")) ?? Number.NaN;
    console.log(`  gateway peak RSS over both storms ${mb(hwm)} (VmHWM) (budget 500 MB)`);
    return [
      {
        figure: stormFigures.rss[0],
        measured: `${mb(hwm)}${healthy ? "" : ", /healthz failed after a storm"}`,
        budget: stormFigures.rss[1],
        met: hwm <= 500 * 1024 * 1024 && healthy,
      },
      {
        figure: stormFigures.other[0],
        measured: `max ${slowest.toFixed(1)} ms, ${otherErrors} errors`,
        budget: stormFigures.other[1],
        met: slowest < 200 && otherErrors === 0,
      },
    ];
  } finally {
    rss.stop();
    await admin.close();
    await bystanderPool.close();
    await gateway.close();
  }
}
