// /admin/channels: the upstream accounts (DESIGN.md "Operator interface"),
// behind IMAGEGATE_ADMIN_TOKEN. The api_key is taken, sealed, and never shown.
// Every change reloads the registry, so the next request routes by it.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { defaultChannelId } from "../../channels/channel.js";
import type { ChannelRegistry } from "../../channels/registry.js";
import {
  channelChangesOf,
  channelView,
  channelViewSchema,
  createChannelSchema,
  newChannelOf,
  updateChannelSchema,
} from "../../channels/settings.js";
import type { ChannelStore } from "../../channels/store.js";
import type { Clock } from "../../clock.js";
import { type GatewayError, gatewayError } from "../../errors.js";
import type { GenerationRecords } from "../../generation/record.js";
import { adminAuth } from "../auth.js";
import { type Documents, documented, type Expect, type Tag } from "../openapi-docs.js";
import { channelUsageSchema, listOf } from "../openapi-schemas.js";
import { parseBody } from "../schemas.js";
import { usageQuerySchema, usageRange } from "../usage-range.js";

export interface AdminChannelRouteOptions {
  store: ChannelStore;
  registry: ChannelRegistry;
  ledger: GenerationRecords;
  clock: Clock;
  adminToken: string;
}

/** The documented view is the one channelView makes (checked when compiling). */
export type DocumentedChannel = Expect<
  Documents<z.output<typeof channelViewSchema>, ReturnType<typeof channelView>>
>;

const tags: Tag[] = ["Admin: channels"];
const channelParams = z.object({ id: z.string().describe("The channel id.") });

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

  const createDocs = documented({
    operationId: "adminCreateChannel",
    summary: "Add an upstream account",
    description: "The api_key is sealed (IMAGEGATE_MASTER_KEY) and never shown again.",
    tags,
    security: "admin",
    body: createChannelSchema,
    response: { 201: channelViewSchema },
    errors: ["channel_name_taken", "master_key_required"],
  });
  app.post("/channels", { schema: createDocs }, async (request, reply) => {
    const body = parseBody(createChannelSchema, request.body);
    const channel = await store.create(newChannelOf(body));
    await registry.reload();
    request.log.info({ channelId: channel.id, name: channel.name }, "admin: channel created");
    return reply.code(201).send(await view(channel.id));
  });

  const listDocs = documented({
    operationId: "adminListChannels",
    summary: "List the upstream accounts",
    description: "With each one's health: its circuit breaker, tasks in flight, a refused key.",
    tags,
    security: "admin",
    response: { 200: listOf(channelViewSchema) },
  });
  app.get("/channels", { schema: listDocs }, async () => {
    // Changes made on another replica or by the CLI are shown at once.
    await registry.refresh();
    return {
      object: "list",
      data: registry.shared().map((channel) => channelView(channel, registry.health(channel.id))),
    };
  });

  const getDocs = documented({
    operationId: "adminGetChannel",
    summary: "An upstream account",
    tags,
    security: "admin",
    params: channelParams,
    response: { 200: channelViewSchema },
    errors: ["channel_not_found"],
  });
  app.get<{ Params: { id: string } }>("/channels/:id", { schema: getDocs }, async (request) =>
    view(request.params.id),
  );

  const updateDocs = documented({
    operationId: "adminUpdateChannel",
    summary: "Change an upstream account",
    description:
      "The environment's channel (IMAGEGATE_UPSTREAM_URL) is changed through the environment only.",
    tags,
    security: "admin",
    params: channelParams,
    body: updateChannelSchema,
    response: { 200: channelViewSchema },
    errors: [
      "channel_not_found",
      "channel_from_environment",
      "channel_name_taken",
      "master_key_required",
    ],
  });
  app.patch<{ Params: { id: string } }>(
    "/channels/:id",
    { schema: updateDocs },
    async (request) => {
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
    },
  );

  const deleteDocs = documented({
    operationId: "adminDeleteChannel",
    summary: "Remove an upstream account",
    description: "Refused while it has tasks in flight: disable it first, delete it once they end.",
    tags,
    security: "admin",
    params: channelParams,
    response: {
      200: z.object({ id: z.string(), object: z.literal("channel"), deleted: z.literal(true) }),
    },
    errors: ["channel_not_found", "channel_from_environment", "channel_in_use"],
  });
  app.delete<{ Params: { id: string } }>(
    "/channels/:id",
    { schema: deleteDocs },
    async (request) => {
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
    },
  );

  const usageDocs = documented({
    operationId: "adminChannelUsage",
    summary: "What an upstream account was given, by day",
    description:
      "What the account will bill. The last 30 days (UTC) unless from and to say otherwise.",
    tags,
    security: "admin",
    params: channelParams,
    querystring: usageQuerySchema,
    response: { 200: channelUsageSchema },
    errors: ["channel_not_found", "invalid_value", "invalid_type"],
  });
  app.get<{ Params: { id: string } }>(
    "/channels/:id/usage",
    { schema: usageDocs },
    async (request) => {
      const { id } = request.params;
      await view(id);
      const { from, to } = usageRange(request.query, clock.now());
      return ledger.channelReport(id, from, to);
    },
  );
};
