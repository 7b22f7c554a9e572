// The upstream simulator against UPSTREAM.md, over real HTTP with fetch: the
// three routes, auth and validation, state progression under a fake clock,
// prompt directives, injected faults and the image bytes themselves.
import { inflateSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  realisticDurationMs,
  type SimTaskInfo,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../../src/simulator/server.js";

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator(options);
  return sim;
}

/** A clock that moves only when the test says so. */
function fakeClock(start = 1_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

const auth = (key: string | null): Record<string, string> =>
  key === null ? {} : { authorization: `Bearer ${key}` };

async function submit(s: Simulator, body: unknown, key: string | null = "sim-key") {
  const response = await fetch(`${s.url}/v1/images/generations/async`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth(key) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function submitOk(s: Simulator, body: Record<string, unknown>): Promise<string> {
  const answer = await submit(s, { model: "gpt-image-2", prompt: "a banana", ...body });
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.text) as { task_id: string }).task_id;
}

interface ReadBody {
  code: string;
  message: string;
  data: {
    task_id: string;
    status: string;
    progress?: string;
    result_url?: string;
    fail_reason?: string;
    data?: { data: { url: string }[] };
  } | null;
}

async function read(s: Simulator, taskId: string, key: string | null = "sim-key") {
  const response = await fetch(`${s.url}/v1/images/tasks/${taskId}`, { headers: auth(key) });
  return { status: response.status, body: (await response.json()) as ReadBody };
}

async function download(s: Simulator, taskId: string, index = 0, key = "sim-key") {
  const response = await fetch(`${s.url}/v1/images/tasks/${taskId}/content?index=${index}`, {
    headers: auth(key),
  });
  return {
    status: response.status,
    headers: response.headers,
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Parses a PNG, checking every CRC and the pixel data size; returns the first pixel. */
function decodePng(png: Buffer): { width: number; height: number; rgb: number[] } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  const types: string[] = [];
  const idat: Buffer[] = [];
  let header: Buffer | undefined;
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    types.push(type);
    if (type === "IHDR") header = data;
    if (type === "IDAT") idat.push(data);
    at += 12 + length;
  }
  expect(types[0]).toBe("IHDR");
  expect(types.at(-1)).toBe("IEND");
  if (!header) throw new Error("no IHDR");
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  expect(header[9]).toBe(2); // RGB, 8 bits
  const pixels = inflateSync(Buffer.concat(idat));
  expect(pixels.length).toBe(height * (1 + width * 3));
  return { width, height, rgb: [...pixels.subarray(1, 4)] };
}

describe("happy path", () => {
  it("submit → read → download round trip", async () => {
    const s = await start();
    const answer = await submit(s, {
      model: "gpt-image-2",
      prompt: "a banana",
      size: "1024x1024",
      quality: "auto",
      n: 2,
    });
    expect(answer.status).toBe(200);
    const accepted = JSON.parse(answer.text);
    expect(accepted).toEqual({
      id: accepted.task_id,
      task_id: accepted.task_id,
      status: "queued",
      progress: 1,
      data: [],
    });
    expect(accepted.task_id).toMatch(/^aiimg_[0-9a-f]+$/);
    const taskId: string = accepted.task_id;
    expect(s.submits).toHaveLength(1);
    expect(s.task(taskId)).toMatchObject({
      taskId,
      key: "sim-key",
      model: "gpt-image-2",
      requestedModel: "gpt-image-2",
      n: 2,
      size: "1024x1024",
      quality: "auto",
    });

    const { status, body } = await read(s, taskId);
    expect(status).toBe(200);
    const url0 = `${s.url}/v1/images/tasks/${taskId}/content?index=0`;
    const url1 = `${s.url}/v1/images/tasks/${taskId}/content?index=1`;
    expect(body).toEqual({
      code: "success",
      message: "",
      data: {
        task_id: taskId,
        status: "SUCCESS",
        progress: "100%",
        result_url: url0,
        data: { data: [{ url: url0 }, { url: url1 }] },
      },
    });

    const first = await download(s, taskId, 0);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("image/png");
    expect(Number(first.headers.get("content-length"))).toBe(first.bytes.length);
    expect(first.bytes.equals(s.image(taskId, 0).bytes)).toBe(true);
    const second = await download(s, taskId, 1);
    expect(second.bytes.equals(s.image(taskId, 1).bytes)).toBe(true);
    const a = decodePng(first.bytes);
    const b = decodePng(second.bytes);
    expect(a.width).toBeGreaterThan(0);
    expect(first.bytes.equals(second.bytes)).toBe(false);
    expect(a.rgb).not.toEqual(b.rgb);
    expect((await download(s, taskId, 2)).status).toBe(404);

    expect(s.requests.map((r) => [r.route, r.status])).toEqual([
      ["submit", 200],
      ["read", 200],
      ["download", 200],
      ["download", 200],
      ["download", 404],
    ]);
    expect(s.counts).toEqual({ submit: 1, read: 1, download: 3, images: 0 });
  });

  it("serves JPEG and WebP with their magic bytes, distinct per image", async () => {
    const s = await start({ imageFormat: (task) => (task.n === 1 ? "jpeg" : "webp") });
    const jpegTask = await submitOk(s, { n: 1 });
    const webpTask = await submitOk(s, { n: 2 });
    const jpeg = await download(s, jpegTask);
    expect(jpeg.headers.get("content-type")).toBe("image/jpeg");
    expect([...jpeg.bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    expect([...jpeg.bytes.subarray(-2)]).toEqual([0xff, 0xd9]);
    expect(jpeg.bytes.equals(s.image(jpegTask, 0).bytes)).toBe(true);
    const webp = await download(s, webpTask, 1);
    expect(webp.headers.get("content-type")).toBe("image/webp");
    expect(webp.bytes.toString("latin1", 0, 4)).toBe("RIFF");
    expect(webp.bytes.readUInt32LE(4)).toBe(webp.bytes.length - 8);
    expect(webp.bytes.toString("latin1", 8, 12)).toBe("WEBP");
    expect(webp.bytes.equals(s.image(webpTask, 1).bytes)).toBe(true);
    expect(webp.bytes.equals(s.image(webpTask, 0).bytes)).toBe(false);
  });

  it("pads PNGs to imageBytes and keeps them valid", async () => {
    const s = await start({ imageBytes: 3_000_000 });
    const taskId = await submitOk(s, {});
    const image = await download(s, taskId);
    expect(Math.abs(image.bytes.length - 3_000_000)).toBeLessThan(1_000);
    decodePng(image.bytes);
    expect(image.bytes.equals(s.image(taskId, 0).bytes)).toBe(true);
  });

  it("accepts aliases and resolves them to the model id", async () => {
    const s = await start();
    await submitOk(s, { model: "nano-banana", size: "16:9", quality: "2K" });
    await submitOk(s, { model: "dall-e-3" });
    expect(s.submits.map((t) => [t.requestedModel, t.model])).toEqual([
      ["nano-banana", "gemini-3.1-flash-image-preview"],
      ["dall-e-3", "grok-imagine-image-pro"],
    ]);
  });

  it("uses publicUrl for result URLs", async () => {
    const s = await start({ publicUrl: "https://upstream.example/" });
    const taskId = await submitOk(s, {});
    const { body } = await read(s, taskId);
    expect(body.data?.result_url).toBe(
      `https://upstream.example/v1/images/tasks/${taskId}/content?index=0`,
    );
  });

  it("waitForSubmits resolves once enough submits arrived", async () => {
    const s = await start();
    const waiting = s.waitForSubmits(2);
    await submitOk(s, {});
    await submitOk(s, {});
    await waiting;
    await s.waitForSubmits(1);
    expect(s.submits).toHaveLength(2);
  });
});

describe("auth and validation", () => {
  it("401 without a key or with an unknown one, on every route", async () => {
    const s = await start();
    const invalid = {
      error: {
        message: "invalid token",
        type: "new_api_error",
        param: "",
        code: "invalid_api_key",
      },
    };
    for (const key of [null, "nope"]) {
      const answer = await submit(s, { model: "gpt-image-2", prompt: "p" }, key);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toEqual(invalid);
    }
    const taskId = await submitOk(s, {});
    expect(await read(s, taskId, null)).toEqual({ status: 401, body: invalid });
    expect((await download(s, taskId, 0, "nope")).status).toBe(401);
    expect(s.submits).toHaveLength(1);
  });

  it("keys added at runtime are accepted", async () => {
    const s = await start({ keys: ["k1"] });
    expect((await submit(s, { model: "gpt-image-2", prompt: "p" }, "k2")).status).toBe(401);
    s.addKey("k2");
    expect((await submit(s, { model: "gpt-image-2", prompt: "p" }, "k2")).status).toBe(200);
    expect(s.submits[0]?.key).toBe("k2");
  });

  it.each([
    ["not JSON", "{oops"],
    ["not an object", "[1,2]"],
    ["no prompt", { model: "gpt-image-2" }],
    ["empty prompt", { model: "gpt-image-2", prompt: "  " }],
    ["n too big", { model: "gpt-image-2", prompt: "p", n: 11 }],
    ["n not an integer", { model: "gpt-image-2", prompt: "p", n: 1.5 }],
    ["image_url not strings", { model: "gpt-image-2", prompt: "p", image_url: [1] }],
  ])("400 invalid_request: %s", async (_name, body) => {
    const s = await start();
    const answer = await submit(s, body);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({
      error: { type: "new_api_error", param: "", code: "invalid_request" },
    });
    expect(s.submits).toHaveLength(0);
  });

  it("503 model_not_found for a model no channel serves", async () => {
    const s = await start();
    for (const model of ["dall-e-4", "constructor", 42]) {
      const answer = await submit(s, { model, prompt: "p" });
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.text)).toMatchObject({
        error: { type: "new_api_error", code: "model_not_found" },
      });
    }
    expect(s.submits).toHaveLength(0);
  });

  it("enforces each model's reference image limit", async () => {
    const s = await start();
    const refs = (count: number) =>
      Array.from({ length: count }, (_, i) => `https://example.com/${i}.png`);
    const cases: [string, unknown, number][] = [
      ["grok-imagine-image-lite", "https://example.com/a.png", 400],
      ["grok-imagine-image", "https://example.com/a.png", 200],
      ["grok-imagine-image", refs(2), 400],
      ["grok-imagine-image-edit", refs(3), 200],
      ["nano-banana-pro", refs(5), 400],
      ["gpt-image-2", refs(14), 200],
      ["gpt-image-2", refs(15), 400],
    ];
    for (const [model, imageUrl, status] of cases) {
      const answer = await submit(s, { model, prompt: "p", image_url: imageUrl });
      expect([model, answer.status]).toEqual([model, status]);
      if (status === 400) expect(answer.text).toContain("invalid_request");
    }
    expect(s.submits).toHaveLength(3);
  });

  it("another key's task, or an unknown one, is task_not_exist (HTTP 400)", async () => {
    const s = await start({ keys: ["a", "b"] });
    const answer = await submit(s, { model: "gpt-image-2", prompt: "p" }, "a");
    const taskId = JSON.parse(answer.text).task_id as string;
    const notExist = { code: "task_not_exist", message: "task_not_exist", data: null };
    expect(await read(s, taskId, "b")).toEqual({ status: 400, body: notExist });
    expect(await read(s, "aiimg_missing", "a")).toEqual({ status: 400, body: notExist });
    const other = await download(s, taskId, 0, "b");
    expect(other.status).toBe(400);
    expect(JSON.parse(other.bytes.toString())).toEqual(notExist);
    expect((await read(s, taskId, "a")).status).toBe(200);
  });

  it("404 for any other route", async () => {
    const s = await start();
    const headers = auth("sim-key");
    expect((await fetch(`${s.url}/v1/images/generations`, { headers })).status).toBe(404);
    expect((await fetch(`${s.url}/v1/images/generations/async`, { headers })).status).toBe(404);
    expect((await fetch(`${s.url}/v1/images/tasks/x/y`, { headers })).status).toBe(404);
    expect(s.requests).toHaveLength(0);
  });
});

describe("time", () => {
  it("moves through the states with the clock", async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, durationMs: 10_000 });
    const taskId = await submitOk(s, {});
    expect(s.task(taskId)?.submittedAt).toBe(clock.now());
    const states: [number, string, string][] = [
      [0, "NOT_START", "0%"],
      [400, "SUBMITTED", "4%"],
      [400, "QUEUED", "8%"],
      [200, "IN_PROGRESS", "10%"],
      [4_000, "IN_PROGRESS", "50%"],
      [4_999, "IN_PROGRESS", "99%"],
    ];
    for (const [step, status, progress] of states) {
      clock.advance(step);
      expect((await read(s, taskId)).body.data).toEqual({ task_id: taskId, status, progress });
      expect((await download(s, taskId)).status).toBe(404);
    }
    clock.advance(1);
    const done = (await read(s, taskId)).body.data;
    expect(done).toMatchObject({ status: "SUCCESS", progress: "100%" });
    expect(done?.data?.data).toHaveLength(1);
    expect((await download(s, taskId)).status).toBe(200);
  });

  it("410 once the result is older than resultTtlMs", async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, durationMs: 1_000, resultTtlMs: 60_000 });
    const taskId = await submitOk(s, {});
    clock.advance(1_000 + 60_000);
    expect((await download(s, taskId)).status).toBe(200);
    clock.advance(1);
    expect((await download(s, taskId)).status).toBe(410);
    expect((await read(s, taskId)).body.data?.status).toBe("SUCCESS");
  });

  it("takes durations from a function of the task", async () => {
    const clock = fakeClock();
    const s = await start({
      now: clock.now,
      durationMs: (task) => (task.model === "gpt-image-2" ? 5_000 : 0),
    });
    const slow = await submitOk(s, {});
    const fast = await submitOk(s, { model: "grok-imagine-image" });
    expect((await read(s, slow)).body.data?.status).toBe("NOT_START");
    expect((await read(s, fast)).body.data?.status).toBe("SUCCESS");
  });

  it("the mixed spelling varies case, omits progress on some tasks, puts a URL in fail_reason", async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, durationMs: 1_000, stateSpelling: "mixed" });
    const seen = new Set<string>();
    let omitted = 0;
    for (let i = 0; i < 4; i++) {
      const taskId = await submitOk(s, {});
      clock.advance(500);
      const running = (await read(s, taskId)).body.data;
      seen.add(running?.status ?? "");
      if (running?.progress === undefined) omitted++;
      clock.advance(500);
      const done = (await read(s, taskId)).body.data;
      seen.add(done?.status ?? "");
      expect(done?.fail_reason).toBe(done?.result_url);
    }
    expect([...seen].sort()).toEqual(["Success", "in_progress"]);
    expect(omitted).toBe(2);
  });

  it("realisticDurationMs follows the published latencies", () => {
    const task = (model: string, extra: Partial<SimTaskInfo> = {}): SimTaskInfo => ({
      taskId: "aiimg_x",
      key: "k",
      model,
      requestedModel: model,
      prompt: "p",
      n: 1,
      body: {},
      submittedAt: 0,
      ...extra,
    });
    for (let i = 0; i < 20; i++) {
      const nano = realisticDurationMs(task("gemini-3.1-flash-image-preview", { quality: "1K" }));
      expect(nano).toBeGreaterThanOrEqual(4_000);
      expect(nano).toBeLessThanOrEqual(15_000);
      const grok = realisticDurationMs(task("grok-imagine-image"));
      expect(grok).toBeGreaterThanOrEqual(5_000);
      expect(grok).toBeLessThanOrEqual(11_000);
      const low = realisticDurationMs(task("gpt-image-2", { quality: "low" }));
      const high = realisticDurationMs(task("gpt-image-2", { quality: "high" }));
      expect(low).toBeLessThan(high);
      const fourK = realisticDurationMs(
        task("gemini-3.1-flash-image-preview", {
          body: { extra_body: { google: { image_config: { image_size: "4K" } } } },
        }),
      );
      expect(fourK).toBeGreaterThan(nano);
    }
  });
});

describe("prompt directives", () => {
  it("[sim:fail=…] ends in FAILURE with that reason", async () => {
    const s = await start();
    const taskId = await submitOk(s, { prompt: "x [sim:fail=content policy violation] y" });
    const { body } = await read(s, taskId);
    expect(body.data).toEqual({
      task_id: taskId,
      status: "FAILURE",
      progress: "100%",
      fail_reason: "content policy violation",
    });
    expect((await download(s, taskId)).status).toBe(404);
  });

  it("[sim:lose] makes the task read as task_not_exist", async () => {
    const s = await start();
    const taskId = await submitOk(s, { prompt: "x [sim:lose]" });
    const { status, body } = await read(s, taskId);
    expect(status).toBe(400);
    expect(body.code).toBe("task_not_exist");
    expect(s.task(taskId)).toBeDefined();
  });

  it("[sim:images=K] returns K images whatever n was", async () => {
    const s = await start();
    const taskId = await submitOk(s, { prompt: "x [sim:images=3]", n: 1 });
    const urls = (await read(s, taskId)).body.data?.data?.data ?? [];
    expect(urls).toHaveLength(3);
    expect((await download(s, taskId, 2)).status).toBe(200);
  });

  it("imagesReturned can return fewer images than n", async () => {
    const s = await start({ imagesReturned: () => 1 });
    const taskId = await submitOk(s, { n: 4 });
    expect((await read(s, taskId)).body.data?.data?.data).toHaveLength(1);
    expect((await download(s, taskId, 1)).status).toBe(404);
  });

  it("[sim:duration=MS] overrides the duration", async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now });
    const taskId = await submitOk(s, { prompt: "x [sim:duration=2000]" });
    clock.advance(1_000);
    expect((await read(s, taskId)).body.data).toMatchObject({
      status: "IN_PROGRESS",
      progress: "50%",
    });
    clock.advance(1_000);
    expect((await read(s, taskId)).body.data?.status).toBe("SUCCESS");
  });

  it("[sim:expire] makes downloads answer 410", async () => {
    const s = await start();
    const taskId = await submitOk(s, { prompt: "x [sim:expire]" });
    expect((await read(s, taskId)).body.data?.status).toBe("SUCCESS");
    expect((await download(s, taskId)).status).toBe(410);
  });
});

describe("faults", () => {
  it("answers with a status, body and headers, then recovers", async () => {
    const s = await start();
    const busy = { error: { message: "busy", type: "new_api_error", param: "", code: "" } };
    s.inject({
      route: "submit",
      status: 429,
      body: busy,
      headers: { "retry-after": "2" },
      times: 2,
    });
    for (let i = 0; i < 2; i++) {
      const answer = await submit(s, { model: "gpt-image-2", prompt: "p" });
      expect(answer.status).toBe(429);
      expect(answer.headers.get("retry-after")).toBe("2");
      expect(JSON.parse(answer.text)).toEqual(busy);
    }
    expect(s.submits).toHaveLength(0);
    await submitOk(s, {});
    expect(s.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("answers with a raw body that is not JSON", async () => {
    const s = await start();
    const taskId = await submitOk(s, {});
    s.inject({ route: "read", status: 502, rawBody: "<html>bad gateway</html>" });
    const response = await fetch(`${s.url}/v1/images/tasks/${taskId}`, {
      headers: auth("sim-key"),
    });
    expect(response.status).toBe(502);
    expect(await response.text()).toBe("<html>bad gateway</html>");
    expect((await read(s, taskId)).status).toBe(200);
  });

  it("faults apply per route, in order", async () => {
    const s = await start();
    s.inject({ route: "download", status: 502 });
    s.inject({ route: "download", status: 404 });
    const taskId = await submitOk(s, {});
    expect((await read(s, taskId)).status).toBe(200);
    expect((await download(s, taskId)).status).toBe(502);
    expect((await download(s, taskId)).status).toBe(404);
    expect((await download(s, taskId)).status).toBe(200);
  });

  it("destroy drops the connection and creates nothing", async () => {
    const s = await start();
    s.inject({ route: "submit", destroy: true });
    await expect(submit(s, { model: "gpt-image-2", prompt: "p" })).rejects.toThrow();
    expect(s.submits).toHaveLength(0);
    expect(s.requests).toEqual([expect.objectContaining({ route: "submit", status: 0 })]);
  });

  it("passThrough + destroy creates the task, then drops the answer", async () => {
    const s = await start();
    s.inject({ route: "submit", destroy: true, passThrough: true });
    await expect(submit(s, { model: "gpt-image-2", prompt: "p" })).rejects.toThrow();
    expect(s.submits).toHaveLength(1);
    expect((await read(s, s.submits[0]?.taskId ?? "")).body.data?.status).toBe("SUCCESS");
  });

  it("passThrough + status creates the task, then answers with the fault", async () => {
    const s = await start();
    s.inject({ route: "submit", status: 504, rawBody: "gateway timeout", passThrough: true });
    const answer = await submit(s, { model: "gpt-image-2", prompt: "p" });
    expect(answer.status).toBe(504);
    expect(s.submits).toHaveLength(1);
  });

  it("delayMs delays the normal answer", async () => {
    const s = await start();
    const taskId = await submitOk(s, {});
    s.inject({ route: "read", delayMs: 50 });
    const started = performance.now();
    expect((await read(s, taskId)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("passThrough + delay creates the task before the answer arrives", async () => {
    const s = await start();
    s.inject({ route: "submit", delayMs: 60_000, passThrough: true });
    const pending = submit(s, { model: "gpt-image-2", prompt: "p" }).catch(() => "closed");
    await s.waitForSubmits(1);
    expect(s.submits).toHaveLength(1);
    await s.close();
    expect(await pending).toBe("closed");
  });
});
