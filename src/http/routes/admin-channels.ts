// /admin/channels: the upstream accounts (DESIGN.md "Operator interface"),
// behind IMAGEGATE_ADMIN_TOKEN. The api_key is taken, sealed, and never shown.
// Every change reloads the registry, so the next request routes by it.
import type { FastifyPluginAsync } from "fastify";
import { defaultChannelId } from "../../channels/channel.js";
import type { ChannelRegistry } from "../../channels/registry.js";
import {
  channelChangesOf,
  channelView,
  createChannelSchema,
  newChannelOf,
  updateChannelSchema,
} from "../../channels/settings.js";
import type { ChannelStore } from "../../channels/store.js";
import type { Clock } from "../../clock.js";
import { type GatewayError, gatewayError } from "../../errors.js";
import type { GenerationRecords } from "../../generation/record.js";
import { adminAuth } from "../auth.js";
import { parseBody } from "../schemas.js";
import { usageRange } from "../usage-range.js";

export interface AdminChannelRouteOptions {
  store: ChannelStore;
  registry: ChannelRegistry;
  ledger: GenerationRecords;
  clock: Clock;
  adminToken: string;
}

function fromEnvironment(id: string): GatewayError {
  return gatewayError("channel_from_environment", { channel: id });
}

export const adminChannelRoutes: FastifyPluginAsync<AdminChannelRouteOptions> = async (
  app,
  options,
) => {
  const { store, registry, ledger, clock } = options;
  app.addHook("onRequest", adminAuth(options.adminToken));

  const view = async (id: string) => {
    await registry.refresh();
    const channel = registry.byId(id) ?? (await store.get(id));
    if (!channel) throw gatewayError("channel_not_found", { channel: id });
    return channelView(channel, registry.health(channel.id));
  };
  const storedOnly = (id: string) => {
    if (id === defaultChannelId && registry.byId(id)) throw fromEnvironment(id);
  };

  app.post("/channels", async (request, reply) => {
    const body = parseBody(createChannelSchema, request.body);
    const channel = await store.create(newChannelOf(body));
    await registry.reload();
    request.log.info({ channelId: channel.id, name: channel.name }, "admin: channel created");
    return reply.code(201).send(await view(channel.id));
  });

  app.get("/channels", async () => {
    // Changes made on another replica or by the CLI are shown at once.
    await registry.refresh();
    return {
      object: "list",
      data: registry.shared().map((channel) => channelView(channel, registry.health(channel.id))),
    };
  });

  app.get<{ Params: { id: string } }>("/channels/:id", async (request) => view(request.params.id));

  app.patch<{ Params: { id: string } }>("/channels/:id", async (request) => {
    storedOnly(request.params.id);
    const body = parseBody(updateChannelSchema, request.body);
    const channel = await store.update(request.params.id, channelChangesOf(body));
    await registry.reload();
    // Field names only: values may be secrets (api_key).
    request.log.info(
      { channelId: channel.id, fields: Object.keys(body) },
      "admin: channel updated",
    );
    return view(channel.id);
  });

  app.delete<{ Params: { id: string } }>("/channels/:id", async (request) => {
    const { id } = request.params;
    storedOnly(id);
    const shown = await view(id);
    // Its tasks in flight are read through it until they end: disable it first.
    if (shown.health.in_flight > 0) {
      throw gatewayError("channel_in_use", {
        channel: id,
        inFlight: shown.health.in_flight,
        disableWith: 'PATCH {"enabled": false}',
      });
    }
    await store.remove(id);
    await registry.reload();
    request.log.info({ channelId: id }, "admin: channel deleted");
    return { id, object: "channel", deleted: true };
  });

  app.get<{ Params: { id: string } }>("/channels/:id/usage", async (request) => {
    const { id } = request.params;
    await view(id);
    const { from, to } = usageRange(request.query, clock.now());
    return ledger.channelReport(id, from, to);
  });
};
