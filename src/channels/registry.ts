// The channels in use: the operator's (from the store, reloaded after every
// change), the environment's default, and tenants' private ones. For each it
// keeps what routing needs at run time: a client for its base URL (one undici
// Agent for all of them), a circuit breaker, the tasks it has in flight
// against its max_concurrent, and whether its credential was last refused.
import { Agent, type Dispatcher } from "undici";
import type { Clock } from "../clock.js";
import type { UpstreamClient } from "../providers/async/client.js";

import type { UpstreamError } from "../providers/failures.js";
import { UpstreamError as UpstreamFailure } from "../providers/failures.js";
import { providers, type SyncImagesClient } from "../providers/index.js";
import {
  type BreakerRegistry,
  type CircuitBreaker,
  createBreakerRegistry,
  observedClient,
} from "../upstream/breaker.js";
import { type Channel, defaultChannelId, privateChannelId, serves } from "./channel.js";
import { routeOrder } from "./routing.js";
import { type ChannelStore, channelDefaults } from "./store.js";

/** Why the last submit through a channel was refused for its credential (401/403). */
export interface CredentialRefusal {
  at: number;
  status: number | undefined;
  code: string | undefined;
}

export interface ChannelHealth {
  breaker: CircuitBreaker["state"];
  /** While the breaker is open: how long until a probe may go. */
  blockedForMs: number | undefined;
  inFlight: number;
  credentialRefused: CredentialRefusal | undefined;
}

/** The channels a request may try, in order, and why others were left out. */
export interface RoutePlan {
  candidates: Channel[];
  /** Channels that serve the model, enabled (before health and capacity). */
  serving: number;
  /** The shortest wait until a breaker-blocked channel takes submits again. */
  blockedForMs: number | undefined;
  /** Some channel was left out for being at its max_concurrent. */
  busy: boolean;
}

export interface ChannelRegistry {
  /** The operator's and the environment's channels (not tenants' private ones). */
  shared(): Channel[];
  /** A channel by id, enabled or not: where a task accepted earlier is read. */
  byId(id: string): Channel | undefined;
  /** A tenant's own upstream key as the channel only that tenant uses. */
  privateChannel(tenantId: string, credential: string): Channel;
  /**
   * The channels to try for an upstream model: the given private channel
   * alone when there is one, else the shared channels that serve the model.
   */
  route(upstreamModel: string, privateChannel?: Channel): RoutePlan;
  /** Reads the operator's channels again (after the admin API or CLI changed them). */
  reload(): Promise<void>;
  /**
   * Reloads if the stored channels changed since the last load, whoever
   * changed them (another replica, the CLI): awaited before routing, so a
   * change takes effect at the next request.
   */
  refresh(): Promise<void>;
  /** The channel's client (an `async` channel); every call reports to its breaker. */
  client(channel: Channel): UpstreamClient;
  /** The channel's client (an `openai` channel); every call reports to its breaker. */
  syncClient(channel: Channel): SyncImagesClient;
  breaker(channelId: string): CircuitBreaker;
  /** Takes one of the channel's task slots; undefined when it is at max_concurrent (unless forced). */
  acquire(channel: Channel, force?: boolean): (() => void) | undefined;
  /** A submit through the channel was answered: a credential refusal is cleared. */
  accepted(channel: Channel): void;
  /** A submit through the channel was refused; 401/403 mark its credential. */
  refused(channel: Channel, err: UpstreamError): void;
  health(channelId: string): ChannelHealth;
  /**
   * Upstream models that some enabled shared channel serves, but none of
   * them can take a submit now (every breaker open). Empty: every model an
   * operator gave a channel is served.
   */
  unservedModels(upstreamModels: readonly string[]): string[];
  close(): Promise<void>;
}

/** Where the traffic through each channel is counted (the metrics); every call optional. */
export interface ChannelTraffic {
  /** A submit (or a synchronous call) answered: `accepted`, or the failure's kind. */
  submitted(channelId: string, model: string, outcome: string): void;
  /** A read of a task's status answered: `ok`, or the failure's kind. */
  read(channelId: string, outcome: string): void;
}

/** `ok`, or the kind of an upstream failure (`error` for anything else). */
const outcomeOf = (err: unknown) => (err instanceof UpstreamFailure ? err.kind : "error");

/** The client with its submits and reads counted for `channelId`. */
function countedClient(
  client: UpstreamClient,
  channelId: string,
  traffic: ChannelTraffic,
): UpstreamClient {
  return {
    async submit(credential, body) {
      const model = String(body.model ?? "");
      try {
        const taskId = await client.submit(credential, body);
        traffic.submitted(channelId, model, "accepted");
        return taskId;
      } catch (err) {
        traffic.submitted(channelId, model, outcomeOf(err));
        throw err;
      }
    },
    async read(credential, taskId) {
      try {
        const snapshot = await client.read(credential, taskId);
        traffic.read(channelId, "ok");
        return snapshot;
      } catch (err) {
        traffic.read(channelId, outcomeOf(err));
        throw err;
      }
    },
    download: (credential, taskId, index) => client.download(credential, taskId, index),
  };
}

export interface RegistryOptions {
  store: ChannelStore | undefined;
  clock: Clock;
  /** IMAGEGATE_UPSTREAM_URL: the default channel's base, and every private channel's. */
  upstreamUrl: string;
  /** IMAGEGATE_UPSTREAM_KEY: when set, the default channel. */
  upstreamKey: string | undefined;
  /** Largest submit body the upstream takes. */
  maxBodyBytes?: number | undefined;
  /** Shared by every channel's client; default an Agent the registry owns. */
  dispatcher?: Dispatcher | undefined;
  /** How long a channel whose credential was refused is passed over (default 60 s). */
  refusedCooldownMs?: number;
  /** How often refresh() asks the store whether the channels changed (default 0: every call). */
  reloadCheckMs?: number;
  /** Where a channel's circuit opening or closing, and a refused key, are reported. */
  log?: {
    warn(fields: object, message: string): void;
    info(fields: object, message: string): void;
  };
  random?: () => number;
  /** Counts submits and reads per channel (the metrics). */
  traffic?: ChannelTraffic | undefined;
}

/** Refusals that say the account, not the request, is the problem. */
const credentialStatuses = new Set([401, 403]);

export function createChannelRegistry(options: RegistryOptions): ChannelRegistry {
  const { clock } = options;
  const refusedCooldownMs = options.refusedCooldownMs ?? 60_000;
  const random = options.random ?? Math.random;
  const ownsDispatcher = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    new Agent({ connections: 128, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 });
  const breakers: BreakerRegistry = createBreakerRegistry({
    clock,
    onChange: (channelId, change) => {
      if (change === "opened") {
        options.log?.warn({ channel: channelId }, "channel circuit opened: its submits stop");
      } else options.log?.info({ channel: channelId }, "channel circuit closed: submits resume");
    },
  });
  const clients = new Map<string, UpstreamClient>();
  const observed = new Map<string, UpstreamClient>();
  const inFlight = new Map<string, number>();
  const refusals = new Map<string, CredentialRefusal>();
  const clientOptions = { dispatcher, maxBodyBytes: options.maxBodyBytes };
  const syncClients = new Map<string, SyncImagesClient>();

  /** A channel not in the store (the environment's, a tenant's own): the async API at IMAGEGATE_UPSTREAM_URL, every model, the defaults. */
  const unstoredChannel = (
    given: Pick<Channel, "id" | "name" | "credential" | "source" | "owner">,
  ): Channel => ({
    ...channelDefaults,
    ...given,
    provider: "async",
    baseUrl: options.upstreamUrl,
    models: [],
    createdAt: 0,
  });

  const environment: Channel | undefined =
    options.upstreamKey === undefined
      ? undefined
      : unstoredChannel({
          id: defaultChannelId,
          name: "default",
          credential: options.upstreamKey,
          source: "environment",
        });
  // Until the first reload (the plugin awaits one at start) only the environment's channel.
  let stored: Channel[] = [];
  let version = -1;
  let checkedAt = Number.NEGATIVE_INFINITY;
  const reloadCheckMs = options.reloadCheckMs ?? 0;
  const reload = async () => {
    const store = options.store;
    if (store === undefined) return;
    checkedAt = clock.now();
    // The version first: a change made between the two reads is seen at the next check.
    const next = await store.version();
    stored = await store.loadAll();
    version = next;
  };
  // One check at a time: concurrent requests share it.
  let checking: Promise<void> | undefined;
  const check = async (store: ChannelStore) => {
    try {
      if ((await store.version()) !== version) await reload();
    } finally {
      checking = undefined;
    }
  };
  const refresh = async () => {
    const store = options.store;
    if (store === undefined) return;
    if (checking === undefined) {
      if (clock.now() - checkedAt < reloadCheckMs) return;
      checkedAt = clock.now();
      checking = check(store);
    }
    await checking;
  };

  const shared = () => (environment ? [environment, ...stored] : stored);

  /** A task-style channel's client, one per provider and base URL. */
  function clientFor(channel: Channel): UpstreamClient {
    const provider = providers[channel.provider];
    if (provider.style !== "task") {
      throw new Error(`channel ${channel.id}: provider ${channel.provider} makes no task client`);
    }
    const key = `${channel.provider} ${channel.baseUrl}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = provider.client(channel.baseUrl, clientOptions);
      clients.set(key, client);
    }
    return client;
  }

  /** A sync-style provider's client, one per provider. */
  function syncClientFor(channel: Channel): SyncImagesClient {
    const provider = providers[channel.provider];
    if (provider.style !== "sync") {
      throw new Error(`channel ${channel.id}: provider ${channel.provider} makes no sync client`);
    }
    let client = syncClients.get(channel.provider);
    if (client === undefined) {
      client = provider.client(clientOptions);
      syncClients.set(channel.provider, client);
    }
    return client;
  }

  const refusedNow = (id: string) => {
    const refusal = refusals.get(id);
    return refusal !== undefined && clock.now() - refusal.at < refusedCooldownMs;
  };
  const atCapacity = (channel: Channel) =>
    channel.maxConcurrent !== null && (inFlight.get(channel.id) ?? 0) >= channel.maxConcurrent;

  return {
    shared,
    byId(id) {
      return shared().find((channel) => channel.id === id);
    },
    privateChannel(tenantId, credential) {
      return unstoredChannel({
        id: privateChannelId(tenantId),
        name: `tenant ${tenantId}`,
        credential,
        source: "tenant",
        owner: tenantId,
      });
    },
    route(upstreamModel, privateChannel) {
      const serving = privateChannel
        ? [privateChannel]
        : shared().filter((channel) => channel.enabled && serves(channel, upstreamModel));
      let blockedForMs: number | undefined;
      let busy = false;
      const ready: Channel[] = [];
      const refused: Channel[] = [];
      for (const channel of serving) {
        const blocked = breakers.blockedForMs(channel.id);
        if (blocked !== undefined) {
          blockedForMs = Math.min(blockedForMs ?? blocked, blocked);
        } else if (atCapacity(channel)) {
          busy = true;
        } else if (refusedNow(channel.id)) {
          refused.push(channel);
        } else {
          ready.push(channel);
        }
      }
      // A channel whose key was refused a moment ago is the last resort: its
      // refusal may have passed (a quota topped up), and the caller is better
      // served by one more try than by no channel at all.
      return {
        candidates: [...routeOrder(ready, random), ...routeOrder(refused, random)],
        serving: serving.length,
        blockedForMs,
        busy,
      };
    },
    reload,
    refresh,
    client(channel) {
      // Keyed by the base URL too: a channel moved to another URL gets a client for it.
      const key = `${channel.id} ${channel.baseUrl}`;
      let client = observed.get(key);
      if (client === undefined) {
        client = observedClient(clientFor(channel), breakers, channel.id);
        if (options.traffic !== undefined) {
          client = countedClient(client, channel.id, options.traffic);
        }
        observed.set(key, client);
      }
      return client;
    },
    syncClient(channel) {
      const breaker = () => breakers.of(channel.id);
      return {
        async create(baseUrl, credential, body, signal) {
          try {
            const images = await syncClientFor(channel).create(baseUrl, credential, body, signal);
            breaker().success();
            options.traffic?.submitted(channel.id, String(body.model ?? ""), "accepted");
            return images;
          } catch (err) {
            options.traffic?.submitted(channel.id, String(body.model ?? ""), outcomeOf(err));
            if (err instanceof UpstreamFailure) {
              // As observedClient: unwell counts, a local failure frees the probe, a refusal answered.
              if (err.kind === "local") breakers.abandonProbe(channel.id);
              else if (err.kind === "refused" || err.kind === "rate_limited") breaker().success();
              else breaker().failure("submit");
            }
            throw err;
          }
        },
        open: (baseUrl, credential, url) => syncClientFor(channel).open(baseUrl, credential, url),
      };
    },
    breaker: (channelId) => breakers.of(channelId),
    acquire(channel, force = false) {
      if (!force && atCapacity(channel)) return undefined;
      inFlight.set(channel.id, (inFlight.get(channel.id) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (inFlight.get(channel.id) ?? 1) - 1;
        if (left > 0) inFlight.set(channel.id, left);
        else inFlight.delete(channel.id);
      };
    },
    accepted(channel) {
      refusals.delete(channel.id);
    },
    refused(channel, err) {
      if (
        err.kind === "refused" &&
        err.status !== undefined &&
        credentialStatuses.has(err.status)
      ) {
        refusals.set(channel.id, { at: clock.now(), status: err.status, code: err.code });
        options.log?.warn(
          { channel: channel.id, status: err.status, code: err.code },
          "the upstream refused a channel's key; it goes last for a while",
        );
      }
    },
    health(channelId) {
      const breaker = breakers.peek(channelId);
      return {
        breaker: breaker?.state ?? "closed",
        blockedForMs: breaker?.blockedForMs(),
        inFlight: inFlight.get(channelId) ?? 0,
        credentialRefused: refusals.get(channelId),
      };
    },
    unservedModels(upstreamModels) {
      const enabled = shared().filter((channel) => channel.enabled);
      return upstreamModels.filter((model) => {
        const serving = enabled.filter((channel) => serves(channel, model));
        return (
          serving.length > 0 &&
          serving.every((channel) => breakers.blockedForMs(channel.id) !== undefined)
        );
      });
    },
    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}

/** Whether a submit's refusal says to try the next channel (nothing was created upstream). */
export function failsOver(err: UpstreamError): boolean {
  if (err.kind === "unreachable" || err.kind === "rate_limited") return true;
  if (err.kind !== "refused") return false;
  // The account's credential or quota, or a model this account does not have.
  return (
    (err.status !== undefined && credentialStatuses.has(err.status)) ||
    err.code === "model_not_found"
  );
}
