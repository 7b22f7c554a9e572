// An "openai" channel (an OpenAI-compatible synchronous images API) in front
// of a simulator in its synchronous mode, and what that simulator saw.
import type { Simulator } from "../../src/simulator/server.js";
import { addChannel, type ChannelView } from "./channels.js";
import type { TestGateway } from "./gateway.js";

/**
 * Registers `sim` as an openai channel through the admin API, with the SDK's
 * baseURL form (…/v1). Priority 1 puts it ahead of ch_default (priority 0).
 */
export function addOpenAIChannel(
  gw: TestGateway,
  sim: Simulator,
  key: string,
  settings: Record<string, unknown> = {},
): Promise<ChannelView> {
  return addChannel(gw, {
    name: `openai-${Math.random().toString(36).slice(2, 10)}`,
    provider: "openai",
    base_url: `${sim.url}/v1`,
    api_key: key,
    priority: 1,
    ...settings,
  });
}

/** Synchronous calls (POST /v1/images/generations or /edits) that reached the simulator. */
export function syncCalls(sim: Simulator): number {
  return sim.counts.images;
}

/** Async-API calls of any route (submit, read, download) that reached the simulator. */
export function asyncCalls(sim: Simulator): number {
  return sim.counts.submit + sim.counts.read + sim.counts.download;
}
