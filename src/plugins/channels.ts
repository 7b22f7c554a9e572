// The upstream accounts: the registry of channels with their clients (one
// undici Agent), breakers and task slots. Closed after the generations, so
// that downloads still under way at shutdown finish on open connections.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Dispatcher } from "undici";
import {
  type ChannelRegistry,
  type ChannelTraffic,
  createChannelRegistry,
} from "../channels/registry.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { storePluginName } from "./store.js";

declare module "fastify" {
  interface FastifyInstance {
    channels: ChannelRegistry;
  }
}

export const channelsPluginName = "imagegate-channels";

export interface ChannelsPluginOptions {
  config: Config;
  clock: Clock;
  /** Shared by every channel's client (a MockAgent in unit tests); default an Agent it owns. */
  dispatcher?: Dispatcher | undefined;
  /** Counts submits and reads per channel (the metrics). */
  traffic?: ChannelTraffic | undefined;
}

async function channels(app: FastifyInstance, options: ChannelsPluginOptions): Promise<void> {
  const registry = createChannelRegistry({
    store: app.store.channelStore,
    clock: options.clock,
    upstreamUrl: options.config.upstreamUrl,
    upstreamKey: options.config.upstreamKey,
    maxBodyBytes: options.config.upstreamMaxBodyBytes,
    dispatcher: options.dispatcher,
    log: app.log,
    traffic: options.traffic,
  });
  await registry.reload();
  app.decorate("channels", registry);
  app.addHook("onClose", async () => {
    await registry.close();
  });
}

export const channelsPlugin = fp(channels, {
  name: channelsPluginName,
  dependencies: [storePluginName],
  fastify: "5.x",
});
