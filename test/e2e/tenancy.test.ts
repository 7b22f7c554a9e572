// The key vault and tenant administration through the admin API and the
// OpenAI SDK: key issue, revocation and expiry, disabling, the daily image
// budget, usage accounting, bring-your-own upstream key, sealed storage.
import { createWriteStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { apiError } from "../helpers/api-error.js";
import { shiftableClock } from "../helpers/clock.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const adminHeaders = { authorization: `Bearer ${adminToken}` };

async function admin(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, payload?: object) {
  const response = await gw.app.inject({
    method,
    url,
    headers: adminHeaders,
    ...(payload === undefined ? {} : { payload }),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

const generate = (client: OpenAI, prompt = "a banana", extra: object = {}) =>
  client.images.generate({ model: "nano-banana", prompt, ...extra });

describe("API keys", () => {
  it("issues more keys, each shown once; revoking one refuses its very next request", async () => {
    gw = await buildTestApp();
    const issued = await admin("POST", `/admin/tenants/${gw.tenantId}/keys`, { name: "ci" });
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ object: "api_key", name: "ci", expires_at: null });
    const second = String(issued.body.api_key);
    expect(second).toMatch(/^ig_[A-Za-z0-9_-]{43}$/);

    const client = gw.clientWith(second);
    expect((await generate(client)).data).toHaveLength(1);

    const listed = await admin("GET", `/admin/tenants/${gw.tenantId}/keys`);
    const data = listed.body.data as Array<Record<string, unknown>>;
    expect(data).toHaveLength(2);
    expect(JSON.stringify(listed.body)).not.toContain(second);
    expect(data.find((key) => key.id === issued.body.id)?.last_used_at).toEqual(expect.any(Number));

    const revoked = await admin("DELETE", `/admin/tenants/${gw.tenantId}/keys/${issued.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(Number));
    const err = await apiError(generate(client));
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.code).toBe("invalid_api_key");
    // The tenant's other key is untouched.
    expect((await generate(gw.client)).data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(2);

    expect((await admin("DELETE", `/admin/tenants/${gw.tenantId}/keys/key_nope`)).status).toBe(404);
    expect((await admin("POST", "/admin/tenants/ten_nope/keys", {})).status).toBe(404);
  });

  it("a key stops working at its expiry", async () => {
    const clock = shiftableClock();
    gw = await buildTestApp({ deps: { clock } });
    const issued = await admin("POST", `/admin/tenants/${gw.tenantId}/keys`, {
      expires_in: 3600,
    });
    expect(issued.body.expires_at).toBe(Math.floor(clock.now() / 1000) + 3600);
    const client = gw.clientWith(String(issued.body.api_key));
    expect((await generate(client)).data).toHaveLength(1);
    clock.shift(3_600_000);
    expect((await apiError(generate(client))).status).toBe(401);
    expect((await generate(gw.client)).data).toHaveLength(1);

    const past = await admin("POST", `/admin/tenants/${gw.tenantId}/keys`, { expires_at: 1 });
    expect(past.status).toBe(400);
    expect((past.body.error as { param: string }).param).toBe("expires_at");
  });
});

describe("tenant administration", () => {
  it("updates limits and disables a tenant; an unknown field is a 400, not a silent no-op", async () => {
    gw = await buildTestApp();
    const typo = await admin("PATCH", `/admin/tenants/${gw.tenantId}`, { max_concurent: 2 });
    expect(typo.status).toBe(400);
    expect((await admin("PATCH", `/admin/tenants/${gw.tenantId}`, {})).status).toBe(400);
    expect((await admin("PATCH", "/admin/tenants/ten_nope", { rpm: 1 })).status).toBe(404);

    const limited = await admin("PATCH", `/admin/tenants/${gw.tenantId}`, {
      rpm: 2,
      models: ["gpt-image-2"],
    });
    expect(limited.body).toMatchObject({ rpm: 2, models: ["gpt-image-2"] });
    const notAllowed = await apiError(generate(gw.client));
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.code).toBe("model_not_allowed");
    // dall-e-2 is an alias of the allowed model. Refused requests count
    // towards rpm too (as at OpenAI): this is the second of two.
    await gw.client.images.generate({ model: "dall-e-2", prompt: "p" });
    const limitedNow = await apiError(
      gw.client.images.generate({ model: "dall-e-2", prompt: "p" }),
    );
    expect(limitedNow.status).toBe(429);

    const cleared = await admin("PATCH", `/admin/tenants/${gw.tenantId}`, {
      rpm: null,
      models: null,
    });
    expect(cleared.body).toMatchObject({ rpm: null, models: null });
    await generate(gw.client);

    await admin("PATCH", `/admin/tenants/${gw.tenantId}`, { disabled: true });
    expect((await apiError(generate(gw.client))).status).toBe(401);
    await admin("PATCH", `/admin/tenants/${gw.tenantId}`, { disabled: false });
    expect((await generate(gw.client)).data).toHaveLength(1);
    expect(gw.sim.submits).toHaveLength(3);
  });
});

describe("images_per_day", () => {
  it("past the daily budget is a 429 insufficient_quota, and nothing is submitted", async () => {
    gw = await buildTestApp();
    const tenant = await gw.createTenant({ name: "budget", images_per_day: 3 });
    const client = gw.clientWith(tenant.apiKey);
    await generate(client, "p", { n: 2 });
    const over = await apiError(generate(client, "p", { n: 2 }));
    expect(over.status).toBe(429);
    expect(over.code).toBe("insufficient_quota");
    expect(over.headers?.get("x-should-retry")).toBe("false");
    expect(over.message).toContain("2 of 3 images today");
    expect(gw.sim.submits).toHaveLength(1);
    // A definite upstream refusal created no task and costs nothing: the
    // budget is untouched by it.
    gw.sim.inject({
      route: "submit",
      status: 403,
      body: {
        error: {
          message: "model not allowed",
          type: "new_api_error",
          param: "",
          code: "model_not_allowed",
        },
      },
    });
    await apiError(generate(client, "p"));
    expect((await generate(client, "p")).data).toHaveLength(1);
    expect((await apiError(generate(client, "p"))).code).toBe("insufficient_quota");
    expect(gw.sim.submits).toHaveLength(2);
  });
});

describe("usage", () => {
  it("reports requests, upstream tasks and images by model and day, matching the upstream", async () => {
    gw = await buildTestApp();
    await generate(gw.client, "one");
    await generate(gw.client, "two [sim:images=1]", { n: 2 });
    await apiError(generate(gw.client, "three [sim:fail=server overloaded]"));
    await gw.client.images.generate({ model: "dall-e-3", prompt: "four" });
    // Refused before anything is submitted: not recorded.
    await apiError(gw.client.images.generate({ model: "no-such-model", prompt: "five" }));

    const usage = await admin("GET", `/admin/tenants/${gw.tenantId}/usage`);
    expect(usage.status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(usage.body.data).toEqual([
      {
        day: today,
        model: "gemini-3.1-flash-image-preview",
        requests: 3,
        upstream_tasks: 3,
        images_requested: 4,
        images: 2,
        succeeded: 2,
        failed: 1,
      },
      {
        day: today,
        model: "grok-imagine-image-pro",
        requests: 1,
        upstream_tasks: 1,
        images_requested: 1,
        images: 1,
        succeeded: 1,
        failed: 0,
      },
    ]);
    const totals = usage.body.totals as Record<string, number>;
    expect(totals.upstream_tasks).toBe(gw.sim.submits.length);
    expect(totals.images_requested).toBe(
      gw.sim.submits.reduce((sum, submit) => sum + (submit.n ?? 1), 0),
    );

    const none = await admin(
      "GET",
      `/admin/tenants/${gw.tenantId}/usage?from=2020-01-01&to=2020-01-31`,
    );
    expect(none.body.data).toEqual([]);
    expect((await admin("GET", `/admin/tenants/${gw.tenantId}/usage?from=yesterday`)).status).toBe(
      400,
    );
  });
});

describe("bring your own upstream key", () => {
  it("uses the tenant's own upstream key, and the default key for others", async () => {
    gw = await buildTestApp();
    const own = "sk-tenant-own-upstream-key-0001";
    gw.sim.addKey(own);
    const tenant = await gw.createTenant({ name: "byok", upstream_key: own });
    await generate(gw.clientWith(tenant.apiKey));
    await generate(gw.client);
    expect(gw.sim.submits.map((submit) => submit.key)).toEqual([own, gw.config.upstreamKey]);

    const rotated = "sk-tenant-rotated-upstream-key-0002";
    gw.sim.addKey(rotated);
    await admin("PATCH", `/admin/tenants/${tenant.id}`, { upstream_key: rotated });
    await generate(gw.clientWith(tenant.apiKey));
    await admin("PATCH", `/admin/tenants/${tenant.id}`, { upstream_key: null });
    await generate(gw.clientWith(tenant.apiKey));
    expect(gw.sim.submits.slice(2).map((submit) => submit.key)).toEqual([
      rotated,
      gw.config.upstreamKey,
    ]);
  });
});

describe("sealed storage", () => {
  it("no API key or upstream key appears in plaintext in the data dir (database, WAL, logs)", async () => {
    const dataDirLog: string[] = [];
    let logPath = "";
    gw = await buildTestApp({
      env: { LOG_LEVEL: "debug" },
      deps: {
        logger: undefined,
        logDestination: {
          write(line: string) {
            dataDirLog.push(line);
          },
        },
      },
    });
    logPath = join(gw.config.dataDir, "gateway.log");
    const upstreamKeys = ["sk-upstream-secret-aaaa-1111", "sk-upstream-secret-bbbb-2222"];
    const apiKeys = [gw.apiKey];
    for (const [index, upstreamKey] of upstreamKeys.entries()) {
      gw.sim.addKey(upstreamKey);
      const tenant = await gw.createTenant({ name: `t${index}`, upstream_key: upstreamKey });
      apiKeys.push(tenant.apiKey);
      await generate(gw.clientWith(tenant.apiKey));
      const issued = await admin("POST", `/admin/tenants/${tenant.id}/keys`, {});
      apiKeys.push(String(issued.body.api_key));
      await admin("DELETE", `/admin/tenants/${tenant.id}/keys/${issued.body.id}`);
      await apiError(generate(gw.clientWith(String(issued.body.api_key))));
    }
    await apiError(generate(gw.clientWith("ig_wrong-key-that-does-not-exist")));
    expect(gw.sim.submits.map((submit) => submit.key)).toEqual(upstreamKeys);
    expect(dataDirLog.length).toBeGreaterThan(10);
    // The log goes to the data dir too, as an operator's file logging would.
    const log = createWriteStream(logPath);
    for (const line of dataDirLog) log.write(line);
    await new Promise<void>((resolve) => log.end(resolve));

    const files = (await readdir(gw.config.dataDir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
    expect(files.some((file) => file.endsWith("imagegate.db-wal"))).toBe(true);
    expect(files).toContain(logPath);
    for (const file of files) {
      const bytes = await readFile(file);
      for (const secret of [...apiKeys, ...upstreamKeys]) {
        expect(bytes.includes(Buffer.from(secret)), `${secret.slice(0, 8)}… in ${file}`).toBe(
          false,
        );
        expect(bytes.includes(Buffer.from(secret, "utf16le"))).toBe(false);
      }
    }
  });
});
