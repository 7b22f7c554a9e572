// buildTestApp(): a real gateway on a free port in front of a fresh upstream
// simulator, with a temporary data dir, one tenant and an OpenAI SDK client.
// Everything it starts, close() stops. Its reads and retries run on a fast
// schedule (fastSchedule, fastRetries) unless a test passes its own: a test of
// the production schedule passes `deps: { scheduleTuning: defaultTuning }`.
import { mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { type AppDeps, buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import {
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../../src/simulator/server.js";
import { defaultTuning, type ScheduleTuning } from "../../src/upstream/schedule.js";

export const adminToken = "test-admin-token-0123456789";
export const masterKey = Buffer.alloc(32, 7).toString("base64");
export const upstreamKey = "sim-key";

/**
 * The production schedule's shape, with every gap in tens of milliseconds: a
 * task is noticed within ~50 ms of finishing, so a test waits on the
 * simulated task, not on the schedule.
 */
export const fastSchedule: ScheduleTuning = {
  ...defaultTuning,
  minGapMs: 20,
  maxGapMs: 200,
  blindMaxGapMs: 100,
  guardBaseMs: 50,
  guardShare: 0.05,
  lateGuardShare: 0.1,
  finishShare: 0.02,
  finalGapMs: 10,
  finishSlackMaxMs: 50,
};

/**
 * The production retries, as many of each, with waits a tenth or less as long.
 * A read backoff still doubles per error and honours Retry-After.
 */
export const fastRetries: NonNullable<AppDeps["retryTiming"]> = {
  poller: {
    notFoundDelayMs: 50,
    errorBackoffMs: (errors, retryAfterMs) =>
      Math.max(25 * 2 ** Math.min(Math.max(0, errors - 1), 6), retryAfterMs ?? 0),
  },
  generation: {
    submitRetryDelaysMs: [25, 100],
    downloadRetryDelaysMs: [30, 120],
    recordRetryDelaysMs: [50, 200, 800],
  },
};

export interface TestGateway {
  app: FastifyInstance;
  sim: Simulator;
  config: Config;
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  apiKey: string;
  tenantId: string;
  client: OpenAI;
  /** Creates another tenant through the admin API; returns its id and key. */
  createTenant(settings: Record<string, unknown>): Promise<{ id: string; apiKey: string }>;
  /** An OpenAI client with another key (or none). */
  clientWith(apiKey: string, options?: { maxRetries?: number; timeout?: number }): OpenAI;
  /**
   * Stops the gateway process (as a kill would leave it: what is running stays
   * recorded as running) and starts a new one on the same data dir and port.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  /** Over the defaults { scheduleTuning: fastSchedule, retryTiming: fastRetries }. */
  deps?: AppDeps;
}

/**
 * A port free now, for a server that must know its port before it listens
 * (its public URL is configured first). Chosen below Linux's ephemeral range
 * (32768 and up), from which the system hands out ports to every outgoing
 * connection and listen(0): a port found free there could be taken by any
 * socket of the suite before the server listens on it; here only another
 * freePort() could take it, and the draw is random.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt >= 50) throw new Error("no free port found between 20000 and 32000");
  }
}

export async function buildTestApp(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const sim = await startSimulator({ keys: [upstreamKey], ...options.sim });
  const dataDir = await mkdtemp(join(tmpdir(), "imagegate-test-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    IMAGEGATE_UPSTREAM_URL: sim.url,
    IMAGEGATE_UPSTREAM_KEY: upstreamKey,
    IMAGEGATE_DATA_DIR: dataDir,
    IMAGEGATE_PUBLIC_URL: url,
    IMAGEGATE_ADMIN_TOKEN: adminToken,
    IMAGEGATE_MASTER_KEY: masterKey,
    IMAGEGATE_MAX_WAIT_MS: "30000",
    ...options.env,
  });
  const deps: AppDeps = {
    logger: false,
    scheduleTuning: fastSchedule,
    retryTiming: fastRetries,
    ...options.deps,
  };
  const app = await buildApp(config, deps);
  await app.listen({ port, host: "127.0.0.1" });

  const createTenant = async (settings: Record<string, unknown>) => {
    const created = await app.inject({
      method: "POST",
      url: "/admin/tenants",
      headers: { authorization: `Bearer ${adminToken}` },
      payload: settings,
    });
    if (created.statusCode !== 201) throw new Error(`tenant creation failed: ${created.body}`);
    const tenant = created.json<{ id: string; api_key: string }>();
    return { id: tenant.id, apiKey: tenant.api_key };
  };
  const tenant = await createTenant({ name: "test-tenant" });

  const clientWith = (
    apiKey: string,
    clientOptions: { maxRetries?: number; timeout?: number } = {},
  ) =>
    new OpenAI({
      apiKey,
      baseURL: `${url}/v1`,
      maxRetries: clientOptions.maxRetries ?? 0,
      ...(clientOptions.timeout === undefined ? {} : { timeout: clientOptions.timeout }),
    });

  const gateway: TestGateway = {
    app,
    sim,
    config,
    url,
    apiKey: tenant.apiKey,
    tenantId: tenant.id,
    client: clientWith(tenant.apiKey),
    clientWith,
    createTenant,
    async restart() {
      if (gateway.app.server.listening) await gateway.app.close();
      gateway.app = await buildApp(config, deps);
      await gateway.app.listen({ port, host: "127.0.0.1" });
    },
    async close() {
      if (gateway.app.server.listening) await gateway.app.close();
      await sim.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return gateway;
}

export interface CompiledSources {
  /** The compiled file for a source under src/: "cli.ts" → an absolute path to cli.js. */
  entry(name: string): string;
  remove(): Promise<void>;
}

/**
 * src/ compiled to JavaScript file by file (esbuild, as tsx itself transpiles
 * it; the tsconfig's isolatedModules makes that exact) into a temporary
 * directory, for tests that start the CLI or the gateway as a process: plain
 * Node runs it as `dist/` is run, without paying for tsx's loader in every
 * process (about 0.2 s each).
 */
export async function compileSources(): Promise<CompiledSources> {
  const root = process.cwd();
  const dir = await mkdtemp(join(tmpdir(), "imagegate-compiled-"));
  const files = (await readdir(join(root, "src"), { recursive: true }))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(root, "src", file));
  // esbuild is what tsx transpiles with (installed with it); loaded only here.
  const { build, stop } = await import("esbuild");
  try {
    await build({
      entryPoints: files,
      outdir: join(dir, "src"),
      outbase: join(root, "src"),
      format: "esm",
      platform: "node",
      target: "node20",
      tsconfig: join(root, "tsconfig.json"),
      logLevel: "silent",
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    // esbuild's service process is not left running for the rest of the worker's files.
    await stop();
  }
  // ESM, with the project's own packages.
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  await symlink(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  return {
    entry: (name) => join(dir, "src", name.replace(/\.ts$/, ".js")),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
