// Operator changes on one replica take effect on the others at their next
// request: two gateways on one PostgreSQL schema, a key revoked, a tenant
// disabled and its limits changed, a channel added and disabled on A, each
// seen by B's very next request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../../src/simulator/server.js";
import { adminToken, buildTestApp, type TestGateway } from "../helpers/gateway.js";
import { freshSchema, type TestSchema } from "../helpers/postgres.js";

let schema: TestSchema;
let a: TestGateway;
let b: TestGateway;
let second: Simulator;

beforeAll(async () => {
  schema = await freshSchema("admin");
  const env = { IMAGEGATE_DATABASE_URL: schema.url };
  a = await buildTestApp({ env });
  b = await buildTestApp({ env });
  second = await startSimulator({ keys: ["second-account-key"] });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await second?.close();
  await schema?.drop();
});

const admin = (gateway: TestGateway, method: string, url: string, payload?: unknown) =>
  gateway.app.inject({
    method: method as "GET",
    url,
    headers: { authorization: `Bearer ${adminToken}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

describe("admin changes across replicas", { timeout: 60_000 }, () => {
  it("a key revoked on A is refused by B at its next request", async () => {
    const tenant = await a.createTenant({ name: "revoked-elsewhere" });
    const onB = b.clientWith(tenant.apiKey);
    expect(
      (await onB.images.generate({ model: "nano-banana", prompt: "before" })).data,
    ).toHaveLength(1);
    const keys = (await admin(a, "GET", `/admin/tenants/${tenant.id}/keys`)).json<{
      data: Array<{ id: string }>;
    }>();
    const revoked = await admin(
      a,
      "DELETE",
      `/admin/tenants/${tenant.id}/keys/${keys.data[0]?.id}`,
    );
    expect(revoked.statusCode).toBe(200);
    await expect(
      onB.images.generate({ model: "nano-banana", prompt: "after" }),
    ).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
  });

  it("a tenant's limits changed on A hold on B at its next request", async () => {
    const tenant = await a.createTenant({ name: "limited-elsewhere" });
    const onB = b.clientWith(tenant.apiKey);
    const changed = await admin(a, "PATCH", `/admin/tenants/${tenant.id}`, {
      models: ["gpt-image-2"],
    });
    expect(changed.statusCode).toBe(200);
    await expect(
      onB.images.generate({ model: "nano-banana", prompt: "not allowed now" }),
    ).rejects.toMatchObject({ status: 403, code: "model_not_allowed" });
    await admin(a, "PATCH", `/admin/tenants/${tenant.id}`, { disabled: true });
    await expect(
      onB.images.generate({ model: "gpt-image-2", prompt: "disabled now" }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it("a channel added on A is routed to by B at its next request, and disabled likewise", async () => {
    const created = await admin(a, "POST", "/admin/channels", {
      name: "preferred-account",
      base_url: second.url,
      api_key: "second-account-key",
      priority: 10,
    });
    expect(created.statusCode).toBe(201);
    const { id } = created.json<{ id: string }>();
    await b.client.images.generate({ model: "nano-banana", prompt: "to the new account" });
    expect(second.submits.map((task) => task.prompt)).toEqual(["to the new account"]);
    // B lists it too, with its own health.
    const listed = (await admin(b, "GET", "/admin/channels")).json<{
      data: Array<{ id: string }>;
    }>();
    expect(listed.data.map((channel) => channel.id)).toContain(id);

    expect((await admin(a, "PATCH", `/admin/channels/${id}`, { enabled: false })).statusCode).toBe(
      200,
    );
    await b.client.images.generate({ model: "nano-banana", prompt: "back to the default" });
    expect(second.submits).toHaveLength(1);
    expect(b.sim.submits.map((task) => task.prompt)).toContain("back to the default");
  });
});
