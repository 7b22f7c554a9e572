// buildTestApp(): a real gateway on a free port in front of a fresh upstream
// simulator, with a temporary data dir, one tenant and an OpenAI SDK client.
// Everything it starts, close() stops.
import { mkdtemp, rm } from "node:fs/promises";
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

export const adminToken = "test-admin-token-0123456789";
export const masterKey = Buffer.alloc(32, 7).toString("base64");
export const upstreamKey = "sim-key";

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
  deps?: AppDeps;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
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
  const app = await buildApp(config, { logger: false, ...options.deps });
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
      gateway.app = await buildApp(config, { logger: false, ...options.deps });
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
