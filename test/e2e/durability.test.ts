// Nothing lost, nothing paid twice: generations outlive the request that
// started them and the process that ran them; the async API serves them;
// retried requests (Idempotency-Key, or the SDK's own retries) join the
// generation they repeat instead of submitting again.
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../src/clock.js";
import { openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteGenerationRecords } from "../../src/stores/sqlite/generation-records.js";
import { apiError } from "../helpers/api-error.js";
import { shiftableClock } from "../helpers/clock.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

interface TaskAnswer {
  code: string;
  data: {
    task_id: string;
    status: string;
    progress: string;
    fail_reason?: string;
    result_url?: string;
    data?: { data: Array<{ url: string }> };
  };
}

async function api(
  path: string,
  init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${gw.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${init.key ?? gw.apiKey}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return response;
}

async function readTask(id: string, key?: string): Promise<TaskAnswer> {
  const response = await api(`/v1/images/tasks/${id}`, key === undefined ? {} : { key });
  expect(response.status).toBe(200);
  return (await response.json()) as TaskAnswer;
}

/** Waits (on the gateway's own answers, no fixed sleep) until the task is final. */
async function finalTask(id: string): Promise<TaskAnswer> {
  return vi.waitFor(
    async () => {
      const task = await readTask(id);
      if (task.data.status !== "SUCCESS" && task.data.status !== "FAILURE") {
        throw new Error(`still ${task.data.status}`);
      }
      return task;
    },
    { timeout: 15_000, interval: 50 },
  );
}

async function content(id: string, index = 0, key?: string) {
  return api(`/v1/images/tasks/${id}/content?index=${index}`, key === undefined ? {} : { key });
}

describe("a synchronous request that stops waiting does not abandon its task", () => {
  it("past IMAGEGATE_MAX_WAIT_MS: a 504 naming the gateway task, whose result is kept", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_WAIT_MS: "1000" } });
    const err = await apiError(
      gw.client.images.generate({ model: "nano-banana", prompt: "p [sim:duration=1500]" }),
    );
    expect(err.status).toBe(504);
    expect(err.code).toBe("generation_timeout");
    expect(err.headers?.get("x-should-retry")).toBe("false");
    const id = err.headers?.get("x-imagegate-task-id") ?? "";
    expect(id).toMatch(/^gen_/);
    expect(err.message).toContain(`GET /v1/images/tasks/${id}`);

    const task = await finalTask(id);
    expect(task.data.status).toBe("SUCCESS");
    const image = await content(id);
    expect(image.status).toBe(200);
    const upstreamTaskId = gw.sim.submits[0]?.taskId ?? "";
    expect(
      Buffer.from(await image.arrayBuffer()).equals(gw.sim.image(upstreamTaskId, 0).bytes),
    ).toBe(true);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("when the client disconnects, the task finishes and its result is recorded", async () => {
    gw = await buildTestApp();
    const abort = new AbortController();
    const call = gw.client.images
      .generate({ model: "nano-banana", prompt: "p [sim:duration=500]" }, { signal: abort.signal })
      .catch((err: unknown) => err);
    await gw.sim.waitForSubmits(1);
    abort.abort();
    expect(await call).toBeInstanceOf(Error);
    await vi.waitFor(
      async () => {
        const usage = await gw.app.inject({
          method: "GET",
          url: `/admin/tenants/${gw.tenantId}/usage`,
          headers: { authorization: "Bearer test-admin-token-0123456789" },
        });
        expect(usage.json().totals).toMatchObject({ succeeded: 1, images: 1 });
      },
      { timeout: 15_000, interval: 50 },
    );
  });
});

describe("the async API", () => {
  it("submits, reads and downloads with the gateway's own ids, scoped to the tenant", async () => {
    gw = await buildTestApp();
    const submitted = await api("/v1/images/generations/async", {
      method: "POST",
      body: { model: "nano-banana", prompt: "a banana [sim:duration=300]", n: 2 },
    });
    expect(submitted.status).toBe(200);
    const answer = (await submitted.json()) as { id: string; task_id: string; status: string };
    expect(answer.task_id).toMatch(/^gen_/);
    expect(answer.id).toBe(answer.task_id);
    const upstreamTaskId = gw.sim.submits[0]?.taskId ?? "";

    const task = await finalTask(answer.task_id);
    expect(task.data.status).toBe("SUCCESS");
    expect(task.data.progress).toBe("100%");
    const urls = task.data.data?.data.map((item) => item.url) ?? [];
    expect(urls).toEqual(
      [0, 1].map((i) => `${gw.url}/v1/images/tasks/${answer.task_id}/content?index=${i}`),
    );
    expect(JSON.stringify(task)).not.toContain(upstreamTaskId);
    for (const index of [0, 1]) {
      const image = await content(answer.task_id, index);
      expect(image.headers.get("content-type")).toBe("image/png");
      expect(
        Buffer.from(await image.arrayBuffer()).equals(gw.sim.image(upstreamTaskId, index).bytes),
      ).toBe(true);
    }
    expect((await content(answer.task_id, 2)).status).toBe(404);

    // Another tenant sees nothing, exactly as for a task that does not exist.
    const other = await gw.createTenant({ name: "other" });
    const foreign = await api(`/v1/images/tasks/${answer.task_id}`, { key: other.apiKey });
    const missing = await api("/v1/images/tasks/gen_doesnotexist00000000", { key: other.apiKey });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    const codeOf = async (response: Response) =>
      ((await response.json()) as { error: { code: string } }).error.code;
    expect(await codeOf(foreign)).toBe(await codeOf(missing));
    expect((await content(answer.task_id, 0, other.apiKey)).status).toBe(404);
  });

  it("reports a failed task with the upstream's reason, and refusals as the submit's error", async () => {
    gw = await buildTestApp();
    const submitted = await api("/v1/images/generations/async", {
      method: "POST",
      body: { model: "nano-banana", prompt: "p [sim:fail=upstream exploded]" },
    });
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    const task = await finalTask(id);
    expect(task.data.status).toBe("FAILURE");
    expect(task.data.fail_reason).toContain("upstream exploded");

    const unknown = await api("/v1/images/generations/async", {
      method: "POST",
      body: { model: "dall-e-9", prompt: "p" },
    });
    expect(unknown.status).toBe(404);
    expect(gw.sim.submits).toHaveLength(1);
  });
});

describe("a restart", () => {
  it("resumes the tasks left running and keeps their results, without submitting again", async () => {
    gw = await buildTestApp();
    const submitted = await api("/v1/images/generations/async", {
      method: "POST",
      body: { model: "nano-banana", prompt: "p [sim:duration=800]" },
    });
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    await gw.app.close();
    const stoppedAt = Date.now();
    await gw.restart();
    const task = await finalTask(id);
    expect(task.data.status).toBe("SUCCESS");
    expect((await content(id)).status).toBe(200);
    expect(gw.sim.submits).toHaveLength(1);
    // The result was fetched by the restarted gateway: the task was left running.
    const downloads = gw.sim.requests.filter((r) => r.route === "download");
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.at >= stoppedAt)).toBe(true);
  });

  it("fails a submit that was in flight rather than sending it twice", async () => {
    gw = await buildTestApp();
    const db = openStore(gw.config.dataDir);
    const ledger = createSqliteGenerationRecords(db, systemClock);
    const tenant = { id: gw.tenantId, imagesPerDay: null } as never;
    const id = await ledger.reserve({
      tenant,
      model: "gpt-image-2",
      requestedModel: "gpt-image-2",
      n: 1,
    });
    await ledger.reserved(id);
    db.close();
    await gw.restart();
    const task = await readTask(id);
    expect(task.data.status).toBe("FAILURE");
    expect(task.data.fail_reason).toContain("not resubmitted");
    expect(gw.sim.submits).toHaveLength(0);
  });
});

describe("retries never pay twice", () => {
  it("the same Idempotency-Key answers with the same generation; another body is a 409", async () => {
    gw = await buildTestApp();
    const body = { model: "nano-banana", prompt: "a banana", response_format: "b64_json" };
    const headers = { "idempotency-key": "order-42" };
    const first = await api("/v1/images/generations", { method: "POST", body, headers });
    const second = await api("/v1/images/generations", { method: "POST", body, headers });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers.get("x-imagegate-task-id")).toBe(
      first.headers.get("x-imagegate-task-id"),
    );
    type Images = { data: Array<{ b64_json: string }> };
    const [a, b] = [(await first.json()) as Images, (await second.json()) as Images];
    expect(b.data[0]?.b64_json).toBe(a.data[0]?.b64_json);
    expect(gw.sim.submits).toHaveLength(1);

    const conflict = await api("/v1/images/generations", {
      method: "POST",
      body: { ...body, prompt: "a cherry" },
      headers,
    });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("x-should-retry")).toBe("false");
    expect(((await conflict.json()) as { error: { code: string } }).error.code).toBe(
      "idempotency_key_reused",
    );

    // Concurrent requests with one new key: still one submit.
    const concurrent = await Promise.all(
      [1, 2, 3].map(() =>
        api("/v1/images/generations", {
          method: "POST",
          body: { ...body, prompt: "p [sim:duration=300]" },
          headers: { "idempotency-key": "order-43" },
        }),
      ),
    );
    expect(concurrent.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(gw.sim.submits).toHaveLength(2);
  });

  it("an SDK retry after its own timeout joins the first attempt's task", async () => {
    gw = await buildTestApp();
    const client = gw.clientWith(gw.apiKey, { maxRetries: 2, timeout: 500 });
    const result = await client.images.generate({
      model: "nano-banana",
      prompt: "slow [sim:duration=1200]",
    });
    expect(result.data).toHaveLength(1);
    // Attempts: the first times out at 0.5 s, the retries join its task.
    expect(gw.sim.submits).toHaveLength(1);
    const bytes = Buffer.from(result.data?.[0]?.b64_json ?? "", "base64");
    expect(bytes.equals(gw.sim.image(gw.sim.submits[0]?.taskId ?? "", 0).bytes)).toBe(true);
  });

  it("a request repeated without retry headers is a new generation", async () => {
    gw = await buildTestApp();
    const body = { model: "nano-banana", prompt: "same prompt" };
    await api("/v1/images/generations", { method: "POST", body });
    await api("/v1/images/generations", { method: "POST", body });
    expect(gw.sim.submits).toHaveLength(2);
  });

  it("an SDK retry never joins a generation another request is still waiting on (regression)", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one-at-a-time", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey, { maxRetries: 5 });
    const body = { model: "nano-banana", prompt: "same [sim:duration=300]" };
    // The second call is refused (concurrency) and retried by the SDK while
    // the first is still running: a separate request, not a retry of it.
    const [first, second] = await Promise.all([
      client.images.generate(body).withResponse(),
      client.images.generate(body).withResponse(),
    ]);
    const ids = [first, second].map((r) => r.response.headers.get("x-imagegate-task-id"));
    expect(ids[0]).not.toBe(ids[1]);
    expect(gw.sim.submits).toHaveLength(2);
  });

  it("an Idempotency-Key whose submit was refused (nothing charged) starts afresh (regression)", async () => {
    gw = await buildTestApp();
    const busy = { error: { message: "rate limited", type: "new_api_error", code: "rate_limit" } };
    gw.sim.inject({ route: "submit", status: 429, body: busy, times: 3 });
    const headers = { "idempotency-key": "order-44" };
    const body = { model: "nano-banana", prompt: "p" };
    const refused = await api("/v1/images/generations", { method: "POST", body, headers });
    expect(refused.status).toBe(429);
    const again = await api("/v1/images/generations", { method: "POST", body, headers });
    expect(again.status).toBe(200);
    const third = await api("/v1/images/generations", { method: "POST", body, headers });
    expect(third.headers.get("x-imagegate-task-id")).toBe(again.headers.get("x-imagegate-task-id"));
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("a late SDK retry still joins a generation started long ago that is still running (regression)", async () => {
    const clock = shiftableClock();
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_WAIT_MS: "1000" }, deps: { clock } });
    const client = gw.clientWith(gw.apiKey, { maxRetries: 3, timeout: 400 });
    const call = client.images.generate({
      model: "nano-banana",
      prompt: "slow [sim:duration=600]",
    });
    await gw.sim.waitForSubmits(1);
    // Far past the wait window by the gateway's clock: the retries must still
    // find the task by its state, not by when it started.
    clock.shift(300_000);
    const result = await call;
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("an SDK retry joins its own earlier generation even when an identical, newer one is attached to another request (regression)", async () => {
    gw = await buildTestApp();
    const body = { model: "nano-banana", prompt: "same [sim:duration=1200]" };
    const retrying = gw.clientWith(gw.apiKey, { maxRetries: 3, timeout: 500 });
    const patient = gw.clientWith(gw.apiKey);
    const first = retrying.images.generate(body);
    await gw.sim.waitForSubmits(1);
    const second = patient.images.generate(body);
    await gw.sim.waitForSubmits(2);
    // The first call times out and retries while the second (newer, same
    // body) is still attached: the retry must find the first generation.
    const [a, b] = await Promise.all([first, second]);
    expect(a.data).toHaveLength(1);
    expect(b.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(2);
  });
});
