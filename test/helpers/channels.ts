// Helpers for tests that run several upstream simulators as channels: the
// admin API's channel calls, extra simulators closed with the gateway, and a
// wait on a condition with a deadline (never a fixed sleep).
import { lookup } from "node:dns";
import type { HTTPMethods, LightMyRequestResponse } from "fastify";
import { Agent } from "undici";
import {
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from "../../src/simulator/server.js";
import { adminToken, type TestGateway } from "./gateway.js";

/** A channel as GET /admin/channels/:id shows it. */
export interface ChannelView {
  id: string;
  object: "channel";
  name: string;
  provider: string;
  base_url: string;
  models: string[];
  priority: number;
  weight: number;
  max_concurrent: number | null;
  enabled: boolean;
  source: "admin" | "environment" | "tenant";
  created_at: number | null;
  health: {
    circuit: "closed" | "open" | "half-open";
    retry_after_seconds: number | null;
    in_flight: number;
    credential_refused: { at: number; status: number | null; code: string | null } | null;
  };
}

/** One admin API call through inject, with the admin token. */
export function admin(
  gw: TestGateway,
  method: HTTPMethods,
  url: string,
  payload?: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return gw.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${adminToken}` },
    ...(payload === undefined ? {} : { payload }),
  });
}

/** Creates a channel (POST /admin/channels); throws unless it answers 201. */
export async function addChannel(
  gw: TestGateway,
  body: Record<string, unknown>,
): Promise<ChannelView> {
  const created = await admin(gw, "POST", "/admin/channels", body);
  if (created.statusCode !== 201) throw new Error(`channel creation failed: ${created.body}`);
  return created.json<ChannelView>();
}

/** GET /admin/channels/:id; throws unless it answers 200. */
export async function channel(gw: TestGateway, id: string): Promise<ChannelView> {
  const shown = await admin(gw, "GET", `/admin/channels/${encodeURIComponent(id)}`);
  if (shown.statusCode !== 200) throw new Error(`channel ${id}: ${shown.statusCode} ${shown.body}`);
  return shown.json<ChannelView>();
}

/** Submit requests that reached the simulator, accepted or not. */
export function submitAttempts(sim: Simulator): number {
  return sim.requests.filter((r) => r.route === "submit").length;
}

/** Extra simulators for a test; closeAll() in afterEach. */
export function simulatorPool() {
  const started: Simulator[] = [];
  return {
    async start(keys: string[], options: SimulatorOptions = {}): Promise<Simulator> {
      const sim = await startSimulator({ ...options, keys });
      started.push(sim);
      return sim;
    },
    async closeAll(): Promise<void> {
      const all = started.splice(0);
      await Promise.all(all.map((sim) => sim.close()));
    },
  };
}

/**
 * Polls `condition` until it holds; fails with `what` once `timeoutMs` has
 * passed. For outcomes that land just after a response (a record written, a
 * task slot released), not a substitute for waiting on the event itself.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An undici Agent (for AppDeps.upstreamDispatcher) on which a lookup of
 * `host` fails at once with ENOTFOUND, as a DNS failure does, whatever the
 * machine's resolver (a missing DNS server would take seconds to say so).
 */
export function agentWithUnresolvable(host: string): Agent {
  return new Agent({
    connect: {
      lookup: ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
        if (hostname !== host) {
          lookup(hostname, options, callback as never);
          return;
        }
        const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
          code: "ENOTFOUND",
          hostname,
        });
        process.nextTick(() => callback(err));
      }) as never,
    },
  });
}
