// The operator's channels as stored: the repository interface that routing
// and the admin API use. Implemented with SQL in stores/sqlite/channels.ts,
// where the credential is sealed with the master key on the way in and opened
// only when channels are loaded for routing; nothing returns it to a caller.
import type { Channel, ChannelSettings, ProviderKind } from "./channel.js";

export interface NewChannel {
  name: string;
  provider: ProviderKind;
  baseUrl: string;
  apiKey: string;
  models?: readonly string[] | undefined;
  priority?: number | undefined;
  weight?: number | undefined;
  maxConcurrent?: number | null | undefined;
  enabled?: boolean | undefined;
}

/** What a PATCH may change; undefined leaves a field as it is. */
export type ChannelChanges = Partial<Omit<NewChannel, "maxConcurrent">> & {
  maxConcurrent?: number | null | undefined;
};

export interface ChannelStore {
  list(): Promise<ChannelSettings[]>;
  get(id: string): Promise<ChannelSettings | undefined>;
  /** Every enabled and disabled channel with its credential opened, for the registry. */
  loadAll(): Promise<Channel[]>;
  create(input: NewChannel): Promise<ChannelSettings>;
  update(id: string, changes: ChannelChanges): Promise<ChannelSettings>;
  /** Throws channel_not_found for an unknown id. */
  remove(id: string): Promise<void>;
  /**
   * A number that changes with every change to the channels, whoever made
   * it (the admin API, the CLI on the same data dir): a running gateway
   * reloads when it moves.
   */
  version(): Promise<number>;
}

export const channelDefaults = { priority: 0, weight: 1, maxConcurrent: null, enabled: true };
