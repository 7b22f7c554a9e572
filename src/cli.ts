#!/usr/bin/env node
// The `imagegate` command: serve, tenant bootstrap on the data dir, and a demo
// (simulator + gateway) that prints ready-to-paste calls.
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildApp } from "./app.js";
import { systemClock } from "./clock.js";
import { GatewayError } from "./errors.js";
import { tenantView } from "./http/routes/admin.js";
import { configOrExit, serve } from "./main.js";
import { openStore } from "./tenancy/store.js";
import { createVault } from "./tenancy/vault.js";

const usage = `usage:
  imagegate serve                         start the gateway (configured by environment)
  imagegate tenants create --name NAME [--rpm N] [--max-concurrent N]
                           [--images-per-day N] [--models a,b] [--upstream-key KEY]
  imagegate tenants list
  imagegate tenants show ID
  imagegate demo [--port 8080]            start an upstream simulator and a gateway in front of it
`;

function fail(message: string): never {
  process.stderr.write(`imagegate: ${message}\n`);
  process.exit(2);
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`${flag} must be a positive whole number`);
  return Number(value);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function tenants(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      rpm: { type: "string" },
      "max-concurrent": { type: "string" },
      "images-per-day": { type: "string" },
      models: { type: "string" },
      "upstream-key": { type: "string" },
    },
  });
  const config = configOrExit();
  const db = openStore(config.dataDir);
  const vault = createVault({
    db,
    clock: systemClock,
    masterKey: config.masterKey,
    defaultUpstreamKey: config.upstreamKey,
  });
  try {
    const [action, id] = positionals;
    if (action === "create") {
      if (!values.name) fail("tenants create needs --name");
      const { tenant, key } = vault.createTenant({
        name: values.name,
        rpm: positiveInt(values.rpm, "--rpm"),
        maxConcurrent: positiveInt(values["max-concurrent"], "--max-concurrent"),
        imagesPerDay: positiveInt(values["images-per-day"], "--images-per-day"),
        models: values.models?.split(",").map((model) => model.trim()),
        upstreamKey: values["upstream-key"],
      });
      print({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
    } else if (action === "list") {
      print({ object: "list", data: vault.listTenants().map(tenantView) });
    } else if (action === "show" && id) {
      const tenant = vault.getTenant(id);
      if (!tenant) fail(`no tenant ${id}`);
      print(tenantView(tenant));
    } else {
      fail(`unknown tenants command\n${usage}`);
    }
  } catch (err) {
    if (err instanceof GatewayError) fail(err.message);
    throw err;
  } finally {
    db.close();
  }
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { port: { type: "string" } } });
  // The simulator is loaded only here: production paths never import it.
  const { startSimulator, realisticDurationMs } = await import("./simulator/server.js");
  const upstreamKey = "demo-upstream-key";
  const sim = await startSimulator({ keys: [upstreamKey], durationMs: realisticDurationMs });
  const port = positiveInt(values.port, "--port") ?? Number(process.env.PORT ?? 8080);
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-demo-"));
  const config = configOrExit({
    ...process.env,
    PORT: String(port),
    HOST: process.env.HOST ?? "127.0.0.1",
    IMAGEGATE_UPSTREAM_URL: sim.url,
    IMAGEGATE_UPSTREAM_KEY: upstreamKey,
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_MASTER_KEY: randomBytes(32).toString("base64"),
    IMAGEGATE_ADMIN_TOKEN: randomBytes(24).toString("hex"),
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
  });
  const app = await buildApp(config);
  await app.listen({ port: config.port, host: config.host });
  const created = await app.inject({
    method: "POST",
    url: "/admin/tenants",
    headers: { authorization: `Bearer ${config.adminToken}` },
    payload: { name: "demo" },
  });
  const { api_key: apiKey } = created.json<{ api_key: string }>();
  const base = `http://localhost:${config.port}`;
  process.stdout.write(`imagegate demo: gateway ${base} → upstream simulator ${sim.url}
data dir ${dataDir}; admin token ${config.adminToken}

curl ${base}/v1/images/generations \\
  -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" \\
  -d '{"model": "nano-banana", "prompt": "a banana", "size": "1024x1024"}'

// Node, with the official SDK (npm install openai):
import OpenAI from "openai";
const client = new OpenAI({ apiKey: "${apiKey}", baseURL: "${base}/v1" });
const r = await client.images.generate({ model: "dall-e-3", prompt: "a banana", response_format: "b64_json" });
console.log(r.data[0].b64_json.length);

Ctrl-C stops both.
`);
  const stop = () => {
    void app
      .close()
      .then(() => sim.close())
      .then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      await serve(configOrExit());
      return;
    case "tenants":
      tenants(rest);
      return;
    case "demo":
      await demo(rest);
      return;
    default:
      process.stdout.write(usage);
      if (command !== undefined && command !== "help" && command !== "--help") process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`imagegate: ${(err as Error).message}\n`);
  process.exit(1);
});
