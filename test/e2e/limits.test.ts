// Per-tenant limits through the OpenAI SDK: requests per minute, concurrent
// generations, and the model allowlist.
import OpenAI from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

describe("tenant limits", () => {
  it("rpm: the request past the limit is a 429 with retry-after; another tenant is unaffected", async () => {
    gw = await buildTestApp();
    const limited = await gw.createTenant({ name: "small", rpm: 2 });
    const client = gw.clientWith(limited.apiKey);
    const first = await client.images
      .generate({ model: "nano-banana", prompt: "p" })
      .withResponse();
    expect(first.response.headers.get("x-ratelimit-limit-requests")).toBe("2");
    expect(first.response.headers.get("x-ratelimit-remaining-requests")).toBe("1");
    expect(first.response.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+s$/);
    await client.images.generate({ model: "nano-banana", prompt: "p" });
    const err = await apiError(client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe("rate_limit_exceeded");
    expect(Number(err.headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(gw.sim.submits).toHaveLength(2);

    // The default tenant (no rpm) keeps going.
    for (let i = 0; i < 3; i++) {
      await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    }
    expect(gw.sim.submits).toHaveLength(5);
  });

  it("max_concurrent: the excess is a 429 at once; a caller that hangs up keeps its slot until its task ends (regression)", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one-at-a-time", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey);

    const responseClosed = new Promise<void>((resolve) => {
      gw.app.server.once("request", (_req, res) => res.once("close", () => resolve()));
    });
    const abort = new AbortController();
    const slow = client.images
      .generate(
        { model: "gpt-image-2", prompt: "slow [sim:duration=1000]" },
        { signal: abort.signal },
      )
      .catch((err: unknown) => err);
    await gw.sim.waitForSubmits(1);

    const second = await apiError(client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(second.status).toBe(429);
    expect(second.code).toBe("concurrency_limit_exceeded");
    expect(gw.sim.submits).toHaveLength(1);

    // The caller leaves; its upstream task goes on and still counts.
    abort.abort();
    expect(await slow).toBeInstanceOf(Error);
    await responseClosed;
    const whileRunning = await apiError(
      client.images.generate({ model: "nano-banana", prompt: "p" }),
    );
    expect(whileRunning.code).toBe("concurrency_limit_exceeded");
    expect(gw.sim.submits).toHaveLength(1);

    // Once the task is final the slot is free again.
    const third = await vi.waitFor(
      () => client.images.generate({ model: "nano-banana", prompt: "p" }),
      { timeout: 15_000, interval: 100 },
    );
    expect(third.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(2);
  });

  it("max_concurrent bounds upstream tasks: callers that hang up cannot start more (regression)", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "two", max_concurrent: 2 });
    const client = gw.clientWith(tenant.apiKey);
    const outcomes: unknown[] = [];
    for (let i = 0; i < 10; i++) {
      const abort = new AbortController();
      const submitsBefore = gw.sim.submits.length;
      const call = client.images
        .generate(
          { model: "gpt-image-2", prompt: `task ${i} [sim:duration=20000]` },
          { signal: abort.signal },
        )
        .catch((err: unknown) => err);
      // Each caller hangs up as soon as its task is submitted.
      const settled = await Promise.race([
        call,
        gw.sim.waitForSubmits(submitsBefore + 1).then(() => undefined),
      ]);
      abort.abort();
      outcomes.push(settled ?? (await call));
    }
    expect(gw.sim.submits).toHaveLength(2);
    const refused = outcomes.filter(
      (outcome) => outcome instanceof OpenAI.APIError && outcome.status === 429,
    );
    expect(refused).toHaveLength(8);
  });

  it("max_concurrent: a task resumed after a restart still holds its slot", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey);
    const submitted = await fetch(`${gw.url}/v1/images/generations/async`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-image-2", prompt: "long [sim:duration=30000]" }),
    });
    expect(submitted.status).toBe(200);
    await gw.restart();
    const err = await apiError(client.images.generate({ model: "nano-banana", prompt: "p" }));
    expect(err.code).toBe("concurrency_limit_exceeded");
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("max_concurrent: a failed request frees its slot too", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "one", max_concurrent: 1 });
    const client = gw.clientWith(tenant.apiKey);
    await apiError(client.images.generate({ model: "nano-banana", prompt: "p [sim:fail=boom]" }));
    const ok = await client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(ok.data).toHaveLength(1);
  });

  it("models: a model outside the allowlist is a 403 and nothing is submitted", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "bananas-only", models: ["nano-banana"] });
    const client = gw.clientWith(tenant.apiKey);
    const err = await apiError(client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.code).toBe("model_not_allowed");
    expect(err.param).toBe("model");
    expect(gw.sim.submits).toHaveLength(0);
    // The same upstream model under its id is allowed.
    const ok = await client.images.generate({
      model: "gemini-3.1-flash-image-preview",
      prompt: "p",
    });
    expect(ok.data).toHaveLength(1);
  });
});
