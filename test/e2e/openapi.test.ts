// Issue 15: the OpenAPI 3.1 document at GET /openapi.json, generated from the
// zod schemas the handlers parse with, and its docs page at /docs. The
// document must be valid, name every route the gateway serves (but the pages
// listed below), take its bodies from the very zod schemas, and describe what
// the routes really answer: real answers are checked against it.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { builtInModelMap } from "../../src/catalog/model-map.js";
import { createChannelSchema } from "../../src/channels/settings.js";
import { errorCatalogue, isErrorCode } from "../../src/errors.js";
import { routesOf } from "../../src/http/openapi.js";
import { errorResponseSchema } from "../../src/http/openapi-schemas.js";
import { editJsonSchema, imageRequestSchema } from "../../src/http/schemas.js";
import { issueKeySchema } from "../../src/tenancy/keys.js";
import { tenantSchemas, tenantSettings } from "../../src/tenancy/settings.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

type Json = Record<string, unknown>;
interface Operation extends Json {
  operationId?: string;
  summary?: string;
  security?: Array<Record<string, string[]>>;
  requestBody?: { required: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

/**
 * Routes the document leaves out, on purpose: HEAD twins of GET routes, the
 * docs page and its assets, the document itself, the operator console.
 */
const notInTheDocument = [
  /^HEAD /,
  /^GET \/docs(\/|$)/,
  /^GET \/openapi\.json$/,
  /^GET \/console(\/|$)/,
];

let gw: TestGateway;
let doc: Document;
const admin = { authorization: `Bearer ${adminToken}` };

beforeAll(async () => {
  gw = await buildTestApp();
  const response = await fetch(`${gw.url}/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  doc = (await response.json()) as Document;
});
afterAll(async () => {
  await gw?.close();
});

/** `/v1/models/:model` → `/v1/models/{model}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

function operation(method: string, url: string): Operation {
  const found = doc.paths[openApiPath(url)]?.[method.toLowerCase()];
  if (found === undefined) throw new Error(`${method} ${url} is not in the document`);
  return found;
}

/** A zod schema as the document must hold it (what the gateway generates it with). */
const asJson = (schema: z.ZodType, io: "input" | "output") => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io });
  return rest;
};

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

/** The document's schema of this answer (its `$ref`s resolved against the components). */
function answerSchema(method: string, url: string, status: number, type = "application/json") {
  const answer = operation(method, url).responses[String(status)];
  if (answer === undefined) throw new Error(`${method} ${url} does not document ${status}`);
  const schema = answer.content?.[type]?.schema;
  if (schema === undefined) throw new Error(`${method} ${url} ${status} has no ${type} body`);
  return { ...schema, $defs: { components: doc.components.schemas } } as Json;
}

/** Fails unless the body is what the document says this route answers with this status. */
function expectDocumented(method: string, url: string, status: number, body: unknown): void {
  const schema = answerSchema(method, url, status);
  // `$ref: #/components/schemas/X` read as `#/$defs/components/X`.
  const text = JSON.stringify(schema).replaceAll("#/components/schemas/", "#/$defs/components/");
  const validate = ajv.compile(JSON.parse(text));
  const valid = validate(body);
  expect(
    valid ? [] : validate.errors,
    `${method} ${url} → ${status}: ${JSON.stringify(body).slice(0, 300)}`,
  ).toEqual([]);
}

async function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: unknown; type: string | null }> {
  const response = await fetch(`${gw.url}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const type = response.headers.get("content-type");
  const body = type?.startsWith("application/json")
    ? await response.json()
    : await response.arrayBuffer();
  return { status: response.status, body, type };
}

describe("the document", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(doc as unknown as Json);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");
  });

  it("names the gateway, its version and its public URL", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(doc.info.title).toBe("imagegate");
    expect(doc.info.version).toBe(pkg.version);
    expect(doc.servers).toEqual([{ url: gw.url }]);
  });

  it("documents every route the gateway serves, but the pages it leaves out on purpose", () => {
    const served = routesOf(gw.app).map((route) => `${route.method} ${route.url}`);
    expect(served).toContain("POST /v1/images/generations");
    expect(served).toContain("POST /admin/tenants");
    const api = served.filter((route) => !notInTheDocument.some((page) => page.test(route)));
    const missing = api.filter((route) => {
      const [method = "", url = ""] = route.split(" ");
      const found = doc.paths[openApiPath(url)]?.[method.toLowerCase()];
      // Documented: a summary, and an answer described (not @fastify/swagger's placeholder).
      return (
        found?.summary === undefined ||
        found.operationId === undefined ||
        Object.values(found.responses).some((answer) => answer.description === "Default Response")
      );
    });
    expect(missing).toEqual([]);

    // Nothing else: the document holds the routes served, and none of the pages left out.
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      [...new Set(api.map((route) => route.replace(/:([A-Za-z0-9_]+)/g, "{$1}")))].sort(),
    );
    const ids = Object.values(doc.paths).flatMap((item) =>
      Object.values(item).map((op) => op.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("takes the generations body from the schema the handler parses with", () => {
    const body = operation("POST", "/v1/images/generations").requestBody;
    const schema = body?.content["application/json"]?.schema as Json;
    expect(body?.required).toBe(true);
    expect(schema.required).toEqual(["prompt"]);
    const responseFormat = (schema.properties as Record<string, { anyOf: Json[] }>).response_format;
    expect(responseFormat?.anyOf).toContainEqual({ type: "string", enum: ["url", "b64_json"] });
    expect(schema).toEqual(asJson(imageRequestSchema, "input"));
    // The async submit takes the same body; edits as JSON take theirs.
    expect(
      operation("POST", "/v1/images/generations/async").requestBody?.content["application/json"]
        ?.schema,
    ).toEqual(asJson(imageRequestSchema, "input"));
    expect(
      operation("POST", "/v1/images/edits").requestBody?.content["application/json"]?.schema,
    ).toEqual(asJson(editJsonSchema, "input"));
  });

  it("documents edits and variations as multipart forms, with their files", () => {
    const edit = operation("POST", "/v1/images/edits").requestBody?.content["multipart/form-data"]
      ?.schema as { properties: Record<string, Json>; required: string[] };
    expect(edit.required).toEqual(expect.arrayContaining(["prompt", "image"]));
    expect(JSON.stringify(edit.properties.image)).toContain('"format":"binary"');
    expect(edit.properties.mask).toMatchObject({ type: "string", format: "binary" });
    const variation = operation("POST", "/v1/images/variations").requestBody?.content;
    expect(Object.keys(variation ?? {})).toEqual(["multipart/form-data"]);
  });

  it("takes the admin bodies from the tenancy's and the channels' own schemas", () => {
    const create = operation("POST", "/admin/tenants").requestBody?.content["application/json"]
      ?.schema as Json;
    expect(create).toEqual(asJson(tenantSchemas(builtInModelMap).create, "input"));
    // Derived from the settings table: each setting a tenant is created with is a field.
    expect(Object.keys(create.properties as Json)).toEqual(
      tenantSettings
        .filter((s) => !("onCreate" in s) || s.onCreate !== "never")
        .map((s) => s.field),
    );
    expect(create.additionalProperties).toBe(false);
    expect(
      operation("PATCH", "/admin/tenants/:id").requestBody?.content["application/json"]?.schema,
    ).toEqual(asJson(tenantSchemas(builtInModelMap).update, "input"));
    const issue = operation("POST", "/admin/tenants/:id/keys").requestBody;
    expect(issue?.required).toBe(false);
    expect(issue?.content["application/json"]?.schema).toEqual(asJson(issueKeySchema, "input"));
    expect(
      operation("POST", "/admin/channels").requestBody?.content["application/json"]?.schema,
    ).toEqual(asJson(createChannelSchema, "input"));
  });

  it("documents each route's errors in OpenAI's shape, by the catalogue's statuses", () => {
    expect(doc.components.schemas.ErrorResponse).toEqual(asJson(errorResponseSchema, "output"));
    const generations = operation("POST", "/v1/images/generations").responses;
    for (const status of ["400", "401", "403", "404", "409", "413", "429", "500", "502", "503"]) {
      expect(generations[status]?.content?.["application/json"]?.schema).toEqual({
        $ref: "#/components/schemas/ErrorResponse",
      });
    }
    expect(generations["400"]?.description).toContain("`invalid_type`");
    expect(generations["503"]?.description).toContain("`upstream_busy`");
    expect(operation("GET", "/admin/tenants/:id").responses["404"]?.description).toContain(
      "`tenant_not_found`",
    );

    // Every code named is the catalogue's, under the status the catalogue gives it.
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.responses["500"], `${method} ${path}`).toBeDefined();
        for (const [status, answer] of Object.entries(op.responses)) {
          if (Number(status) < 400 || path === "/readyz") continue;
          const codes = [...answer.description.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
          expect(codes.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
          for (const code of codes) {
            expect(isErrorCode(code), code).toBe(true);
            if (isErrorCode(code)) expect(errorCatalogue[code].status).toBe(Number(status));
          }
        }
      }
    }
  });

  it("declares who may call what", () => {
    const schemes = doc.components.securitySchemes;
    for (const name of ["tenantKey", "adminToken", "metricsToken"]) {
      expect(schemes[name]).toMatchObject({ type: "http", scheme: "bearer" });
    }
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const expected = path.startsWith("/v1/")
          ? [{ tenantKey: [] }]
          : path.startsWith("/admin/")
            ? [{ adminToken: [] }]
            : path === "/metrics"
              ? [{ metricsToken: [] }, { adminToken: [] }]
              : [];
        expect(op.security, `${method} ${path}`).toEqual(expected);
        if (expected.length > 0) expect(op.responses["401"], `${method} ${path}`).toBeDefined();
      }
    }
  });
});

describe("the answers are the ones documented", () => {
  const tenant = () => ({ authorization: `Bearer ${gw.apiKey}` });

  it("images, tasks, files and models", async () => {
    const url = await call("POST", "/v1/images/generations", {
      headers: tenant(),
      body: { model: "dall-e-2", prompt: "a banana" },
    });
    expect(url.status).toBe(200);
    expectDocumented("POST", "/v1/images/generations", 200, url.body);
    const b64 = await call("POST", "/v1/images/generations", {
      headers: tenant(),
      body: { model: "dall-e-3", prompt: "a banana", response_format: "b64_json" },
    });
    expect(b64.status).toBe(200);
    expectDocumented("POST", "/v1/images/generations", 200, b64.body);

    const file = await call(
      "GET",
      (url.body as { data: [{ url: string }] }).data[0].url.slice(gw.url.length),
    );
    expect(file.status).toBe(200);
    expect(
      Object.keys(operation("GET", "/files/images/:id").responses["200"]?.content ?? {}),
    ).toContain(file.type);

    const submitted = await call("POST", "/v1/images/generations/async", {
      headers: tenant(),
      body: { model: "nano-banana", prompt: "a banana" },
    });
    expectDocumented("POST", "/v1/images/generations/async", 200, submitted.body);
    const id = (submitted.body as { id: string }).id;
    await vi.waitFor(
      async () => {
        const state = await call("GET", `/v1/images/tasks/${id}`, { headers: tenant() });
        expectDocumented("GET", "/v1/images/tasks/:id", 200, state.body);
        expect((state.body as { data: { status: string } }).data.status).toBe("SUCCESS");
      },
      { timeout: 10_000, interval: 20 },
    );
    const content = await call("GET", `/v1/images/tasks/${id}/content?index=0`, {
      headers: tenant(),
    });
    expect(content.status).toBe(200);
    expect(
      Object.keys(operation("GET", "/v1/images/tasks/:id/content").responses["200"]?.content ?? {}),
    ).toContain(content.type);

    const models = await call("GET", "/v1/models", { headers: tenant() });
    expectDocumented("GET", "/v1/models", 200, models.body);
    expectDocumented(
      "GET",
      "/v1/models/:model",
      200,
      (await call("GET", "/v1/models/dall-e-3", { headers: tenant() })).body,
    );
  });

  it("errors, in the shape and under the statuses documented", async () => {
    const unknown = await call("GET", "/v1/models/no-such-model", { headers: tenant() });
    expect(unknown.status).toBe(404);
    expectDocumented("GET", "/v1/models/:model", 404, unknown.body);
    const noKey = await call("GET", "/v1/models");
    expectDocumented("GET", "/v1/models", 401, noKey.body);
    const noTask = await call("GET", "/v1/images/tasks/nope", { headers: tenant() });
    expectDocumented("GET", "/v1/images/tasks/:id", 404, noTask.body);
    const invalid = await call("POST", "/v1/images/generations", {
      headers: tenant(),
      body: { prompt: "" },
    });
    expectDocumented("POST", "/v1/images/generations", 400, invalid.body);
  });

  it("the operator's tenants, keys and usage", async () => {
    const created = await call("POST", "/admin/tenants", {
      headers: admin,
      body: { name: "documented", rpm: 60, models: ["dall-e-3"] },
    });
    expect(created.status).toBe(201);
    expectDocumented("POST", "/admin/tenants", 201, created.body);
    const id = (created.body as { id: string }).id;
    expectDocumented(
      "GET",
      "/admin/tenants",
      200,
      (await call("GET", "/admin/tenants", { headers: admin })).body,
    );
    expectDocumented(
      "GET",
      "/admin/tenants/:id",
      200,
      (await call("GET", `/admin/tenants/${id}`, { headers: admin })).body,
    );
    const patched = await call("PATCH", `/admin/tenants/${id}`, {
      headers: admin,
      body: { rpm: null, images_per_day: 10 },
    });
    expectDocumented("PATCH", "/admin/tenants/:id", 200, patched.body);

    // The key body may be left out, as documented.
    const issued = await fetch(`${gw.url}/admin/tenants/${id}/keys`, {
      method: "POST",
      headers: admin,
    });
    expect(issued.status).toBe(201);
    const key = (await issued.json()) as { id: string };
    expectDocumented("POST", "/admin/tenants/:id/keys", 201, key);
    expectDocumented(
      "GET",
      "/admin/tenants/:id/keys",
      200,
      (await call("GET", `/admin/tenants/${id}/keys`, { headers: admin })).body,
    );
    const revoked = await call("DELETE", `/admin/tenants/${id}/keys/${key.id}`, { headers: admin });
    expectDocumented("DELETE", "/admin/tenants/:id/keys/:keyId", 200, revoked.body);
    const usage = await call("GET", `/admin/tenants/${gw.tenantId}/usage`, { headers: admin });
    expectDocumented("GET", "/admin/tenants/:id/usage", 200, usage.body);
    expectDocumented(
      "GET",
      "/admin/models",
      200,
      (await call("GET", "/admin/models", { headers: admin })).body,
    );

    const missing = await call("GET", "/admin/tenants/nope", { headers: admin });
    expectDocumented("GET", "/admin/tenants/:id", 404, missing.body);
  });

  it("the operator's channels", async () => {
    const created = await call("POST", "/admin/channels", {
      headers: admin,
      body: { name: "documented", base_url: gw.sim.url, api_key: "sim-key", enabled: false },
    });
    expect(created.status).toBe(201);
    expectDocumented("POST", "/admin/channels", 201, created.body);
    const id = (created.body as { id: string }).id;
    expectDocumented(
      "GET",
      "/admin/channels",
      200,
      (await call("GET", "/admin/channels", { headers: admin })).body,
    );
    expectDocumented(
      "GET",
      "/admin/channels/:id",
      200,
      (await call("GET", `/admin/channels/${id}`, { headers: admin })).body,
    );
    const patched = await call("PATCH", `/admin/channels/${id}`, {
      headers: admin,
      body: { weight: 0 },
    });
    expectDocumented("PATCH", "/admin/channels/:id", 200, patched.body);
    const usage = await call("GET", `/admin/channels/${id}/usage`, { headers: admin });
    expectDocumented("GET", "/admin/channels/:id/usage", 200, usage.body);
    const deleted = await call("DELETE", `/admin/channels/${id}`, { headers: admin });
    expectDocumented("DELETE", "/admin/channels/:id", 200, deleted.body);
  });

  it("the operator's generations and status", async () => {
    const made = await fetch(`${gw.url}/v1/images/generations`, {
      method: "POST",
      headers: { ...tenant(), "content-type": "application/json" },
      body: JSON.stringify({ model: "nano-banana", prompt: "a banana" }),
    });
    expect(made.status).toBe(200);
    await made.arrayBuffer();
    const id = made.headers.get("x-imagegate-task-id") ?? "";
    const list = await call("GET", "/admin/generations?limit=2", { headers: admin });
    expectDocumented("GET", "/admin/generations", 200, list.body);
    const one = await call("GET", `/admin/generations/${id}`, { headers: admin });
    expect(one.status).toBe(200);
    expectDocumented("GET", "/admin/generations/:id", 200, one.body);
    const none = await call("GET", "/admin/generations/nope", { headers: admin });
    expectDocumented("GET", "/admin/generations/:id", 404, none.body);
    expectDocumented(
      "GET",
      "/admin/status",
      200,
      (await call("GET", "/admin/status", { headers: admin })).body,
    );
  });

  it("health and metrics", async () => {
    expectDocumented("GET", "/healthz", 200, (await call("GET", "/healthz")).body);
    // The check itself refuses what the document does not say.
    expect(() => expectDocumented("GET", "/healthz", 200, { status: "ok", more: 1 })).toThrow();
    const ready = await call("GET", "/readyz");
    expectDocumented("GET", "/readyz", ready.status, ready.body);
    const metrics = await call("GET", "/metrics", { headers: admin });
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain/);
  });
});

describe("documenting validates nothing", () => {
  // Fastify given a body schema would refuse with ajv's own 400s: these must
  // stay the gateway's, as test/e2e/validation.test.ts expects them.
  it.each([
    [{ prompt: 123 }, "invalid_type", "prompt"],
    [{ n: 1 }, "missing_required_parameter", "prompt"],
    [{ prompt: "x", response_format: "gif" }, "invalid_value", "response_format"],
    [{ prompt: "x", n: 11 }, "integer_above_max_value", "n"],
  ])("POST /v1/images/generations %j → %s", async (body, code, param) => {
    const answer = await call("POST", "/v1/images/generations", {
      headers: { authorization: `Bearer ${gw.apiKey}` },
      body,
    });
    expect(answer.status).toBe(400);
    expect((answer.body as { error: Json }).error).toMatchObject({ code, param });
  });

  it("an unknown admin field is the gateway's unknown_parameter", async () => {
    const answer = await call("POST", "/admin/tenants", {
      headers: admin,
      body: { name: "x", max_concurent: 3 },
    });
    expect(answer.status).toBe(400);
    expect((answer.body as { error: Json }).error).toMatchObject({
      code: "unknown_parameter",
      param: "max_concurent",
    });
  });
});

describe("the docs page", () => {
  it("serves Swagger UI from the gateway itself, without a CDN", async () => {
    const page = await fetch(`${gw.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    // The page's policy is its own: the API's answers do not carry it.
    expect((await fetch(`${gw.url}/healthz`)).headers.get("content-security-policy")).toBeNull();
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? "");
    expect(assets).toContain("/docs/static/swagger-ui-bundle.js");
    for (const asset of assets) {
      const response = await fetch(`${gw.url}${asset}`);
      expect(response.status, asset).toBe(200);
      await response.arrayBuffer();
    }
    const bundle = await fetch(`${gw.url}/docs/static/swagger-ui-bundle.js`);
    expect(bundle.headers.get("content-type")).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
  });

  it("reads the same document", async () => {
    const json = await (await fetch(`${gw.url}/docs/json`)).json();
    expect(json).toEqual(doc);
  });
});
