// Bad input never hurts: malformed, oversized, wrongly typed and hostile
// bodies and headers at every public route each get a 4xx OpenAI error, the
// process stays up, and nothing reaches the upstream. Inputs come from a
// seeded generator, so a failure reproduces.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../src/simulator/task-mix.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
beforeAll(async () => {
  gw = await buildTestApp({ env: { IMAGEGATE_MAX_BODY_MB: "1", IMAGEGATE_MAX_UPLOAD_MB: "1" } });
});
afterAll(async () => {
  await gw?.close();
});

const random = seededRandom(20261126);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

const hostileValues: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -0,
  3.5,
  "",
  " ",
  "a".repeat(40_000),
  "\u0000\uffff\ud800",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "constructor",
  "__proto__",
  [],
  [1, 2, 3],
  {},
  { __proto__: { polluted: true } },
  { constructor: { prototype: { polluted: true } } },
  Array.from({ length: 20 }, () => "https://example.com/a.png"),
];

const fields = [
  "prompt",
  "model",
  "n",
  "size",
  "quality",
  "response_format",
  "style",
  "user",
  "background",
  "moderation",
  "output_format",
  "output_compression",
  "stream",
  "partial_images",
  "image_url",
  "extra_body",
  "images",
  "mask",
];

/** A body that is wrong in at least one field (the prompt is always present but maybe bad). */
function wrongBody(): unknown {
  const body: Record<string, unknown> = { prompt: "p [sim:duration=0]", model: "gpt-image-2" };
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) body[pick(fields)] = pick(hostileValues);
  // Make sure it is wrong: a field no model takes a value like this for.
  body[pick(["n", "size", "quality", "response_format", "output_compression", "prompt"])] = pick([
    -1,
    "",
    [],
    {},
    "a".repeat(40_000),
    0,
  ]);
  return body;
}

function deepJson(depth: number): string {
  return `${"[".repeat(depth)}${"]".repeat(depth)}`;
}

const rawBodies: Array<{ contentType: string; payload: string | Buffer }> = [
  { contentType: "application/json", payload: "{" },
  { contentType: "application/json", payload: '{"prompt": "p",}' },
  { contentType: "application/json", payload: "null" },
  { contentType: "application/json", payload: "[]" },
  { contentType: "application/json", payload: '"just a string"' },
  { contentType: "application/json", payload: deepJson(100_000) },
  { contentType: "application/json", payload: '{"__proto__": {"admin": true}, "prompt": "p"}' },
  { contentType: "application/json", payload: '{"constructor": {"prototype": {"x": 1}}}' },
  { contentType: "application/json", payload: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) },
  { contentType: "application/json", payload: `{"prompt": "${"x".repeat(2_000_000)}"}` },
  { contentType: "text/plain", payload: "prompt=p" },
  { contentType: "application/x-www-form-urlencoded", payload: "prompt=p&model=dall-e-3" },
  { contentType: "multipart/form-data", payload: "no boundary" },
  { contentType: "multipart/form-data; boundary=X", payload: "--X\r\ngarbage" },
  {
    contentType: "multipart/form-data; boundary=X",
    payload:
      '--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nnot a png\r\n--X--\r\n',
  },
  {
    contentType: "multipart/form-data; boundary=X",
    payload: '--X\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\n{}\r\n--X--\r\n',
  },
  { contentType: "image/png", payload: Buffer.from([0x89, 0x50, 0x4e, 0x47]) },
];

const postRoutes = [
  "/v1/images/generations",
  "/v1/images/edits",
  "/v1/images/variations",
  "/v1/images/generations/async",
];

const badAuthorizations = [
  undefined,
  "",
  "Bearer",
  "Bearer ",
  "Basic dXNlcjpwYXNz",
  `Bearer ${"k".repeat(10_000)}`,
  "Bearer ig_\u00ff\u00fe",
  "Bearer ig_short",
];

function expectOpenAiError(status: number, body: string, what: string): void {
  expect(status, what).toBeGreaterThanOrEqual(400);
  expect(status, what).toBeLessThan(500);
  const parsed = JSON.parse(body) as { error?: Record<string, unknown> };
  expect(parsed.error, what).toBeDefined();
  expect(typeof parsed.error?.message, what).toBe("string");
  expect(typeof parsed.error?.type, what).toBe("string");
  expect("param" in (parsed.error ?? {}), what).toBe(true);
  expect("code" in (parsed.error ?? {}), what).toBe(true);
}

describe("fuzz", () => {
  it("wrongly typed and hostile JSON bodies on every image route", async () => {
    for (let i = 0; i < 300; i++) {
      const url = pick(postRoutes);
      const body = wrongBody();
      const response = await gw.app.inject({
        method: "POST",
        url,
        headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": "application/json" },
        payload: JSON.stringify(body),
      });
      expectOpenAiError(
        response.statusCode,
        response.body,
        `${url} ${JSON.stringify(body).slice(0, 300)}`,
      );
    }
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("malformed, oversized and mistyped raw bodies", async () => {
    for (const url of postRoutes) {
      for (const { contentType, payload } of rawBodies) {
        const response = await gw.app.inject({
          method: "POST",
          url,
          headers: { authorization: `Bearer ${gw.apiKey}`, "content-type": contentType },
          payload,
        });
        expectOpenAiError(
          response.statusCode,
          response.body,
          `${url} ${contentType} ${String(payload).slice(0, 80)}`,
        );
      }
    }
    expect(gw.sim.submits).toHaveLength(0);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("hostile headers: authorization, idempotency keys, retry counts, methods", async () => {
    const routes = [
      ...postRoutes.map((url) => ({ method: "POST" as const, url })),
      { method: "GET" as const, url: "/v1/models" },
      { method: "GET" as const, url: "/v1/models/dall-e-3" },
      { method: "GET" as const, url: "/v1/images/tasks/gen_x" },
      { method: "GET" as const, url: "/v1/images/tasks/gen_x/content?index=-1" },
    ];
    for (const route of routes) {
      for (const authorization of badAuthorizations) {
        const response = await gw.app.inject({
          ...route,
          headers: authorization === undefined ? {} : { authorization },
          payload: route.method === "POST" ? { prompt: "p" } : undefined,
        });
        expect(response.statusCode, `${route.url} ${authorization?.slice(0, 20)}`).toBe(401);
        expectOpenAiError(response.statusCode, response.body, route.url);
      }
    }
    for (const idempotencyKey of ["", " ", "\u00e9", "k".repeat(300)]) {
      const response = await gw.app.inject({
        method: "POST",
        url: "/v1/images/generations",
        headers: { authorization: `Bearer ${gw.apiKey}`, "idempotency-key": idempotencyKey },
        payload: { prompt: "p", model: "no-such-model" },
      });
      expectOpenAiError(
        response.statusCode,
        response.body,
        `idempotency-key ${idempotencyKey.length}`,
      );
    }
    for (const retryCount of ["-1", "NaN", "1e999", "999999999999"]) {
      const response = await gw.app.inject({
        method: "POST",
        url: "/v1/images/generations",
        headers: { authorization: `Bearer ${gw.apiKey}`, "x-stainless-retry-count": retryCount },
        payload: { prompt: "p", n: 0 },
      });
      expectOpenAiError(response.statusCode, response.body, `retry-count ${retryCount}`);
    }
    for (const method of ["PUT", "DELETE", "PATCH"] as const) {
      const response = await gw.app.inject({
        method,
        url: "/v1/images/generations",
        headers: { authorization: `Bearer ${gw.apiKey}` },
      });
      expectOpenAiError(response.statusCode, response.body, method);
    }
    expect(gw.sim.submits).toHaveLength(0);
  });

  it("hostile file URLs and admin calls", async () => {
    const files = [
      "/files/images/..%2F..%2Fimagegate.db?expires=9999999999&signature=x",
      "/files/images/%00.png",
      "/files/images/AAAAAAAAAAAAAAAAAAAAAA.png",
      "/files/images/AAAAAAAAAAAAAAAAAAAAAA.png?expires=-1&signature=",
      `/files/images/AAAAAAAAAAAAAAAAAAAAAA.png?expires=${"9".repeat(400)}&signature=${"A".repeat(5000)}`,
    ];
    for (const url of files) {
      const response = await gw.app.inject({ method: "GET", url });
      expectOpenAiError(response.statusCode, response.body, url);
    }
    const admin = [
      { method: "POST" as const, url: "/admin/tenants", payload: { name: "" } },
      { method: "POST" as const, url: "/admin/tenants", payload: { name: "x", rpm: -5 } },
      { method: "POST" as const, url: "/admin/tenants", payload: { name: "x", models: ["nope"] } },
      {
        method: "PATCH" as const,
        url: `/admin/tenants/${gw.tenantId}`,
        payload: { disabled: "yes" },
      },
      { method: "GET" as const, url: `/admin/tenants/${gw.tenantId}/usage?from=2026-13-45` },
      { method: "DELETE" as const, url: `/admin/tenants/${gw.tenantId}/keys/%2e%2e` },
    ];
    for (const call of admin) {
      for (const authorization of [`Bearer ${adminToken}`, `Bearer ${gw.apiKey}`, undefined]) {
        const response = await gw.app.inject({
          ...call,
          headers: authorization === undefined ? {} : { authorization },
        });
        expectOpenAiError(response.statusCode, response.body, `${call.method} ${call.url}`);
      }
    }
  });

  it("the process is still up and serving afterwards", async () => {
    expect((await gw.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    const result = await gw.client.images.generate({ model: "nano-banana", prompt: "still fine" });
    expect(result.data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(1);
  });
});
