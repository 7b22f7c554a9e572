// The operator's channels as rows, whatever the engine: the row both stores
// keep, how a create or an update makes the next row (the credential sealed
// with the master key on the way in), what a caller sees of a row, and the
// errors both stores answer with. The SQL is each engine's own.
import type { Channel, ChannelSettings, ProviderKind } from "../channels/channel.js";
import { type ChannelChanges, channelDefaults, type NewChannel } from "../channels/store.js";
import { type GatewayError, gatewayError } from "../errors.js";
import { newId } from "../tenancy/ids.js";
import { seal, unseal } from "../tenancy/secrets.js";

export interface ChannelRow {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  credential_sealed: string;
  models: string;
  priority: number;
  weight: number;
  max_concurrent: number | null;
  enabled: number;
  created_at: number;
  updated_at: number;
}

export function settingsOf(row: ChannelRow): ChannelSettings {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider as ProviderKind,
    baseUrl: row.base_url,
    models: JSON.parse(row.models) as string[],
    priority: row.priority,
    weight: row.weight,
    maxConcurrent: row.max_concurrent,
    enabled: row.enabled === 1,
    source: "admin",
    createdAt: row.created_at,
  };
}

/** The settings with the credential opened, for the registry. */
export function openedChannel(row: ChannelRow, masterKey: Buffer): Channel {
  return { ...settingsOf(row), credential: unseal(masterKey, row.credential_sealed) };
}

function sealedCredential(masterKey: Buffer | undefined, apiKey: string): string {
  if (!masterKey) {
    throw gatewayError(
      "master_key_required",
      { secret: "a channel's api_key" },
      { param: "api_key" },
    );
  }
  return seal(masterKey, apiKey);
}

/** A new channel's row; throws master_key_required before anything is written. */
export function newChannelRow(
  input: NewChannel,
  masterKey: Buffer | undefined,
  now: number,
): ChannelRow {
  return {
    id: newId("ch"),
    name: input.name,
    provider: input.provider,
    base_url: input.baseUrl,
    credential_sealed: sealedCredential(masterKey, input.apiKey),
    models: JSON.stringify(input.models ?? []),
    priority: input.priority ?? channelDefaults.priority,
    weight: input.weight ?? channelDefaults.weight,
    max_concurrent: input.maxConcurrent ?? channelDefaults.maxConcurrent,
    enabled: (input.enabled ?? channelDefaults.enabled) ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
}

/** The row after `changes`: undefined fields stay as they are. */
export function changedChannelRow(
  current: ChannelRow,
  changes: ChannelChanges,
  masterKey: Buffer | undefined,
  now: number,
): ChannelRow {
  return {
    ...current,
    ...(changes.name === undefined ? {} : { name: changes.name }),
    ...(changes.provider === undefined ? {} : { provider: changes.provider }),
    ...(changes.baseUrl === undefined ? {} : { base_url: changes.baseUrl }),
    ...(changes.apiKey === undefined
      ? {}
      : { credential_sealed: sealedCredential(masterKey, changes.apiKey) }),
    ...(changes.models === undefined ? {} : { models: JSON.stringify(changes.models) }),
    ...(changes.priority === undefined ? {} : { priority: changes.priority }),
    ...(changes.weight === undefined ? {} : { weight: changes.weight }),
    ...(changes.maxConcurrent === undefined ? {} : { max_concurrent: changes.maxConcurrent }),
    ...(changes.enabled === undefined ? {} : { enabled: changes.enabled ? 1 : 0 }),
    updated_at: now,
  };
}

export function nameTaken(name: string): GatewayError {
  return gatewayError("channel_name_taken", { name });
}

export function channelNotFound(id: string): GatewayError {
  return gatewayError("channel_not_found", { channel: id });
}
