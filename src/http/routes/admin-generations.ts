// What the operator watches (the console's live pages): the newest
// generations of every tenant, with their progress, lag and error, and the
// gateway's state of the moment. Behind IMAGEGATE_ADMIN_TOKEN, like /admin.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import type { GenerationService } from "../../generation/generate.js";
import {
  type GenerationRecord,
  type GenerationRecords,
  generationStates,
} from "../../generation/record.js";
import { parseBody } from "../../validation.js";
import { adminAuth } from "../auth.js";
import { documented } from "../openapi-docs.js";
import {
  gatewayStatusSchema,
  generationListSchema,
  generationParams,
  generationViewSchema,
} from "../openapi-schemas.js";

export interface AdminGenerationRouteOptions {
  ledger: GenerationRecords;
  generation: Pick<GenerationService, "inFlight" | "progress">;
  /** The channel registry, as far as the status shows it (http/ reaches channels/ through app.ts). */
  channels: {
    refresh(): Promise<void>;
    shared(): ReadonlyArray<{ id: string; name: string; enabled: boolean }>;
    health(channelId: string): { breaker: "closed" | "open" | "half-open"; inFlight: number };
  };
  clock: Clock;
  adminToken: string;
  /** When this process started serving (epoch ms). */
  startedAt: number;
}

export const listGenerationsQuery = z.object({
  tenant: z.string().min(1).max(100).optional(),
  state: z.enum(generationStates).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The last id of the previous page. */
  before: z.string().min(1).max(100).optional(),
});

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** One generation as the operator sees it. */
export function generationView(record: GenerationRecord, progress: number | undefined) {
  // Answered: its response went out in full, or (the async API, whose answer
  // is the stored outcome) it was stored; a synchronous caller that left was
  // never answered. As imagegate_result_lag_seconds measures it.
  const answeredAt =
    record.deliveredAt ?? (record.plan?.waited === true ? null : record.finishedAt);
  const live = record.state === "pending" || record.state === "running";
  return {
    id: record.id,
    object: "generation",
    tenant_id: record.tenantId,
    model: record.model,
    requested_model: record.requestedModel,
    n: record.n,
    state: record.state,
    channel_id: record.channelId,
    upstream_task_id: record.upstreamTaskId,
    images: record.images,
    created_at: seconds(record.createdAt),
    finished_at: seconds(record.finishedAt),
    delivered_at: seconds(record.deliveredAt),
    duration_ms: record.finishedAt === null ? null : record.finishedAt - record.createdAt,
    lag_ms:
      record.readyAt === null || answeredAt === null
        ? null
        : Math.max(0, answeredAt - record.readyAt),
    // Only this replica's reads: another replica's task shows none.
    progress: live ? (progress ?? null) : null,
    error: record.error,
  };
}

export const adminGenerationRoutes: FastifyPluginAsync<AdminGenerationRouteOptions> = async (
  app,
  options,
) => {
  const { ledger, generation, channels, clock } = options;
  app.addHook("onRequest", adminAuth(options.adminToken));

  const view = (record: GenerationRecord) => generationView(record, generation.progress(record.id));

  const listDocs = documented({
    operationId: "adminListGenerations",
    summary: "Recent generations, newest first",
    description:
      "Every tenant's, or one tenant's (`tenant`), or one state's; `limit` a page, the next page `before` the last id.",
    tags: ["Admin: generations"],
    security: "admin",
    querystring: listGenerationsQuery,
    response: { 200: generationListSchema },
    errors: ["invalid_value", "invalid_type", "integer_above_max_value", "integer_below_min_value"],
  });
  app.get("/generations", { schema: listDocs }, async (request) => {
    const query = parseBody(listGenerationsQuery, request.query ?? {});
    let before: { createdAt: number; id: string } | undefined;
    if (query.before !== undefined) {
      const cursor = await ledger.get(query.before);
      if (!cursor) {
        throw gatewayError(
          "invalid_value",
          { detail: `before: no generation '${query.before}'.` },
          { param: "before" },
        );
      }
      before = { createdAt: cursor.createdAt, id: cursor.id };
    }
    // One more than asked: whether there is a next page.
    const found = await ledger.recent({
      tenantId: query.tenant,
      state: query.state,
      limit: query.limit + 1,
      before,
    });
    return {
      object: "list",
      data: found.slice(0, query.limit).map(view),
      has_more: found.length > query.limit,
    };
  });

  const getDocs = documented({
    operationId: "adminGetGeneration",
    summary: "A generation",
    tags: ["Admin: generations"],
    security: "admin",
    params: generationParams,
    response: { 200: generationViewSchema },
    errors: ["generation_not_found"],
  });
  app.get<{ Params: { id: string } }>("/generations/:id", { schema: getDocs }, async (request) => {
    const record = await ledger.get(request.params.id);
    if (!record) throw gatewayError("generation_not_found", { generation: request.params.id });
    return view(record);
  });

  const statusDocs = documented({
    operationId: "adminStatus",
    summary: "The gateway's state of the moment",
    description: "Uptime, tasks in flight, and each channel's breaker.",
    tags: ["Admin: generations"],
    security: "admin",
    response: { 200: gatewayStatusSchema },
  });
  app.get("/status", { schema: statusDocs }, async () => {
    // Channels changed on another replica or by the CLI are shown at once.
    await channels.refresh();
    const now = clock.now();
    return {
      object: "status",
      started_at: seconds(options.startedAt),
      uptime_seconds: Math.floor((now - options.startedAt) / 1000),
      tasks_in_flight: generation.inFlight(),
      channels: channels.shared().map((channel) => {
        const health = channels.health(channel.id);
        return {
          id: channel.id,
          name: channel.name,
          enabled: channel.enabled,
          circuit: health.breaker,
          in_flight: health.inFlight,
        };
      }),
    };
  });
};
