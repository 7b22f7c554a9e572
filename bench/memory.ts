// The memory budgets of DESIGN.md, with the gateway in a child process
// (bench/child-gateway.ts) so that its RSS is not mixed with the client's
// sockets or the simulator's buffers, which stay in this process.
// Peak RSS is the kernel's own high-water mark (VmHWM, every page ever resident
// at once since the child started), checked against VmRSS sampled every 250 ms.
// Each scenario prints its details and returns its figures for the summary.
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { consumeImagesResponse } from "./b64-stream.js";
import {
  generationRequest,
  openFilesLimit,
  procStatusBytes,
  rssSampler,
  startChildGateway,
} from "./child-gateway.js";
import { type Figure, skipped } from "./report.js";
import {
  answerFailure,
  describeTally,
  failureOf,
  mb,
  seconds,
  tally,
  tallyTotal,
} from "./stats.js";
import { uploadStorm, uploadStormSkipped } from "./upload-storm.js";

const heldFigure = ["peak RSS, 10,000 held synchronous requests", "≤ 300 MB, 0 errors"] as const;
const largeFigure = [
  "peak RSS, 50 concurrent 20 MB b64_json results",
  "≤ 400 MB, 0 errors",
] as const;

export const memorySkipped = (why: string): Figure[] => [
  ...uploadStormSkipped(why),
  skipped(heldFigure[0], heldFigure[1], why),
  skipped(largeFigure[0], largeFigure[1], why),
];

/** The three memory scenarios, one after the other (about four minutes). */
export async function memory(): Promise<Figure[]> {
  return [...(await uploadStorm()), ...(await heldRequests()), ...(await largeResults())];
}

/** 10,000 synchronous requests held at once; the child's peak RSS and every non-200. */
export async function heldRequests(count = 10_000, durationMs = 60_000): Promise<Figure[]> {
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
            tally(failures, answerFailure(response.statusCode, text));
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
    const errors = tallyTotal(failures);

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
    console.log(`  errors ${errors}${describeTally(failures)} (budget 0)`);
    return [
      {
        figure: heldFigure[0],
        measured: `${mb(hwm)}, ${errors} errors${Number.isNaN(heldAt) ? `, only ${maxHeld} held at once` : ""}`,
        budget: heldFigure[1],
        met: hwm <= 300 * 1024 * 1024 && errors === 0 && !Number.isNaN(heldAt),
      },
    ];
  } finally {
    rss.stop();
    await client.close();
    await gateway.close();
  }
}

/** 50 concurrent 20 MB results as b64_json, streamed through; the child's peak RSS. */
export async function largeResults(count = 50, imageBytes = 20 * 1024 * 1024): Promise<Figure[]> {
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
    const errors = tallyTotal(failures);
    console.log(
      `${count} concurrent ${mb(expectedImage)} results as b64_json (streamed, ${mb(bytes)} received in ${seconds(elapsed)})`,
    );
    console.log(
      `  checked: Content-Length = bytes received, base64 length, JSON envelope on all; ${decodedChecked} decoded in full`,
    );
    console.log(
      `  gateway RSS idle ${mb(idle)}, peak ${mb(hwm)} (VmHWM; sampled ${mb(rss.peak)}) (budget 400 MB)`,
    );
    console.log(`  errors ${errors}${describeTally(failures)} (budget 0)`);
    return [
      {
        figure: largeFigure[0],
        measured: `${mb(hwm)}, ${errors} errors`,
        budget: largeFigure[1],
        met: hwm <= 400 * 1024 * 1024 && errors === 0,
      },
    ];
  } finally {
    rss.stop();
    await client.close();
    await gateway.close();
  }
}
