// Issue 11, "Operators own the model map": IMAGEGATE_MODELS_FILE adds public
// names with defaults, hides names, and the admin API shows the effective map.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-models-file-"));
  const file = join(dir, "models.json");
  await writeFile(
    file,
    JSON.stringify({
      models: {
        "house-style": {
          upstream: "gemini-3.1-flash-image-preview",
          defaults: { size: "1536x1024" },
        },
        "dall-e-3": { hidden: true },
      },
    }),
  );
  gw = await buildTestApp({ env: { IMAGEGATE_MODELS_FILE: file } });
});
afterAll(async () => {
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("IMAGEGATE_MODELS_FILE", () => {
  it("a new public name runs on its upstream model with its default size", async () => {
    const result = await gw.client.images.generate({
      model: "house-style" as never,
      prompt: "a lighthouse",
    });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    const submit = gw.sim.submits.at(-1);
    expect(submit?.body).toMatchObject({
      model: "gemini-3.1-flash-image-preview",
      size: "3:2",
    });
    const listed = (await gw.client.models.list()).data.map((model) => model.id);
    expect(listed).toContain("house-style");
    expect((await gw.client.models.retrieve("house-style")).id).toBe("house-style");
  });

  it("a hidden name is a 404 like an unknown model and absent from /v1/models", async () => {
    const submits = gw.sim.submits.length;
    const error = await apiError(gw.client.images.generate({ model: "dall-e-3", prompt: "p" }));
    expect(error).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
    expect(error.message).toContain("'dall-e-3' does not exist");
    expect(gw.sim.submits).toHaveLength(submits);
    const listed = (await gw.client.models.list()).data.map((model) => model.id);
    expect(listed).not.toContain("dall-e-3");
    expect(listed).toContain("dall-e-2");
    expect((await apiError(gw.client.models.retrieve("dall-e-3"))).status).toBe(404);
  });

  it("a tenant allowlist may name a file's name; hidden names are unknown to it", async () => {
    const tenant = await gw.createTenant({ name: "house", models: ["house-style"] });
    const result = await gw
      .clientWith(tenant.apiKey)
      .images.generate({ model: "house-style" as never, prompt: "p" });
    expect(result.data?.[0]?.b64_json).toBeTruthy();
    const refused = await gw.app.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { name: "old", models: ["dall-e-3"] },
    });
    expect(refused.statusCode).toBe(400);
  });

  it("GET /admin/models shows the effective map", async () => {
    const unauthorised = await gw.app.inject({ method: "GET", url: "/admin/models" });
    expect(unauthorised.statusCode).toBe(401);
    const response = await gw.app.inject({
      method: "GET",
      url: "/admin/models",
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(response.statusCode).toBe(200);
    const rows = response.json<{ object: string; data: Array<Record<string, unknown>> }>();
    expect(rows.object).toBe("list");
    const byId = new Map(rows.data.map((row) => [row.id, row]));
    expect(byId.get("house-style")).toEqual({
      id: "house-style",
      object: "model_mapping",
      upstream: "gemini-3.1-flash-image-preview",
      openai_model: null,
      defaults: { size: "1536x1024" },
      hidden: false,
      max_references: 4,
      source: "file",
    });
    expect(byId.get("dall-e-3")).toMatchObject({
      upstream: "grok-imagine-image-pro",
      openai_model: "dall-e-3",
      hidden: true,
      source: "file",
    });
    expect(byId.get("dall-e-2")).toMatchObject({
      upstream: "gpt-image-2",
      hidden: false,
      source: "built-in",
    });
  });
});
