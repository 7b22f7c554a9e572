// A hostile tenant with a valid key and nothing else: uploads that would
// exhaust memory or disk, forms that break a limit halfway, a failing upstream
// key, an upstream that sends enormous results. The gateway stays up, its
// memory stays bounded, and every other tenant keeps being served.
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { type FormPart, pngPart, postForm } from "../helpers/multipart.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const mb = 1024 * 1024;

/** The storm of the issue: 14 files of 24 MB for gpt-image-2. */
const stormParts = (): FormPart[] => [
  { name: "model", value: "gpt-image-2" },
  { name: "prompt", value: "p" },
  ...Array.from({ length: 14 }, () => pngPart("image[]", 24 * mb)),
];

/** Samples this process's RSS until stopped; returns the peak growth over the start. */
function rssWatch(): { stop(): number } {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak - start;
    },
  };
}

async function spooled(gateway: TestGateway): Promise<string[]> {
  return readdir(join(gateway.config.dataDir, "uploads")).catch(() => []);
}

/** Another tenant's calls while the storm goes on: all must succeed. */
async function servedMeanwhile(gateway: TestGateway, during: Promise<unknown>): Promise<number> {
  const other = await gateway.createTenant({ name: "bystander" });
  const client = gateway.clientWith(other.apiKey);
  let served = 0;
  let done = false;
  void during.finally(() => {
    done = true;
  });
  do {
    const models = await client.models.list();
    expect(models.data.length).toBeGreaterThan(0);
    served++;
  } while (!done);
  const image = await client.images.generate({ model: "nano-banana", prompt: "still here" });
  expect(image.data).toHaveLength(1);
  return served;
}

describe("upload storms", () => {
  it("six concurrent 14 × 24 MB edits with declared lengths are refused before a byte is read (regression)", async () => {
    gw = await buildTestApp();
    const memory = rssWatch();
    const storm = Promise.all(
      Array.from({ length: 6 }, () =>
        postForm(`${gw.url}/v1/images/edits`, gw.apiKey, stormParts()),
      ),
    );
    const served = await servedMeanwhile(gw, storm);
    const answers = await storm;
    const growth = memory.stop();
    for (const answer of answers) {
      expect(answer.status).toBe(413);
      expect(answer.json).toMatchObject({ error: { code: "upload_too_large", param: "image" } });
      expect(answer.headers.connection).toBe("close");
    }
    expect(served).toBeGreaterThan(0);
    // Only the bystander's generation reached the upstream.
    expect(gw.sim.submits.map((submit) => submit.prompt)).toEqual(["still here"]);
    expect(await spooled(gw)).toEqual([]);
    expect(growth).toBeLessThan(300 * mb);
  });

  // Hundreds of MB through localhost: on a busy 2-core machine this takes
  // longer than the suite's default 20 s, without anything being wrong.
  it("the same storm sent chunked (no length) is cut at the per-request cap; memory stays bounded (regression)", {
    timeout: 60_000,
  }, async () => {
    gw = await buildTestApp();
    const memory = rssWatch();
    const storm = Promise.all(
      Array.from({ length: 6 }, () =>
        postForm(`${gw.url}/v1/images/edits`, gw.apiKey, stormParts(), {
          declareLength: false,
        }).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      ),
    );
    const served = await servedMeanwhile(gw, storm);
    const answers = await storm;
    const growth = memory.stop();
    for (const answer of answers) {
      // The gateway answers and closes while the client is still sending:
      // the client sees the 413, or (depending on timing) a closed socket.
      // Each may send up to 64 MB, so past half the in-flight budget (the
      // tenant's share) the rest are refused before they are read.
      if (answer instanceof Error) continue;
      if (answer.status === 429) {
        expect(answer.json).toMatchObject({ error: { code: "upload_limit_exceeded" } });
        expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0);
        continue;
      }
      expect(answer).toMatchObject({ status: 413, json: { error: { code: "upload_too_large" } } });
    }
    expect(answers.some((answer) => !(answer instanceof Error))).toBe(true);
    expect(served).toBeGreaterThan(0);
    expect(gw.sim.submits.map((submit) => submit.prompt)).toEqual(["still here"]);
    await vi.waitFor(async () => expect(await spooled(gw)).toEqual([]));
    expect(growth).toBeLessThan(300 * mb);
  });
});

describe("what the OpenAI SDK sees", () => {
  it("an edit past the per-request cap is a clean 413 the SDK does not retry, not a reset connection", async () => {
    gw = await buildTestApp();
    const client = gw.clientWith(gw.apiKey, { maxRetries: 2 });
    let requests = 0;
    gw.app.server.on("request", () => requests++);
    const big = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(24 * mb),
    ]);
    const image = await Promise.all([1, 2, 3].map((i) => toFile(big, `${i}.png`)));
    const err = await apiError(client.images.edit({ model: "gpt-image-2", prompt: "p", image }));
    expect(err.status).toBe(413);
    expect(err.code).toBe("upload_too_large");
    expect(requests).toBe(1);
    expect(gw.sim.submits).toHaveLength(0);
  });
});

describe("limits decided before the files", () => {
  /** Counts what the client managed to send before the gateway gave up on the form. */
  async function send(
    gateway: TestGateway,
    apiKey: string,
    parts: FormPart[],
    declareLength = false,
  ) {
    const total = parts.reduce((sum, part) => sum + ("size" in part ? part.size : 0), 0);
    const answer = await postForm(`${gateway.url}/v1/images/edits`, apiKey, parts, {
      declareLength,
    });
    return { answer, total };
  }

  it("a model the key may not use stops the form at its model field", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "bananas", models: ["nano-banana"] });
    const { answer } = await send(gw, tenant.apiKey, [
      { name: "model", value: "gpt-image-2" },
      { name: "prompt", value: "p" },
      ...Array.from({ length: 3 }, () => pngPart("image[]", 20 * mb)),
    ]);
    expect(answer.status).toBe(403);
    expect(answer.json).toMatchObject({ error: { code: "model_not_allowed", param: "model" } });
    expect(await spooled(gw)).toEqual([]);
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("more images than the named model takes stops the form at the first one too many", async () => {
    gw = await buildTestApp();
    const { answer } = await send(gw, gw.apiKey, [
      { name: "model", value: "grok-imagine-image" },
      { name: "prompt", value: "p" },
      ...Array.from({ length: 3 }, () => pngPart("image[]", 10 * mb)),
    ]);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: { code: "too_many_images", param: "image" } });
    expect(await spooled(gw)).toEqual([]);
  });

  it("a file that is not an image is refused at its first bytes", async () => {
    gw = await buildTestApp();
    const { answer } = await send(gw, gw.apiKey, [
      { name: "prompt", value: "p" },
      { name: "image", filename: "x.png", size: 30 * mb, head: Buffer.from("GIF89a not ours") },
    ]);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: { code: "invalid_image_format", param: "image" } });
  });

  it("a tenant at max_concurrent gets its 429 before its upload is read", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey);
    const abort = new AbortController();
    const holding = client.images
      .generate(
        { model: "gpt-image-2", prompt: "hold [sim:duration=30000]" },
        { signal: abort.signal },
      )
      .catch(() => undefined);
    await gw.sim.waitForSubmits(1);
    const { answer } = await send(
      gw,
      tenant.apiKey,
      [{ name: "prompt", value: "p" }, pngPart("image", 20 * mb)],
      true,
    );
    expect(answer.status).toBe(429);
    expect(answer.json).toMatchObject({ error: { code: "concurrency_limit_exceeded" } });
    expect(answer.headers.connection).toBe("close");
    abort.abort();
    await holding;
  });

  it("upload bytes in flight: past the process cap a 503, past a tenant's share a 429, both with retry-after", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB: "40" } });
    // A slow upload (no declared length: it may send up to the request cap,
    // 24 MB here, where uploads go upstream as data: URIs of at most 32 MB,
    // plus room for fields) holds its reservation while it arrives.
    let finish = () => {};
    const held = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const slowParts: FormPart[] = [{ name: "prompt", value: "p" }, pngPart("image", 1024)];
    const slow = (async () => {
      const { multipartBody } = await import("../helpers/multipart.js");
      const { request } = await import("undici");
      const form = multipartBody(slowParts);
      async function* body() {
        const parts = form.body();
        // Everything but the closing boundary, then wait.
        const chunks: Buffer[] = [];
        for await (const chunk of parts) chunks.push(chunk);
        const closing = chunks.pop() as Buffer;
        yield* chunks;
        await held;
        yield closing;
      }
      const response = await request(`${gw.url}/v1/images/edits`, {
        method: "POST",
        headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": form.contentType },
        body: Readable.from(body()),
      });
      return { status: response.statusCode, json: await response.body.json() };
    })();
    const other = await gw.createTenant({ name: "other" });
    // The process cap (40 MB) minus the slow upload's 25 MB leaves less than 20 MB.
    await vi.waitFor(
      async () => {
        const busy = await postForm(`${gw.url}/v1/images/edits`, other.apiKey, [
          { name: "prompt", value: "p" },
          pngPart("image", 20 * mb),
        ]);
        expect(busy.status).toBe(503);
        expect(busy.json).toMatchObject({ error: { code: "server_busy" } });
        expect(Number(busy.headers["retry-after"])).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 50 },
    );
    // The same tenant, past its share (half the budget, 20 MB) already: its own 429.
    const own = await postForm(`${gw.url}/v1/images/edits`, gw.apiKey, [
      { name: "prompt", value: "p" },
      pngPart("image", 2 * mb),
    ]);
    expect(own.status).toBe(429);
    expect(own.json).toMatchObject({ error: { code: "upload_limit_exceeded" } });
    // Small requests are not held up by uploads.
    const small = await gw.clientWith(other.apiKey).images.generate({ prompt: "p" });
    expect(small.data).toHaveLength(1);
    finish();
    expect((await slow).status).toBe(200);
    // Received: the budget is free again.
    const after = await postForm(`${gw.url}/v1/images/edits`, other.apiKey, [
      { name: "prompt", value: "p" },
      pngPart("image", 20 * mb),
    ]);
    expect(after.status).toBe(200);
  });
});

/** Sends `head`, then holds the rest of a body of `length` bytes until `release` settles. */
async function heldPost(
  url: string,
  headers: Record<string, string>,
  head: string,
  release: Promise<void>,
) {
  const { request } = await import("undici");
  async function* body() {
    yield Buffer.from(head);
    await release;
  }
  return request(url, { method: "POST", headers, body: Readable.from(body()) });
}

describe("every image route is guarded before its body", () => {
  it("the async API too: a tenant at max_concurrent gets its 429 before a 30 MB body is read (regression)", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one", max_concurrent: 1 });
    const auth = { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" };
    const first = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "gpt-image-2", prompt: "hold [sim:duration=30000]" }),
    });
    expect(first.status).toBe(200);
    let release = () => {};
    const never = new Promise<void>((resolve) => {
      release = resolve;
    });
    const answer = await heldPost(
      `${gw.url}/v1/images/generations/async`,
      { ...auth, "content-length": String(30 * mb) },
      '{"prompt":"p","image_url":"data:image/png;base64,',
      never,
    );
    expect(answer.statusCode).toBe(429);
    expect(await answer.body.json()).toMatchObject({
      error: { code: "concurrency_limit_exceeded" },
    });
    release();
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("a new Idempotency-Key does not skip max_concurrent before the body (regression)", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey);
    const abort = new AbortController();
    const holding = client.images
      .generate({ prompt: "hold [sim:duration=30000]" }, { signal: abort.signal })
      .catch(() => undefined);
    await gw.sim.waitForSubmits(1);
    const answer = await postForm(
      `${gw.url}/v1/images/edits`,
      tenant.apiKey,
      [{ name: "prompt", value: "p" }, pngPart("image", 20 * mb)],
      { headers: { "idempotency-key": "never-used-before" } },
    );
    expect(answer.status).toBe(429);
    expect(answer.headers.connection).toBe("close");
    abort.abort();
    await holding;
  });

  it("a JSON body sent without a length holds only what it was once it is in", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB: "40" } });
    const { request } = await import("undici");
    async function* small() {
      yield Buffer.from(JSON.stringify({ prompt: "hold [sim:duration=30000]" }));
    }
    const abort = new AbortController();
    const waiting = request(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
      body: Readable.from(small()),
      signal: abort.signal,
    }).catch(() => undefined);
    await gw.sim.waitForSubmits(1);
    const other = await gw.createTenant({ name: "other" });
    const upload = await postForm(`${gw.url}/v1/images/edits`, other.apiKey, [
      { name: "prompt", value: "p" },
      pngPart("image", 20 * mb),
    ]);
    expect(upload.status).toBe(200);
    abort.abort();
    await waiting;
  });
});

describe("JSON bodies in flight", () => {
  it("count three times their size (held in memory, not on disk) against the upload budget", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_UPLOADS_IN_FLIGHT_MB: "40" } });
    // 8 MB of JSON, all but its last byte sent, then held.
    const text = JSON.stringify({ prompt: "p", user: "x".repeat(8 * mb) });
    let finish = () => {};
    const held = new Promise<void>((resolve) => {
      finish = resolve;
    });
    async function* body() {
      yield Buffer.from(text.slice(0, -1));
      await held;
      yield Buffer.from(text.slice(-1));
    }
    const { request } = await import("undici");
    const slow = request(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${gw.apiKey}`,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(text)),
      },
      body: Readable.from(body()),
    });
    // 24 MB of the tenant's 20 MB share is held: 2 MB more (6 MB counted) is refused.
    const small = JSON.stringify({ prompt: "p", user: "y".repeat(2 * mb) });
    await vi.waitFor(
      async () => {
        const refused = await fetch(`${gw.url}/v1/images/generations`, {
          method: "POST",
          headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
          body: small,
        });
        expect(refused.status).toBe(429);
        expect(await refused.json()).toMatchObject({ error: { code: "upload_limit_exceeded" } });
      },
      { timeout: 10_000, interval: 50 },
    );
    finish();
    const answer = await slow;
    await answer.body.text();
    expect(answer.statusCode).toBe(400);
  });
});

describe("the gateway's own disk failing", () => {
  it("is a 500 that shows no path, and uploads work again once the folder is fixed (regression)", async () => {
    gw = await buildTestApp();
    const uploads = join(gw.config.dataDir, "uploads");
    await rm(uploads, { recursive: true, force: true });
    await writeFile(uploads, "not a folder");
    const parts: FormPart[] = [{ name: "prompt", value: "p" }, pngPart("image", 1024)];
    const broken = await postForm(`${gw.url}/v1/images/edits`, gw.apiKey, parts);
    expect(broken.status).toBe(500);
    expect(JSON.stringify(broken.json)).not.toContain(gw.config.dataDir);
    await rm(uploads);
    const fixed = await postForm(`${gw.url}/v1/images/edits`, gw.apiKey, parts);
    expect(fixed.status).toBe(200);
    // A spool folder removed while running is made again.
    await rm(uploads, { recursive: true, force: true });
    const again = await postForm(`${gw.url}/v1/images/edits`, gw.apiKey, parts);
    expect(again.status).toBe(200);
  });
});

describe("uploads on their way upstream", () => {
  it("are spooled to disk and gone once the submit is out", async () => {
    gw = await buildTestApp();
    const image = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(3 * mb + 1, 7),
    ]);
    const result = await gw.client.images.edit({
      model: "gpt-image-2",
      prompt: "p",
      image: [await toFile(image, "a.png"), await toFile(image, "b.png")],
    });
    expect(result.data).toHaveLength(1);
    const [submit] = gw.sim.submits;
    const references = await gw.sim.references(submit?.taskId ?? "");
    expect(references.map((reference) => reference.bytes.equals(image))).toEqual([true, true]);
    await vi.waitFor(async () => expect(await spooled(gw)).toEqual([]));
  });

  it("a submit body larger than the upstream takes is a 413 before anything is sent, and is not charged", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_UPSTREAM_MAX_BODY_MB: "1" } });
    const image = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(mb, 1),
    ]);
    const err = await apiError(
      gw.client.images.edit({
        model: "gpt-image-2",
        prompt: "p",
        image: await toFile(image, "a.png"),
      }),
    );
    expect(err.status).toBe(413);
    expect(err.code).toBe("request_too_large");
    expect(gw.sim.submits).toHaveLength(0);
    const usage = await gw.app.inject({
      method: "GET",
      url: `/admin/tenants/${gw.tenantId}/usage`,
      headers: { authorization: "Bearer test-admin-token-0123456789" },
    });
    expect(JSON.stringify(usage.json())).not.toMatch(/"images":[1-9]/);
    await vi.waitFor(async () => expect(await spooled(gw)).toEqual([]));
    // The credential's breaker saw nothing: the next request goes through.
    const ok = await gw.client.images.generate({ model: "gpt-image-2", prompt: "p" });
    expect(ok.data).toHaveLength(1);
  });
});

describe("upstream results", () => {
  it("a result past IMAGEGATE_MAX_RESULT_MB is a 502; nothing stays on disk and the task is failed (regression)", async () => {
    gw = await buildTestApp({
      env: { IMAGEGATE_MAX_RESULT_MB: "1" },
      sim: { imageBytes: 3 * mb },
    });
    const response = await gw.client.images
      .generate({ model: "gpt-image-2", prompt: "p", n: 2 })
      .withResponse()
      .catch((err: unknown) => err);
    expect(response).toBeInstanceOf(OpenAI.APIError);
    const err = response as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_result_too_large");
    const taskId = err.headers?.get("x-imagegate-task-id");
    expect(taskId).toBeTruthy();
    const images = await readdir(join(gw.config.dataDir, "images")).catch(() => []);
    expect(images).toEqual([]);
    await vi.waitFor(async () => {
      const task = await gw.app.inject({
        method: "GET",
        url: `/v1/images/tasks/${taskId}`,
        headers: { authorization: `Bearer ${gw.apiKey}` },
      });
      expect(task.json()).toMatchObject({ data: { status: "FAILURE" } });
    });
  });
});

describe("failures stay with their credential", () => {
  it("one tenant's failing upstream key opens its own breaker only (regression)", async () => {
    gw = await buildTestApp({ sim: { keys: ["sim-key", "tenant-a-key"] } });
    const a = await gw.createTenant({ name: "a", upstream_key: "tenant-a-key" });
    const clientA = gw.clientWith(a.apiKey);
    gw.sim.inject({ route: "submit", status: 500, body: { error: { message: "down" } }, times: 5 });
    for (let i = 0; i < 5; i++) {
      const err = await apiError(clientA.images.generate({ model: "nano-banana", prompt: "p" }));
      expect(err.status).toBe(502);
    }
    const open = await apiError(clientA.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(open.status).toBe(503);
    expect(open.code).toBe("upstream_unavailable");
    // Everyone else's credential is fine.
    const ok = await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(ok.data).toHaveLength(1);
  });
});
