// Every way a request can go wrong, as the OpenAI SDK sees it: the right
// APIError subclass, status, code and param, and nothing submitted (or paid
// twice) upstream.
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

/** The APIError a call ends in (fails the test if it succeeds). */

describe("caller mistakes", () => {
  it("401 without a key or with an unknown key", async () => {
    gw = await buildTestApp();
    const unknown = await apiError(
      gw.clientWith("ig_not-a-real-key").images.generate({ prompt: "p" }),
    );
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(unknown.code).toBe("invalid_api_key");

    const none = await fetch(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "p" }),
    });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({
      error: { type: "invalid_request_error", code: "invalid_api_key", param: null },
    });
    expect(gw.sim.submits).toHaveLength(0);
  });

  it.each([
    [{ model: "dall-e-3", prompt: "p", size: "999x999x" }, "size"],
    [{ model: "gpt-image-2", prompt: "p", size: "16:9" }, "size"],
    [{ model: "gpt-image-2", prompt: "p", quality: "4K" }, "quality"],
    [{ model: "nano-banana", prompt: "p", background: "transparent" }, "background"],
    [{ model: "dall-e-3", prompt: "p", n: 11 }, "n"],
    [{ model: "dall-e-3", prompt: "" }, "prompt"],
    [{ model: "dall-e-3", prompt: "p", response_format: "gif" }, "response_format"],
    [
      { model: "grok-imagine-image-lite", prompt: "p", image_url: "https://example.com/a.png" },
      "image_url",
    ],
    [{ model: "dall-e-3", prompt: "p", stream: "yes" }, "stream"],
  ])("400 naming the parameter, nothing submitted: %j", async (body, param) => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.generate(body as unknown as OpenAI.Images.ImageGenerateParamsNonStreaming),
    );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe(param);
    expect(err.type).toBe("invalid_request_error");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("400 for a missing prompt", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.generate({
        model: "dall-e-3",
      } as OpenAI.Images.ImageGenerateParamsNonStreaming),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe("prompt");
    expect(err.code).toBe("missing_required_parameter");
  });

  it("404 model_not_found for an unknown model, nothing submitted", async () => {
    gw = await buildTestApp();
    const err = await apiError(gw.client.images.generate({ model: "dall-e-4", prompt: "p" }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe("model_not_found");
    expect(err.param).toBe("model");
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("malformed JSON, a non-object body, oversized bodies and unknown routes get OpenAI errors", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_BODY_MB: "1" } });
    const post = (body: string, contentType = "application/json") =>
      fetch(`${gw.url}/v1/images/generations`, {
        method: "POST",
        headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": contentType },
        body,
      });
    const malformed = await post("{not json");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { type: "invalid_request_error" } });

    const array = await post("[1,2]");
    expect(array.status).toBe(400);

    const huge = await post(JSON.stringify({ prompt: "x".repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: "request_too_large" } });

    const form = await post("prompt=p", "application/x-www-form-urlencoded");
    expect(form.status).toBe(415);
    expect((await form.json()) as object).toHaveProperty("error.message");

    const text = await post("prompt=p", "text/plain");
    expect(text.status).toBe(400);

    const unknown = await fetch(`${gw.url}/v1/images/unknown`, {
      headers: { authorization: `Bearer ${gw.apiKey}` },
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "unknown_url" } });
    expect(unknown.headers.get("x-request-id")).toMatch(/^req_/);
    expect(gw.sim.submits).toHaveLength(0);
  });
});

describe("upstream outcomes", () => {
  it("a content-policy FAILURE is a 400 content_policy_violation with the upstream's reason", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.generate({
        model: "nano-banana",
        prompt: "p [sim:fail=Request blocked by safety system: PROHIBITED_CONTENT]",
      }),
    );
    expect(err.status).toBe(400);
    expect(err.code).toBe("content_policy_violation");
    expect(err.message).toContain("PROHIBITED_CONTENT");
  });

  it("another FAILURE is a 502 with the reason, and the SDK does not retry it", async () => {
    gw = await buildTestApp();
    const client = gw.clientWith(gw.apiKey, { maxRetries: 2 });
    const err = await apiError(
      client.images.generate({
        model: "gpt-image-2",
        prompt: "p [sim:fail=upstream worker crashed]",
      }),
    );
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_task_failed");
    expect(err.message).toContain("upstream worker crashed");
    expect(err.message).toContain(gw.sim.submits[0]?.taskId);
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(gw.sim.submits).toHaveLength(1);
  });

  it.each([
    [
      401,
      { error: { message: "invalid token", type: "new_api_error", code: "invalid_api_key" } },
      502,
      "upstream_authentication_failed",
    ],
    [
      403,
      {
        error: {
          message: "user quota is not enough",
          type: "new_api_error",
          code: "insufficient_user_quota",
        },
      },
      429,
      "upstream_insufficient_quota",
    ],
    [
      403,
      {
        error: {
          message: "pre consume failed",
          type: "new_api_error",
          code: "pre_consume_token_quota_failed",
        },
      },
      429,
      "upstream_insufficient_quota",
    ],
    [
      403,
      { error: { message: "model not allowed", type: "new_api_error", code: "access_denied" } },
      403,
      "upstream_permission_denied",
    ],
    [
      503,
      { error: { message: "no channel", type: "new_api_error", code: "model_not_found" } },
      503,
      "model_unavailable",
    ],
    [
      413,
      { error: { message: "too large", type: "new_api_error", code: "" } },
      413,
      "request_too_large",
    ],
  ])("an upstream submit refusal %i keeps its meaning", async (status, body, expected, code) => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "submit", status, body });
    const err = await apiError(gw.client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(err.status).toBe(expected);
    expect(err.code).toBe(code);
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a submit whose answer is lost is not sent again, by the gateway or the SDK", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "submit", destroy: true, passThrough: true });
    const client = gw.clientWith(gw.apiKey, { maxRetries: 2 });
    const err = await apiError(client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_submit_unconfirmed");
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("an upstream 429 on submit is retried briefly, then passed on with retry-after", async () => {
    gw = await buildTestApp();
    const busy = { error: { message: "rate limited", type: "new_api_error", code: "rate_limit" } };
    gw.sim.inject({ route: "submit", status: 429, body: busy, times: 3 });
    const err = await apiError(gw.client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.headers?.get("retry-after")).toMatch(/^\d+$/);
    expect(gw.sim.requests.filter((r) => r.route === "submit")).toHaveLength(3);
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("a single upstream 429 on submit is absorbed", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "submit", status: 429, body: { error: { message: "slow down" } } });
    const result = await gw.client.images.generate({ model: "dall-e-3", prompt: "p" });
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("transient read errors are retried with backoff", async () => {
    gw = await buildTestApp();
    gw.sim.inject({ route: "read", status: 500, rawBody: "<html>bad gateway</html>", times: 2 });
    const result = await gw.client.images.generate({ model: "nano-banana", prompt: "p" });
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });

  it("a task the upstream lost ends in a 502 naming the task", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.generate({ model: "dall-e-3", prompt: "p [sim:lose]" }),
    );
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_task_lost");
    expect(err.message).toContain(gw.sim.submits[0]?.taskId);
    expect(err.headers?.get("x-should-retry")).toBe("false");
  });

  it("a result that cannot be downloaded ends in a 502 naming the task", async () => {
    gw = await buildTestApp();
    const err = await apiError(
      gw.client.images.generate({ model: "dall-e-3", prompt: "p [sim:expire]" }),
    );
    expect(err.status).toBe(502);
    expect(err.code).toBe("upstream_result_unavailable");
    expect(err.message).toContain(gw.sim.submits[0]?.taskId);
  });

  it("a wait longer than IMAGEGATE_MAX_WAIT_MS ends in a 504 naming the task", async () => {
    gw = await buildTestApp({ env: { IMAGEGATE_MAX_WAIT_MS: "1000" } });
    const started = Date.now();
    const err = await apiError(
      gw.client.images.generate({ model: "gpt-image-2", prompt: "p [sim:duration=600000]" }),
    );
    expect(err.status).toBe(504);
    expect(err.code).toBe("generation_timeout");
    expect(err.message).toContain(gw.sim.submits[0]?.taskId);
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("an unreachable upstream is a 503 and nothing was submitted", async () => {
    gw = await buildTestApp();
    await gw.sim.close();
    const err = await apiError(gw.client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(err.status).toBe(503);
    expect(err.code).toBe("upstream_unreachable");
  });
});
