// The kinds of upstream the gateway talks to, one folder each: the table a
// channel's `provider` names. Adding a provider is a folder with its client
// (and its own parameter tables, when its models take other parameters than
// the catalogue's) and one entry here. Two styles:
// - "task": submit, then read and download (async/, the seed's API); the
//   shared poller waits for the task;
// - "sync": one call answers with the images (openai/, OpenAI-compatible);
//   the call in flight counts as a submitted task.
import type { Dispatcher } from "undici";
import { createUpstreamClient, type UpstreamClient } from "./async/client.js";
import { createOpenAIImagesClient, type SyncImagesClient } from "./openai/client.js";
import { openaiDefaultModels } from "./openai/models.js";

export type { UpstreamClient as TaskClient } from "./async/client.js";
export type { SyncImage, SyncImagesClient } from "./openai/client.js";

/** What every provider's client is made with. */
export interface ClientOptions {
  /** Shared by every channel (one undici Agent; a MockAgent in unit tests). */
  dispatcher: Dispatcher;
  /** Largest body the upstream takes: a larger submit is refused before it is sent. */
  maxBodyBytes?: number | undefined;
}

interface ProviderBase {
  /** Upstream model ids a channel serves when it lists none: "all" of the catalogue, or these. */
  defaultModels: "all" | readonly string[];
  /** How a channel's `base_url` is written for it (the operator's documentation). */
  baseUrlForm: string;
}

export type Provider =
  | (ProviderBase & {
      style: "task";
      /** A client for one base URL. */
      client(baseUrl: string, options: ClientOptions): UpstreamClient;
    })
  | (ProviderBase & {
      style: "sync";
      /** One client for every channel of the provider (it takes the base URL per call). */
      client(options: ClientOptions): SyncImagesClient;
    });

const withLimit = ({ dispatcher, maxBodyBytes }: ClientOptions) => ({
  dispatcher,
  ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
});

export const providers = {
  async: {
    style: "task",
    defaultModels: "all",
    baseUrlForm: "the host root, as IMAGEGATE_UPSTREAM_URL",
    client: (baseUrl, options) => createUpstreamClient({ baseUrl, ...withLimit(options) }),
  },
  openai: {
    style: "sync",
    defaultModels: openaiDefaultModels,
    baseUrlForm: "the OpenAI SDK's baseURL, ending in /v1",
    client: (options) => createOpenAIImagesClient(withLimit(options)),
  },
} as const satisfies Record<string, Provider>;

export type ProviderKind = keyof typeof providers;
export const providerKinds = Object.keys(providers) as [ProviderKind, ...ProviderKind[]];

/** Whether a provider serves an upstream model when its channel lists none. */
export function servesByDefault(kind: ProviderKind, upstreamModel: string): boolean {
  const { defaultModels } = providers[kind];
  return defaultModels === "all" || defaultModels.includes(upstreamModel);
}
