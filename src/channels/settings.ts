// The operator's view of a channel: the admin API's and the CLI's bodies
// (snake_case, strict: a misspelt field is an error, not a silent default)
// and what they show back. The credential goes in and never comes out.
import { z } from "zod";
import { models as catalogue } from "../catalog/models.js";
import type { ChannelSettings } from "./channel.js";
import { providerKinds } from "./channel.js";
import type { ChannelHealth } from "./registry.js";
import type { ChannelChanges, NewChannel } from "./store.js";

const upstreamIds = new Set(catalogue.map((model) => model.id));

const name = z.string().trim().min(1).max(100);
/** An http(s) URL without credentials, query or fragment; kept without its trailing slash. */
const baseUrl = z
  .string()
  .trim()
  .max(2_000)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (
        (url.protocol === "http:" || url.protocol === "https:") &&
        url.username === "" &&
        url.password === "" &&
        url.search === "" &&
        url.hash === ""
      );
    } catch {
      return false;
    }
  }, "an http(s) URL without credentials, query or fragment")
  .transform((value) => value.replace(/\/+$/, ""));
const apiKey = z.string().trim().min(1).max(512);
const models = z
  .array(
    z
      .string()
      .trim()
      .refine((id) => upstreamIds.has(id), "not an upstream model id"),
  )
  .max(64);
const priority = z.number().int().min(-1_000).max(1_000);
/** 0: a standby, taken only when every channel of its priority with a weight cannot. */
const weight = z.number().int().min(0).max(1_000);
const maxConcurrent = z.number().int().min(1).max(1_000_000).nullable();

export const createChannelSchema = z.strictObject({
  name,
  provider: z.enum(providerKinds).default("async"),
  base_url: baseUrl,
  api_key: apiKey,
  models: models.optional(),
  priority: priority.optional(),
  weight: weight.optional(),
  max_concurrent: maxConcurrent.optional(),
  enabled: z.boolean().optional(),
});

export const updateChannelSchema = z
  .strictObject({
    name: name.optional(),
    provider: z.enum(providerKinds).optional(),
    base_url: baseUrl.optional(),
    api_key: apiKey.optional(),
    models: models.optional(),
    priority: priority.optional(),
    weight: weight.optional(),
    max_concurrent: maxConcurrent.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, "give at least one field to change");

/** An update body (snake_case) as the store's changes: each field given, renamed. */
export function channelChangesOf(body: z.output<typeof updateChannelSchema>): ChannelChanges {
  return {
    name: body.name,
    provider: body.provider,
    baseUrl: body.base_url,
    apiKey: body.api_key,
    models: body.models,
    priority: body.priority,
    weight: body.weight,
    maxConcurrent: body.max_concurrent,
    enabled: body.enabled,
  };
}

/** A create body as a new channel: the same renaming, with the required fields. */
export function newChannelOf(body: z.output<typeof createChannelSchema>): NewChannel {
  return {
    ...channelChangesOf(body),
    name: body.name,
    provider: body.provider,
    baseUrl: body.base_url,
    apiKey: body.api_key,
  };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

const int = () => z.number().int();

/**
 * What channelView shows, for the API's documentation (checked against it
 * in http/routes/admin-channels.ts).
 */
export const channelViewSchema = z.object({
  id: z.string(),
  object: z.literal("channel"),
  name: z.string(),
  provider: z.enum(providerKinds),
  base_url: z.string(),
  models: z.array(z.string()).describe("Upstream model ids it serves; empty: every model."),
  priority: int(),
  weight: int(),
  max_concurrent: int().nullable(),
  enabled: z.boolean(),
  source: z.enum(["admin", "environment", "tenant"]),
  created_at: int().nullable().describe("Unix seconds; null for a channel not made here."),
  health: z.object({
    circuit: z.enum(["closed", "open", "half-open"]),
    retry_after_seconds: int().nullable(),
    in_flight: int(),
    credential_refused: z
      .object({ at: int(), status: int().nullable(), code: z.string().nullable() })
      .nullable()
      .describe("When the upstream last refused the channel's key."),
  }),
});

/** A channel as the admin API and the CLI show it: settings and health, never the key. */
export function channelView(channel: ChannelSettings, health: ChannelHealth) {
  return {
    id: channel.id,
    object: "channel",
    name: channel.name,
    provider: channel.provider,
    base_url: channel.baseUrl,
    models: channel.models,
    priority: channel.priority,
    weight: channel.weight,
    max_concurrent: channel.maxConcurrent,
    enabled: channel.enabled,
    source: channel.source,
    created_at: channel.source === "admin" ? seconds(channel.createdAt) : null,
    health: {
      circuit: health.breaker,
      retry_after_seconds:
        health.blockedForMs === undefined ? null : Math.ceil(health.blockedForMs / 1000),
      in_flight: health.inFlight,
      credential_refused:
        health.credentialRefused === undefined
          ? null
          : {
              at: seconds(health.credentialRefused.at),
              status: health.credentialRefused.status ?? null,
              code: health.credentialRefused.code ?? null,
            },
    },
  };
}
