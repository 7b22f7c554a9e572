// `imagegate channels …`: the operator's upstream accounts in the store,
// the /admin/channels operations from the shell (DESIGN.md "Operator
// interface"). Bodies go through the admin API's own schemas, so the CLI
// accepts exactly what the API does; the api key is read from an environment
// variable named by a flag (out of shell history and ps) and never printed.
import { parseArgs } from "node:util";
import { type ChannelSettings, defaultChannelId } from "./channels/channel.js";
import type { ChannelHealth } from "./channels/registry.js";
import {
  channelChangesOf,
  channelView,
  createChannelSchema,
  newChannelOf,
  updateChannelSchema,
} from "./channels/settings.js";
import type { ChannelStore } from "./channels/store.js";
import { systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { gatewayError } from "./errors.js";
import { type GenerationRecords, utcDay } from "./generation/record.js";
import type { Stores } from "./stores/open.js";
import { isUtcDay, parseBody } from "./validation.js";

export const channelsUsage = `  channels create --name NAME --base-url URL --api-key-env VAR [--provider async]
                  [--models a,b] [--priority N] [--weight N] [--max-concurrent N]
                  [--disabled]
  channels list
  channels show CHANNEL
  channels update CHANNEL [--name NAME] [--base-url URL] [--api-key-env VAR]
                  [--provider async] [--models a,b|all] [--priority N] [--weight N]
                  [--max-concurrent N|none] [--enabled | --disabled]
  channels delete CHANNEL
  channels usage CHANNEL [--from YYYY-MM-DD] [--to YYYY-MM-DD]`;

export const channelsNotes = `Channels are the upstream accounts in the store (CHANNEL: an id or a
name); --models names upstream model ids, "all" (or none given) serves every
model of the channel's provider. The environment's default channel (IMAGEGATE_UPSTREAM_URL / _KEY) is not
stored: the CLI neither lists nor changes it (\`channels usage ch_default\` reads
its usage). Running gateways on the same store take a change made here up at
their next request; health (circuit, tasks in flight) is each running
gateway's, in GET /admin/channels.`;

/** A mistake in how the command was called; the CLI answers exit code 2 with one line. */
export class ChannelsUsageError extends Error {}

export interface ChannelsCommandDeps {
  /** Opens the store as the gateway does (the data dir made private first, the master key checked). */
  openStores(config: Config): Promise<Stores>;
  /** Writes the command's JSON result to stdout. */
  print(value: unknown): void;
}

/**
 * What the CLI shows for health: it runs without the gateway's registry, so
 * it has no breaker, slots or refusals to report, and says what a fresh start
 * would.
 */
const healthAtStart: ChannelHealth = {
  breaker: "closed",
  blockedForMs: undefined,
  inFlight: 0,
  credentialRefused: undefined,
};

const settingFlags = {
  name: { type: "string" },
  "base-url": { type: "string" },
  "api-key-env": { type: "string" },
  provider: { type: "string" },
  models: { type: "string" },
  priority: { type: "string" },
  weight: { type: "string" },
  "max-concurrent": { type: "string" },
  enabled: { type: "boolean" },
  disabled: { type: "boolean" },
} as const;

const dayFlags = { from: { type: "string" }, to: { type: "string" } } as const;

type SettingValues = ReturnType<typeof parseSettings>["values"];

/** node:util's parse errors (unknown flag, missing value) are usage mistakes, not failures. */
function asUsageError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")
    ? // Some of node's messages run over lines; the CLI answers a mistake in one.
      new ChannelsUsageError((err as Error).message.replace(/\s*\n\s*/g, " "))
    : err;
}

function parseSettings(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: settingFlags });
  } catch (err) {
    throw asUsageError(err);
  }
}

function parseDays(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: dayFlags });
  } catch (err) {
    throw asUsageError(err);
  }
}

/** The one CHANNEL of show and delete, which take no flags. */
function channelArg(args: string[], action: string): string {
  try {
    const { positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: {} });
    return onlyChannel(positionals, action);
  } catch (err) {
    throw asUsageError(err);
  }
}

function noArgs(args: string[], action: string): void {
  if (args.length > 0) throw new ChannelsUsageError(`channels ${action} takes no arguments`);
}

function onlyChannel(positionals: string[], action: string): string {
  const [ref, ...extra] = positionals;
  if (ref === undefined) throw new ChannelsUsageError(`channels ${action} needs CHANNEL`);
  if (extra.length > 0) {
    throw new ChannelsUsageError(`channels ${action} takes one CHANNEL, not ${positionals.length}`);
  }
  return ref;
}

/** "-3" → -3; the schema then checks its bounds, as the admin API's does. */
function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new ChannelsUsageError(`${flag} must be a whole number`);
  return Number(value);
}

/** "none" clears the limit (null); absent leaves it as it is. */
function limitFlag(value: string | undefined, flag: string): number | null | undefined {
  return value === "none" ? null : intFlag(value, flag);
}

/** "all" is the empty list: a channel with no models serves every model of its provider. */
function modelsFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === "all") return [];
  return value
    .split(",")
    .map((model) => model.trim())
    .filter((model) => model !== "");
}

function enabledFlag(values: SettingValues): boolean | undefined {
  if (values.enabled && values.disabled) {
    throw new ChannelsUsageError("give --enabled or --disabled, not both");
  }
  if (values.enabled) return true;
  return values.disabled ? false : undefined;
}

/** The api key, from the variable --api-key-env names; the message never holds a value. */
function apiKeyFromEnv(variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const value = process.env[variable];
  if (value === undefined || value.trim() === "") {
    throw new ChannelsUsageError(
      `environment variable ${variable} (named by --api-key-env) is empty`,
    );
  }
  return value;
}

/** The flags as the admin API's snake_case body, undefined fields left out. */
function bodyOf(values: SettingValues): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: values.name,
    provider: values.provider,
    base_url: values["base-url"],
    api_key: apiKeyFromEnv(values["api-key-env"]),
    models: modelsFlag(values.models),
    priority: intFlag(values.priority, "--priority"),
    weight: intFlag(values.weight, "--weight"),
    max_concurrent: limitFlag(values["max-concurrent"], "--max-concurrent"),
    enabled: enabledFlag(values),
  };
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

function requireFlags(values: SettingValues, flags: ReadonlyArray<keyof SettingValues>): void {
  const missing = flags.filter((flag) => values[flag] === undefined).map((flag) => `--${flag}`);
  if (missing.length > 0) {
    throw new ChannelsUsageError(`channels create needs ${missing.join(", ")}`);
  }
}

/** A stored channel by id, else by name (names are unique). */
async function channelOrFail(store: ChannelStore, ref: string): Promise<ChannelSettings> {
  const found =
    (await store.get(ref)) ?? (await store.list()).find((channel) => channel.name === ref);
  if (found) return found;
  if (ref === defaultChannelId) {
    throw gatewayError("channel_from_environment", { channel: ref, cli: true });
  }
  throw gatewayError("channel_not_found", { channel: ref });
}

const view = (channel: ChannelSettings) => channelView(channel, healthAtStart);

/** A command read and checked in full before the data dir is opened: a mistake writes nothing. */
type Command = (opened: Opened) => Promise<unknown>;

function create(args: string[]): Command {
  const { values, positionals } = parseSettings(args);
  if (positionals.length > 0) throw new ChannelsUsageError("channels create takes no CHANNEL");
  requireFlags(values, ["name", "base-url", "api-key-env"]);
  const body = parseBody(createChannelSchema, bodyOf(values));
  return async ({ store }) => view(await store.create(newChannelOf(body)));
}

function update(args: string[]): Command {
  const { values, positionals } = parseSettings(args);
  const ref = onlyChannel(positionals, "update");
  const body = parseBody(updateChannelSchema, bodyOf(values));
  return async ({ store }) =>
    view(await store.update((await channelOrFail(store, ref)).id, channelChangesOf(body)));
}

/**
 * Tasks the ledger has running through the channel. The admin API refuses to
 * delete a channel with tasks in flight; here the ledger is what knows them
 * (the gateway may be running, or stopped with tasks a restart resumes
 * through this channel and would otherwise lose).
 */
async function runningThrough(ledger: GenerationRecords, channelId: string): Promise<number> {
  return (await ledger.unfinished()).filter(
    (record) => record.state === "running" && record.channelId === channelId,
  ).length;
}

async function remove(store: ChannelStore, ledger: GenerationRecords, ref: string) {
  const channel = await channelOrFail(store, ref);
  const running = await runningThrough(ledger, channel.id);
  if (running > 0) {
    throw gatewayError("channel_in_use", {
      channel: channel.id,
      inFlight: running,
      disableWith: `channels update ${channel.id} --disabled`,
    });
  }
  await store.remove(channel.id);
  return { id: channel.id, object: "channel", deleted: true };
}

function day(value: string, flag: string): string {
  if (!isUtcDay(value)) throw new ChannelsUsageError(`${flag} ${value} is not a YYYY-MM-DD day`);
  return value;
}

function usageOf(args: string[]): Command {
  const { values, positionals } = parseDays(args);
  const ref = onlyChannel(positionals, "usage");
  const now = systemClock.now();
  const to = day(values.to ?? utcDay(now), "--to");
  const from = day(values.from ?? utcDay(now - 29 * 86_400_000), "--from");
  if (from > to) throw new ChannelsUsageError(`--from ${from} is after --to ${to}`);
  return async ({ store, ledger }) => {
    // The default channel is not stored, but the ledger holds what it was given.
    const id = ref === defaultChannelId ? ref : (await channelOrFail(store, ref)).id;
    return ledger.channelReport(id, from, to);
  };
}

interface Opened {
  store: ChannelStore;
  ledger: GenerationRecords;
}

/** The channels and the ledger of the configured store, after the gateway's own master-key check. */
async function withChannels<T>(
  config: Config,
  deps: ChannelsCommandDeps,
  run: (opened: Opened) => Promise<T>,
): Promise<T> {
  const stores = await deps.openStores(config);
  try {
    return await run({ store: stores.channels, ledger: stores.ledger });
  } finally {
    await stores.close();
  }
}

function commandOf(args: string[]): Command {
  const [action, ...rest] = args;
  switch (action) {
    case "create":
      return create(rest);
    case "list":
      noArgs(rest, "list");
      return async ({ store }) => ({ object: "list", data: (await store.list()).map(view) });
    case "show": {
      const ref = channelArg(rest, "show");
      return async ({ store }) => view(await channelOrFail(store, ref));
    }
    case "update":
      return update(rest);
    case "delete": {
      const ref = channelArg(rest, "delete");
      return async ({ store, ledger }) => remove(store, ledger, ref);
    }
    case "usage":
      return usageOf(rest);
    default:
      throw new ChannelsUsageError(`unknown channels command ${action ?? ""}`.trim());
  }
}

/** `imagegate channels ARGS`: prints the result as JSON; throws ChannelsUsageError for a bad call. */
export async function channelsCommand(
  args: string[],
  config: Config,
  deps: ChannelsCommandDeps,
): Promise<void> {
  const command = commandOf(args);
  deps.print(await withChannels(config, deps, command));
}
