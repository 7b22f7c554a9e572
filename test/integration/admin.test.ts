// The minimal vault through the admin API: tenants, keys stored only as
// hashes, surviving a restart; health endpoints.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";

const adminToken = "admin-token-for-tests-0001";
const masterKey = Buffer.alloc(32, 3).toString("base64");
let dataDir: string;
const apps: FastifyInstance[] = [];

async function start(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    LOG_LEVEL: "silent",
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_UPSTREAM_URL: "http://127.0.0.1:9",
    IMAGEGATE_ADMIN_TOKEN: adminToken,
    IMAGEGATE_MASTER_KEY: masterKey,
    ...env,
  });
  const app = await buildApp(config, { logger: false });
  apps.push(app);
  return app;
}

const asAdmin = { authorization: `Bearer ${adminToken}` };

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-admin-"));
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("admin API and vault", () => {
  it("creates a tenant whose key works, is shown once, and survives a restart", async () => {
    let app = await start();
    const created = await app.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: asAdmin,
      payload: { name: "acme", rpm: 60, max_concurrent: 4, models: ["dall-e-3", "nano-banana"] },
    });
    expect(created.statusCode).toBe(201);
    const tenant = created.json<{ id: string; api_key: string; rpm: number; models: string[] }>();
    expect(tenant.api_key).toMatch(/^ig_[A-Za-z0-9_-]{43}$/);
    expect(tenant).toMatchObject({ name: "acme", rpm: 60, max_concurrent: 4 });

    const listed = await app.inject({ method: "GET", url: "/admin/tenants", headers: asAdmin });
    expect(listed.body).not.toContain(tenant.api_key);
    expect(listed.json()).toMatchObject({ data: [{ id: tenant.id, name: "acme" }] });
    const shown = await app.inject({
      method: "GET",
      url: `/admin/tenants/${tenant.id}`,
      headers: asAdmin,
    });
    expect(shown.json()).not.toHaveProperty("api_key");

    const asTenant = { authorization: `Bearer ${tenant.api_key}` };
    expect(
      (await app.inject({ method: "GET", url: "/v1/models", headers: asTenant })).statusCode,
    ).toBe(200);

    await app.close();
    app = await start();
    expect(
      (await app.inject({ method: "GET", url: "/v1/models", headers: asTenant })).statusCode,
    ).toBe(200);
    const wrong = await app.inject({
      method: "GET",
      url: "/v1/models",
      headers: { authorization: `Bearer ${tenant.api_key.slice(0, -1)}x` },
    });
    expect(wrong.statusCode).toBe(401);

    // Keys are stored as hashes only: the plaintext is nowhere in the data dir.
    await app.close();
    for (const file of await filesUnder(dataDir)) {
      const bytes = await readFile(file);
      expect(bytes.includes(Buffer.from(tenant.api_key)), file).toBe(false);
    }
  });

  it("seals an upstream key, and refuses one without a master key", async () => {
    const app = await start();
    const created = await app.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: asAdmin,
      payload: { name: "byok", upstream_key: "sk-upstream-very-secret-value" },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ has_upstream_key: true });
    expect(created.body).not.toContain("sk-upstream-very-secret-value");
    await app.close();
    for (const file of await filesUnder(dataDir)) {
      expect((await readFile(file)).includes(Buffer.from("sk-upstream-very-secret-value"))).toBe(
        false,
      );
    }

    // This data dir now holds a sealed credential: starting without the key
    // that sealed it, or with another key, is a clear error.
    await expect(start({ IMAGEGATE_MASTER_KEY: "" })).rejects.toThrow(
      /IMAGEGATE_MASTER_KEY is not set, but the data dir holds sealed upstream credentials/,
    );
    await expect(
      start({ IMAGEGATE_MASTER_KEY: Buffer.alloc(32, 4).toString("base64") }),
    ).rejects.toThrow(/IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with/);

    await rm(dataDir, { recursive: true, force: true });
    dataDir = await mkdtemp(join(tmpdir(), "imagegate-admin-"));
    const noMaster = await start({ IMAGEGATE_MASTER_KEY: "" });
    const refused = await noMaster.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: asAdmin,
      payload: { name: "byok", upstream_key: "sk-upstream" },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({
      error: { param: "upstream_key", code: "master_key_required" },
    });
  });

  it("needs the admin token, validates input, and is off without a token", async () => {
    const app = await start();
    const none = await app.inject({
      method: "POST",
      url: "/admin/tenants",
      payload: { name: "x" },
    });
    expect(none.statusCode).toBe(401);
    const wrong = await app.inject({
      method: "GET",
      url: "/admin/tenants",
      headers: { authorization: "Bearer admin-token-for-tests-0002" },
    });
    expect(wrong.statusCode).toBe(401);
    const invalid = await app.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: asAdmin,
      payload: { name: "x", models: ["dall-e-9"] },
    });
    expect(invalid.statusCode).toBe(400);
    // OpenAI's path form, as the image routes name `images[0].image_url`.
    expect(invalid.json()).toMatchObject({
      error: { param: "models[0]", message: "Invalid value for 'models[0]': unknown model." },
    });
    const unknown = await app.inject({
      method: "GET",
      url: "/admin/tenants/ten_nope",
      headers: asAdmin,
    });
    expect(unknown.statusCode).toBe(404);

    const off = await start({ IMAGEGATE_ADMIN_TOKEN: "" });
    const offResponse = await off.inject({
      method: "GET",
      url: "/admin/tenants",
      headers: asAdmin,
    });
    expect(offResponse.statusCode).toBe(404);
  });

  it("answers health and readiness", async () => {
    const app = await start();
    expect((await app.inject({ method: "GET", url: "/healthz" })).json()).toEqual({ status: "ok" });
    expect((await app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });
});
