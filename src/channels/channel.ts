// A channel is one upstream account: where it is, the credential it submits
// with, which models it serves and how much of the traffic it takes.
// Channels come from three places: the operator's (the admin API and the CLI,
// kept in the database with the credential sealed), the one that
// IMAGEGATE_UPSTREAM_URL / _KEY define, and a private one for each tenant that
// brings its own upstream key (used by that tenant alone).

import { type ProviderKind, servesByDefault } from "../providers/index.js";

export { type ProviderKind, providerKinds } from "../providers/index.js";

export type ChannelSource = "admin" | "environment" | "tenant";

/** A channel's settings, never its credential. */
export interface ChannelSettings {
  id: string;
  name: string;
  provider: ProviderKind;
  /** As the provider's own clients write it: for `async` the host root, for `openai` the SDK's baseURL (…/v1). */
  baseUrl: string;
  /** Upstream model ids it serves; empty: every model of its provider. */
  models: readonly string[];
  /** Higher first; channels of one priority share the traffic by weight. */
  priority: number;
  weight: number;
  /** The account's own limit on tasks in flight; null: none. */
  maxConcurrent: number | null;
  enabled: boolean;
  source: ChannelSource;
  /** The tenant a private channel belongs to. */
  owner?: string | undefined;
  createdAt: number;
}

/** A channel ready to route to: its settings and the credential it submits with. */
export interface Channel extends ChannelSettings {
  credential: string;
}

export const defaultChannelId = "ch_default";

/** The id of a tenant's private channel (stable: generation records point at it). */
export function privateChannelId(tenantId: string): string {
  return `tenant:${tenantId}`;
}

/** Whether a channel serves an upstream model: those it lists, else every model of its provider. */
export function serves(channel: ChannelSettings, upstreamModel: string): boolean {
  if (channel.models.length > 0) return channel.models.includes(upstreamModel);
  return servesByDefault(channel.provider, upstreamModel);
}
