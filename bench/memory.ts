// The memory budgets of DESIGN.md, with the gateway in a child process
// (bench/gateway-child.ts) so that its RSS is not mixed with the client's
// sockets or the simulator's buffers, which stay in this process.
// Peak RSS is the kernel's own high-water mark (VmHWM, every page ever resident
// at once since the child started), checked against VmRSS sampled every 250 ms.
// The child runs TypeScript through tsx, which costs ~30 MB of RSS over
// `node dist/main.js`: the numbers err on the high side.
//
// Diagnosis knobs: BENCH_GATEWAY_NODE_FLAGS="--max-old-space-size=256" passes
// node flags to the gateway; BENCH_EXPOSE_GC=1 also prints the heap that is live
// (after a full GC) while all requests are held.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { type Simulator, type SimulatorOptions, startSimulator } from "../src/simulator/server.js";
import { type FormPart, pngPart, postForm } from "../test/helpers/multipart.js";

const upstreamKey = "bench-upstream-key";
const adminToken = "bench-admin-token-0123456789";
const childEntry = fileURLToPath(new URL("./gateway-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("..", import.meta.url));

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or undefined once the process is gone. */
async function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The soft open-files limit of a process, from /proc/<pid>/limits. */
async function openFilesLimit(pid: number | "self"): Promise<string> {
  try {
    const limits = await readFile(`/proc/${pid}/limits`, "utf8");
    return /^Max open files\s+(\S+)/m.exec(limits)?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/** Samples VmRSS every 250 ms; `windowPeak` is the highest since the last `mark()`. */
function rssSampler(pid: number) {
  let peak = 0;
  let windowPeak = 0;
  let last = 0;
  let samples = 0;
  const sample = async () => {
    const rss = await procStatusBytes(pid, "VmRSS");
    if (rss === undefined) return;
    samples++;
    last = rss;
    peak = Math.max(peak, rss);
    windowPeak = Math.max(windowPeak, rss);
  };
  const timer = setInterval(() => void sample(), 250);
  return {
    sample,
    get last() {
      return last;
    },
    get peak() {
      return peak;
    },
    get windowPeak() {
      return windowPeak;
    },
    get samples() {
      return samples;
    },
    mark() {
      windowPeak = last;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

interface ChildGateway {
  url: string;
  pid: number;
  apiKey: string;
  sim: Simulator;
  /** The child's process.memoryUsage(), after a full GC when `gc` (BENCH_EXPOSE_GC=1). */
  memory(gc?: boolean): Promise<NodeJS.MemoryUsage>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The simulator here, the gateway in a child process, one tenant without limits.
 * The child is started through sh to raise its soft open-files limit to the
 * hard one (10,000 held sockets need more than the usual 1,024), then exec'd,
 * so the pid sampled is node's own.
 */
async function startChildGateway(simOptions: SimulatorOptions): Promise<ChildGateway> {
  const sim = await startSimulator({ keys: [upstreamKey], recordRequests: false, ...simOptions });
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-bench-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const nodeFlags = [
    ...(process.env.BENCH_EXPOSE_GC === "1" ? ["--expose-gc"] : []),
    ...(process.env.BENCH_GATEWAY_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
  const child: ChildProcess = spawn(
    "/bin/sh",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
      "sh",
      process.execPath,
      ...nodeFlags,
      "--import",
      "tsx",
      childEntry,
    ],
    {
      cwd: projectRoot,
      stdio: ["pipe", "pipe", "inherit"],
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG_LEVEL: "silent",
        IMAGEGATE_UPSTREAM_URL: sim.url,
        IMAGEGATE_UPSTREAM_KEY: upstreamKey,
        IMAGEGATE_DATA_DIR: dataDir,
        IMAGEGATE_ADMIN_TOKEN: adminToken,
        IMAGEGATE_MASTER_KEY: Buffer.alloc(32, 1).toString("base64"),
      },
    },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: Array<(line: string) => void> = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      await exited;
    }
    lines.close();
    await sim.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const first = await Promise.race([
      nextLine(),
      exited.then(([code]) => {
        throw new Error(`gateway child exited with ${String(code)} before listening`);
      }),
    ]);
    const { pid } = JSON.parse(first) as { pid: number };
    const admin = new Pool(url, { connections: 1 });
    const created = await admin.request({
      path: "/admin/tenants",
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "bench" }),
    });
    const tenant = (await created.body.json()) as { api_key?: string };
    await admin.close();
    if (created.statusCode !== 201 && created.statusCode !== 200) {
      throw new Error(`creating the tenant answered ${created.statusCode}`);
    }
    if (tenant.api_key === undefined) throw new Error("creating the tenant gave no api_key");
    return {
      url,
      pid,
      apiKey: tenant.api_key,
      sim,
      async memory(gc = false) {
        const line = nextLine();
        child.stdin?.write(gc ? "memory gc\n" : "memory\n");
        return JSON.parse(await line) as NodeJS.MemoryUsage;
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function generationRequest(apiKey: string, body: Record<string, unknown>) {
  return {
    path: "/v1/images/generations",
    method: "POST" as const,
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

/** Why a request did not end in a good 200, for the error tally. */
function failureOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String((err as Error | null)?.message ?? err);
}

function tally(failures: Map<string, number>, reason: string): void {
  failures.set(reason, (failures.get(reason) ?? 0) + 1);
}

const describeFailures = (failures: Map<string, number>) =>
  failures.size === 0 ? "" : ` (${[...failures].map(([k, v]) => `${k} ×${v}`).join(", ")})`;

/** 10,000 synchronous requests held at once; the child's peak RSS and every non-200. */
export async function heldRequests(count = 10_000, durationMs = 60_000): Promise<void> {
  const gateway = await startChildGateway({ durationMs });
  const client = new Pool(gateway.url, {
    connections: count + 16,
    pipelining: 1,
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
    connect: { timeout: 60_000 },
  });
  const rss = rssSampler(gateway.pid);
  try {
    // Warm up (JIT, SQLite, the first blob write) on a task that finishes at once.
    const warm = await client.request(
      generationRequest(gateway.apiKey, {
        model: "nano-banana",
        prompt: "warm up [sim:duration=0]",
        response_format: "b64_json",
      }),
    );
    const warmText = await warm.body.text();
    if (warm.statusCode !== 200) {
      throw new Error(`warm-up answered ${warm.statusCode}: ${warmText.slice(0, 300)}`);
    }
    await rss.sample();
    const idle = rss.last;
    const submitsBefore = gateway.sim.submits.length;

    const failures = new Map<string, number>();
    let answered = 0;
    let firstAnswerAt = Number.NaN;
    // The highest RSS sampled from "all held" to the first answer.
    let heldWindowPeak = Number.NaN;
    const started = performance.now();
    const body = { model: "nano-banana", prompt: "bench", response_format: "b64_json" };
    const all = Promise.all(
      Array.from({ length: count }, async () => {
        try {
          const response = await client.request(generationRequest(gateway.apiKey, body));
          const text = await response.body.text();
          if (response.statusCode !== 200) {
            let code = "";
            try {
              code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "";
            } catch {}
            tally(failures, `HTTP ${response.statusCode}${code ? ` ${code}` : ""}`);
          } else {
            const json = JSON.parse(text) as { data?: Array<{ b64_json?: string }> };
            if (typeof json.data?.[0]?.b64_json !== "string") tally(failures, "200 without b64");
          }
        } catch (err) {
          tally(failures, failureOf(err));
        } finally {
          if (answered++ === 0) {
            firstAnswerAt = performance.now();
            heldWindowPeak = rss.windowPeak;
          }
        }
      }),
    );
    // Held: reached the upstream and not answered yet. All held is the aim.
    let maxHeld = 0;
    const countHeld = () => {
      maxHeld = Math.max(maxHeld, gateway.sim.submits.length - submitsBefore - answered);
    };
    const heldCounter = setInterval(countHeld, 100);
    const allSubmitted = gateway.sim
      .waitForSubmits(submitsBefore + count)
      .then(() => performance.now());
    const heldAt = await Promise.race([allSubmitted, all.then(() => Number.NaN)]);
    countHeld();
    await rss.sample();
    rss.mark();
    const heldRss = rss.last;
    const heldMemory = await gateway.memory();
    // Diagnosis only (BENCH_EXPOSE_GC=1): what of the heap is live per held request.
    const liveMemory =
      process.env.BENCH_EXPOSE_GC === "1" && answered === 0
        ? await gateway.memory(true)
        : undefined;
    await all;
    clearInterval(heldCounter);
    const finished = performance.now();
    await rss.sample();
    const hwm = (await procStatusBytes(gateway.pid, "VmHWM")) ?? Number.NaN;
    const errors = [...failures.values()].reduce((sum, n) => sum + n, 0);

    console.log(
      `${count.toLocaleString("en")} held synchronous requests (tasks of ${seconds(durationMs)}, b64_json)`,
    );
    console.log(
      `  open files: bench ${await openFilesLimit("self")}, gateway ${await openFilesLimit(gateway.pid)}`,
    );
    const reached = gateway.sim.submits.length - submitsBefore;
    const held = Number.isNaN(heldAt)
      ? `NOT all held: ${reached} of ${count} reached the upstream, at most ${maxHeld} held at once`
      : `all ${count} held (submitted upstream) after ${seconds(heldAt - started)}, ${maxHeld} at once`;
    console.log(
      `  ${held}; first answer at ${seconds(firstAnswerAt - started)}, last at ${seconds(finished - started)}`,
    );
    const heap = `heap ${mb(heldMemory.heapUsed)} used of ${mb(heldMemory.heapTotal)}, external ${mb(heldMemory.external)}`;
    const live =
      liveMemory === undefined ? "" : `; after a full GC: heap ${mb(liveMemory.heapUsed)} used`;
    console.log(`  gateway when all held: ${heap}${live}`);
    console.log(
      `  gateway RSS idle ${mb(idle)}, all held ${mb(heldRss)} (sampled peak until the first answer ${mb(Math.max(heldRss, heldWindowPeak))})`,
    );
    console.log(
      `  gateway peak RSS ${mb(hwm)} (VmHWM; sampled ${mb(rss.peak)} over ${rss.samples} samples) (budget 300 MB)`,
    );
    console.log(`  errors ${errors}${describeFailures(failures)} (budget 0)`);
  } finally {
    rss.stop();
    await client.close();
    await gateway.close();
  }
}

/**
 * Streams one b64_json answer without keeping it: counts its bytes, and checks
 * that the envelope around the base64 parses as JSON. With `decode`, also
 * checks the base64 alphabet and decodes it, returning the decoded size and
 * first bytes.
 */
async function consumeImagesResponse(
  body: AsyncIterable<Buffer>,
  decode: boolean,
): Promise<{ received: number; base64Chars: number; decoded: number; head: Buffer }> {
  const marker = '"b64_json":"';
  let state: "head" | "base64" | "tail" = "head";
  let headText = "";
  let tailText = "";
  let received = 0;
  let base64Chars = 0;
  let decoded = 0;
  let carry = "";
  let head = Buffer.alloc(0);
  const decodeText = (text: string) => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error("b64_json is not base64");
    const bytes = Buffer.from(text, "base64");
    if (head.length < 8) head = Buffer.concat([head, bytes.subarray(0, 8 - head.length)]);
    decoded += bytes.length;
  };
  for await (const chunk of body) {
    received += chunk.length;
    let rest = chunk;
    if (state === "head") {
      headText += rest.toString("latin1");
      const at = headText.indexOf(marker);
      if (at < 0) {
        if (headText.length > 64 * 1024) throw new Error("no b64_json in the first 64 KiB");
        continue;
      }
      const start = at + marker.length;
      rest = Buffer.from(headText.slice(start), "latin1");
      headText = headText.slice(0, start);
      state = "base64";
    }
    if (state === "base64") {
      // Base64 has no '"': the first one closes the string.
      const end = rest.indexOf(0x22);
      const piece = end < 0 ? rest : rest.subarray(0, end);
      base64Chars += piece.length;
      if (decode) {
        const text = carry + piece.toString("latin1");
        const usable = end < 0 ? text.length - (text.length % 4) : text.length;
        decodeText(text.slice(0, usable));
        carry = text.slice(usable);
      }
      if (end < 0) continue;
      rest = rest.subarray(end);
      state = "tail";
    }
    tailText += rest.toString("latin1");
    if (tailText.length > 64 * 1024) throw new Error("more than 64 KiB after the base64");
  }
  if (state !== "tail") throw new Error(`the answer ended inside its ${state}`);
  // `..."b64_json":"` + `"}],...}`: the envelope with an empty image.
  const envelope = JSON.parse(headText + tailText) as { created?: unknown; data?: unknown[] };
  if (typeof envelope.created !== "number" || envelope.data?.length !== 1) {
    throw new Error("the envelope is not an images response with one image");
  }
  return { received, base64Chars, decoded, head };
}

/** 50 concurrent 20 MB results as b64_json, streamed through; the child's peak RSS. */
export async function largeResults(count = 50, imageBytes = 20 * 1024 * 1024): Promise<void> {
  // Tasks of 2 s so that all of them finish, download and stream together.
  const gateway = await startChildGateway({ durationMs: 2_000, imageBytes });
  const client = new Pool(gateway.url, {
    connections: count + 4,
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
  const rss = rssSampler(gateway.pid);
  const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  try {
    const warm = await client.request(
      generationRequest(gateway.apiKey, {
        model: "nano-banana",
        prompt: "warm up [sim:duration=0]",
        response_format: "b64_json",
      }),
    );
    for await (const _ of warm.body) {
    }
    if (warm.statusCode !== 200) throw new Error(`warm-up answered ${warm.statusCode}`);
    const firstTask = gateway.sim.submits[0]?.taskId ?? "";
    const expectedImage = gateway.sim.image(firstTask, 0).bytes.length;
    const expectedBase64 = 4 * Math.ceil(expectedImage / 3);
    await rss.sample();
    const idle = rss.last;

    const failures = new Map<string, number>();
    let bytes = 0;
    let decodedChecked = 0;
    const decodeEvery = 10; // 5 of the 50 are decoded in full
    const started = performance.now();
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        try {
          const response = await client.request(
            generationRequest(gateway.apiKey, {
              model: "nano-banana",
              prompt: `bench ${i}`,
              response_format: "b64_json",
            }),
          );
          if (response.statusCode !== 200) {
            await response.body.text();
            tally(failures, `HTTP ${response.statusCode}`);
            return;
          }
          const declared = Number(response.headers["content-length"]);
          const decode = i % decodeEvery === 0;
          const got = await consumeImagesResponse(response.body, decode);
          bytes += got.received;
          if (got.received !== declared) {
            tally(failures, `content-length ${declared} ≠ ${got.received} received`);
          } else if (got.base64Chars !== expectedBase64) {
            tally(failures, `base64 of ${got.base64Chars} chars, expected ${expectedBase64}`);
          } else if (decode) {
            if (got.decoded !== expectedImage || !got.head.equals(pngSignature)) {
              tally(failures, "decoded image is not the upstream's PNG");
            } else decodedChecked++;
          }
        } catch (err) {
          tally(failures, failureOf(err));
        }
      }),
    );
    const elapsed = performance.now() - started;
    await rss.sample();
    const hwm = (await procStatusBytes(gateway.pid, "VmHWM")) ?? Number.NaN;
    const errors = [...failures.values()].reduce((sum, n) => sum + n, 0);
    console.log(
      `${count} concurrent ${mb(expectedImage)} results as b64_json (streamed, ${mb(bytes)} received in ${seconds(elapsed)})`,
    );
    console.log(
      `  checked: Content-Length = bytes received, base64 length, JSON envelope on all; ${decodedChecked} decoded in full`,
    );
    console.log(
      `  gateway RSS idle ${mb(idle)}, peak ${mb(hwm)} (VmHWM; sampled ${mb(rss.peak)}) (budget 400 MB)`,
    );
    console.log(`  errors ${errors}${describeFailures(failures)}`);
  } finally {
    rss.stop();
    await client.close();
    await gateway.close();
  }
}

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
): Promise<void> {
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
  } finally {
    rss.stop();
    await admin.close();
    await bystanderPool.close();
    await gateway.close();
  }
}
