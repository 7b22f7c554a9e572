#!/usr/bin/env node
// The `imagegate` command: serve, the operator's tenant/key/usage commands on
// the data dir (the admin API's operations, printing JSON, so a fresh install
// can be bootstrapped from the shell), the same for channels (cli-channels.ts),
// master-key rotation, and a demo.
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createModelMap } from "./catalog/model-map.js";
import {
  ChannelsUsageError,
  channelsCommand,
  channelsNotes,
  channelsUsage,
} from "./cli-channels.js";
import { systemClock } from "./clock.js";
import { type Config, ConfigError, configOrExit, loadConfig, parseMasterKey } from "./config.js";
import { GatewayError, gatewayError } from "./errors.js";
import { utcDay } from "./generation/record.js";
import { MasterKeyError } from "./stores/master-key.js";
import { openStores, type Stores } from "./stores/open.js";
import { expiryFrom, issuedKeyView, issueKeySchema, keyView } from "./tenancy/keys.js";
import {
  type FlagContext,
  limitFromFlag,
  newTenantOf,
  tenantBodyFromFlags,
  tenantChanges,
  tenantFlagHelp,
  tenantFlagOptions,
  tenantFlagSynopsis,
  tenantSchemas,
  tenantView,
} from "./tenancy/settings.js";
import { createVault, type Vault } from "./tenancy/vault.js";
import { parseBody } from "./validation.js";

/** A usage line: `head` and its flags, wrapped under the command at 80 columns. */
function synopsis(head: string, flags: readonly string[]): string {
  const lines = [`  ${head}`];
  for (const flag of flags) {
    const last = lines.length - 1;
    if (`${lines[last]} ${flag}`.length <= 80) lines[last] = `${lines[last]} ${flag}`;
    else lines.push(`${" ".repeat(head.split(" ").slice(0, 2).join(" ").length + 3)}${flag}`);
  }
  return lines.join("\n");
}

/** Two columns, flag and what it does, the second wrapped at 80. */
function flagHelp(rows: readonly { flag: string; text: string }[]): string {
  const width = Math.max(...rows.map((row) => row.flag.length)) + 4;
  return rows
    .flatMap(({ flag, text }) => {
      const lines: string[] = [];
      for (const word of text.split(" ")) {
        const last = lines.at(-1);
        if (last !== undefined && width + last.length + 1 + word.length <= 80) {
          lines[lines.length - 1] = `${last} ${word}`;
        } else lines.push(word);
      }
      return lines.map((line, i) => `${i === 0 ? `  ${flag}` : ""}`.padEnd(width) + line);
    })
    .join("\n");
}

// The tenant flags are the settings table's (tenancy/settings.ts).
const usage = `usage: imagegate <command>

  serve                                   start the gateway (configured by environment)
  demo [--port 8080]                      an upstream simulator with a gateway in front of it

${synopsis("tenants create", tenantFlagSynopsis("create"))}
  tenants list
  tenants show TENANT
${synopsis("tenants update TENANT", tenantFlagSynopsis("update"))}
  tenants disable TENANT | tenants enable TENANT
  keys issue TENANT [--name NAME] [--expires-in SECONDS]
  keys list TENANT
  keys revoke TENANT KEY
  usage TENANT [--from YYYY-MM-DD] [--to YYYY-MM-DD]
${channelsUsage}
  store migrate --from DATA_DIR [--to POSTGRES_URL] [--s3 BUCKET]
                                          copy an embedded installation to
                                          PostgreSQL (default
                                          IMAGEGATE_DATABASE_URL) and its result
                                          files to S3 (IMAGEGATE_S3_*), then
                                          verify; safe to run again
  master-key generate                     print a new random master key
  master-key rotate                       re-seal upstream credentials (tenants' and
                                          channels'): old key in
                                          IMAGEGATE_OLD_MASTER_KEY, new in IMAGEGATE_MASTER_KEY

Tenant, key, usage and channel commands work on the gateway's store
(IMAGEGATE_DATABASE_URL, else IMAGEGATE_DATA_DIR; the gateway may be running)
and print JSON. Upstream keys are read from the environment variable
named by --upstream-key-env, so they stay out of shell history and ps (a
channel's api key likewise, by --api-key-env).

A tenant's settings:
${flagHelp(tenantFlagHelp())}

${channelsNotes}
`;

/** A mistake in how the command was called: exit code 2 with one line. */
class UsageError extends Error {}

/** A command that ran and could not do its job: exit code 1 with one line. */
class CommandFailed extends Error {}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** How the CLI reads a flag's text: a bad one is a usage mistake (exit code 2). */
const flagContext: Omit<FlagContext, "flag"> = {
  env: process.env,
  fail(message): never {
    throw new UsageError(message);
  },
};

/** "12" → 12, "none" → null, absent → undefined, as a tenant's limits are read. */
function limitFlag(value: string | undefined, flag: string): number | null | undefined {
  return value === undefined ? undefined : limitFromFlag(value, { ...flagContext, flag });
}

/** Drops undefined fields, so a body parses as the admin API's would. */
function defined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

/**
 * Opens the store as the gateway does (IMAGEGATE_DATABASE_URL, else the data
 * dir, made private first). What was fixed is said in one line on stderr:
 * stdout stays the command's JSON, and an operator bootstrapping on an
 * existing volume learns that modes changed.
 */
function openConfiguredStores(config: Config, checkMasterKey = true): Promise<Stores> {
  return openStores({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    masterKey: config.masterKey,
    clock: systemClock,
    checkMasterKey,
    onWriteError: (err) =>
      process.stderr.write(`imagegate: a write failed: ${(err as Error).message}\n`),
    onNote: (note) => process.stderr.write(`imagegate: ${note}\n`),
  });
}

async function withVault<T>(
  config: Config,
  run: (vault: Vault, stores: Stores) => Promise<T>,
): Promise<T> {
  const stores = await openConfiguredStores(config);
  try {
    const vault = createVault({
      store: stores.tenants,
      clock: systemClock,
      masterKey: config.masterKey,
    });
    return await run(vault, stores);
  } finally {
    await stores.close();
  }
}

async function tenantOrFail(vault: Vault, id: string | undefined) {
  if (id === undefined) throw new UsageError("give a tenant id");
  const tenant = await vault.getTenant(id);
  if (!tenant) throw gatewayError("tenant_not_found", { tenant: id });
  return tenant;
}

async function tenants(args: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: tenantFlagOptions(),
  });
  const [action, id] = positionals;
  // Allowlists name the same models the gateway answers to (IMAGEGATE_MODELS_FILE).
  const schemas = tenantSchemas(createModelMap(config.modelOverrides));
  await withVault(config, async (vault) => {
    switch (action) {
      case "create": {
        const body = parseBody(schemas.create, tenantBodyFromFlags(values, "create", flagContext));
        const { tenant, key } = await vault.createTenant(newTenantOf(body));
        print({ ...tenantView(tenant), api_key: key.apiKey, key_id: key.id });
        return;
      }
      case "list":
        print({ object: "list", data: (await vault.listTenants()).map(tenantView) });
        return;
      case "show": {
        const tenant = await tenantOrFail(vault, id);
        print({
          ...tenantView(tenant),
          keys: ((await vault.listKeys(tenant.id)) ?? []).map(keyView),
        });
        return;
      }
      case "update":
      case "disable":
      case "enable": {
        const tenant = await tenantOrFail(vault, id);
        const body = parseBody(
          schemas.update,
          action === "update"
            ? tenantBodyFromFlags(values, "update", flagContext)
            : { disabled: action === "disable" },
        );
        const updated = await vault.updateTenant(tenant.id, tenantChanges(body));
        print(updated ? tenantView(updated) : null);
        return;
      }
      default:
        throw new UsageError(`unknown tenants command ${action ?? ""}`.trim());
    }
  });
}

async function keys(args: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: "string" }, "expires-in": { type: "string" } },
  });
  const [action, tenantId, keyId] = positionals;
  await withVault(config, async (vault) => {
    const tenant = await tenantOrFail(vault, tenantId);
    switch (action) {
      case "issue": {
        const expiresIn = limitFlag(values["expires-in"], "--expires-in");
        const body = parseBody(
          issueKeySchema,
          defined({ name: values.name, expires_in: expiresIn }),
        );
        const now = systemClock.now();
        const key = await vault.issueKey(tenant.id, {
          name: body.name,
          expiresAt: expiryFrom(body, now),
        });
        if (key) print(issuedKeyView(key, now));
        return;
      }
      case "list":
        print({ object: "list", data: ((await vault.listKeys(tenant.id)) ?? []).map(keyView) });
        return;
      case "revoke": {
        if (keyId === undefined) throw new UsageError("keys revoke needs TENANT and KEY");
        const key = await vault.revokeKey(tenant.id, keyId);
        if (!key) throw new UsageError(`no key ${keyId} for tenant ${tenant.id}`);
        print(keyView(key));
        return;
      }
      default:
        throw new UsageError(`unknown keys command ${action ?? ""}`.trim());
    }
  });
}

async function usageReport(args: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { from: { type: "string" }, to: { type: "string" } },
  });
  await withVault(config, async (vault, stores) => {
    const tenant = await tenantOrFail(vault, positionals[0]);
    const now = systemClock.now();
    const to = values.to ?? utcDay(now);
    const from = values.from ?? utcDay(now - 29 * 86_400_000);
    for (const day of [from, to]) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new UsageError(`${day} is not a YYYY-MM-DD day`);
    }
    const report = await stores.ledger.report(tenant.id, from, to);
    print({ ...report, images_per_day: tenant.imagesPerDay });
  });
}

async function masterKey(args: string[], config: Config): Promise<void> {
  const [action] = args;
  if (action === "generate") {
    process.stdout.write(`${randomBytes(32).toString("base64")}\n`);
    return;
  }
  if (action !== "rotate")
    throw new UsageError(`unknown master-key command ${action ?? ""}`.trim());
  const oldKey = parseMasterKey("IMAGEGATE_OLD_MASTER_KEY", process.env.IMAGEGATE_OLD_MASTER_KEY);
  if (!config.masterKey) throw new ConfigError("IMAGEGATE_MASTER_KEY", "is not set (the new key)");
  const stores = await openConfiguredStores(config, false);
  try {
    const resealed = await stores.rotateMasterKey(oldKey, config.masterKey);
    print({ object: "master_key_rotation", resealed_credentials: resealed });
  } finally {
    await stores.close();
  }
}

async function store(args: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { from: { type: "string" }, to: { type: "string" }, s3: { type: "string" } },
  });
  if (positionals[0] !== "migrate" || positionals.length > 1) {
    throw new UsageError(`unknown store command ${positionals.join(" ")}`.trim());
  }
  // The URL (and its password) from the environment by default, out of ps and shell history.
  const to = values.to ?? config.databaseUrl;
  if (values.from === undefined || to === undefined) {
    throw new UsageError(
      "store migrate needs --from DATA_DIR, and --to POSTGRES_URL or IMAGEGATE_DATABASE_URL",
    );
  }
  if (!/^postgres(ql)?:\/\//.test(to)) {
    throw new UsageError("--to must be a postgres:// or postgresql:// URL");
  }
  // Loaded only here: the other commands start without the S3 SDK.
  const { migrateStore } = await import("./stores/migrate.js");
  let s3: { client: import("@aws-sdk/client-s3").S3Client; bucket: string } | undefined;
  if (values.s3 !== undefined) {
    const { createS3Client } = await import("./storage/s3-client.js");
    // The bucket named here; endpoint, region and path style from IMAGEGATE_S3_*,
    // read as the gateway reads them.
    const settings = loadConfig({ ...process.env, IMAGEGATE_S3_BUCKET: values.s3 }).s3;
    if (settings === undefined) throw new UsageError("--s3 needs a bucket name");
    s3 = { client: createS3Client(settings), bucket: settings.bucket };
  }
  try {
    const report = await migrateStore({
      dataDir: values.from,
      databaseUrl: to,
      masterKey: config.masterKey,
      s3,
    }).catch((err: unknown) => {
      // A wrong key says so itself; an engine that cannot be reached is one line.
      if (err instanceof MasterKeyError) throw err;
      throw new CommandFailed(`store migrate stopped: ${(err as Error).message}`);
    });
    print(report);
    if (!report.verified) {
      throw new CommandFailed(
        "the copy did not verify: some source rows or files are missing (see present vs source above); nothing was removed from the data dir",
      );
    }
  } finally {
    s3?.client.destroy();
  }
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { port: { type: "string" } } });
  // The simulator is loaded only here: production paths never import it.
  const { startSimulator, realisticDurationMs } = await import("./simulator/server.js");
  const upstreamKey = "demo-upstream-key";
  const sim = await startSimulator({ keys: [upstreamKey], durationMs: realisticDurationMs });
  const port = limitFlag(values.port, "--port") ?? Number(process.env.PORT ?? 8080);
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
  // The gateway's modules (Fastify, sharp, undici) load only for the commands
  // that run it: the operator's commands start in a fraction of the time.
  const { buildApp } = await import("./app.js");
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
      await (await import("./main.js")).serve(configOrExit());
      return;
    case "demo":
      await demo(rest);
      return;
    case "tenants":
      await tenants(rest, configOrExit());
      return;
    case "keys":
      await keys(rest, configOrExit());
      return;
    case "usage":
      await usageReport(rest, configOrExit());
      return;
    case "channels":
      await channelsCommand(rest, configOrExit(), { openStores: openConfiguredStores, print });
      return;
    case "master-key":
      await masterKey(rest, configOrExit());
      return;
    case "store":
      await store(rest, configOrExit());
      return;
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(usage);
      return;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ChannelsUsageError) {
    process.stderr.write(`imagegate: ${err.message}\n\n${usage}`);
    process.exit(2);
  }
  // Expected failures are one line, never a stack trace.
  const expected =
    err instanceof GatewayError ||
    err instanceof ConfigError ||
    err instanceof MasterKeyError ||
    err instanceof CommandFailed ||
    (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
  process.stderr.write(
    `imagegate: ${expected ? (err as Error).message : `unexpected error: ${(err as Error).stack}`}\n`,
  );
  process.exit(1);
});
