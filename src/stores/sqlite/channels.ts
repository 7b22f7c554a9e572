// The operator's channels in the embedded database (channels/store.ts's
// repository). The credential is sealed with the master key on the way in and
// opened only by loadAll(), for the registry.
import type { ChannelSettings, ProviderKind } from "../../channels/channel.js";
import { type ChannelStore, channelDefaults } from "../../channels/store.js";
import type { Clock } from "../../clock.js";
import { type GatewayError, gatewayError } from "../../errors.js";
import { newId } from "../../tenancy/ids.js";
import { seal, unseal } from "../../tenancy/secrets.js";
import type { Db } from "./database.js";

interface ChannelRow {
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

function settingsOf(row: ChannelRow): ChannelSettings {
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

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";
}

function nameTaken(name: string): GatewayError {
  return gatewayError("channel_name_taken", { name });
}

export function createSqliteChannelStore(options: {
  db: Db;
  clock: Clock;
  masterKey: Buffer | undefined;
}): ChannelStore {
  const { db, clock, masterKey } = options;
  const selectAll = db.prepare<[], ChannelRow>("SELECT * FROM channels ORDER BY created_at, id");
  const selectOne = db.prepare<[string], ChannelRow>("SELECT * FROM channels WHERE id = ?");
  const insert = db.prepare(
    `INSERT INTO channels (id, name, provider, base_url, credential_sealed, models, priority,
       weight, max_concurrent, enabled, created_at, updated_at)
     VALUES (@id, @name, @provider, @base_url, @credential_sealed, @models, @priority,
       @weight, @max_concurrent, @enabled, @created_at, @updated_at)`,
  );
  const replace = db.prepare(
    `UPDATE channels SET name = @name, provider = @provider, base_url = @base_url,
       credential_sealed = @credential_sealed, models = @models, priority = @priority,
       weight = @weight, max_concurrent = @max_concurrent, enabled = @enabled,
       updated_at = @updated_at
     WHERE id = @id`,
  );
  const deleteOne = db.prepare<[string]>("DELETE FROM channels WHERE id = ?");
  const selectVersion = db.prepare<[], { value: string }>(
    "SELECT value FROM meta WHERE key = 'channels_version'",
  );
  const bumpVersion = db.prepare(
    `INSERT INTO meta (key, value) VALUES ('channels_version', '1')
     ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`,
  );
  /** A change and the version's bump in one transaction. */
  const changing = <T>(change: () => T): T =>
    db.transaction(() => {
      const result = change();
      bumpVersion.run();
      return result;
    })();

  function sealed(apiKey: string): string {
    if (!masterKey) {
      throw gatewayError(
        "master_key_required",
        { secret: "a channel's api_key" },
        { param: "api_key" },
      );
    }
    return seal(masterKey, apiKey);
  }

  function row(id: string): ChannelRow {
    const found = selectOne.get(id);
    if (!found) throw gatewayError("channel_not_found", { channel: id });
    return found;
  }

  return {
    list: () => selectAll.all().map(settingsOf),
    get(id) {
      const found = selectOne.get(id);
      return found ? settingsOf(found) : undefined;
    },
    loadAll() {
      // Without the master key no stored credential can be opened (the
      // master-key check at start refuses a wrong one).
      if (!masterKey) return [];
      return selectAll.all().map((found) => ({
        ...settingsOf(found),
        credential: unseal(masterKey, found.credential_sealed),
      }));
    },
    create(input) {
      const now = clock.now();
      const next: ChannelRow = {
        id: newId("ch"),
        name: input.name,
        provider: input.provider,
        base_url: input.baseUrl,
        credential_sealed: sealed(input.apiKey),
        models: JSON.stringify(input.models ?? []),
        priority: input.priority ?? channelDefaults.priority,
        weight: input.weight ?? channelDefaults.weight,
        max_concurrent: input.maxConcurrent ?? channelDefaults.maxConcurrent,
        enabled: (input.enabled ?? channelDefaults.enabled) ? 1 : 0,
        created_at: now,
        updated_at: now,
      };
      try {
        changing(() => insert.run(next));
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name);
        throw err;
      }
      return settingsOf(next);
    },
    update(id, changes) {
      const current = row(id);
      const next: ChannelRow = {
        ...current,
        ...(changes.name === undefined ? {} : { name: changes.name }),
        ...(changes.provider === undefined ? {} : { provider: changes.provider }),
        ...(changes.baseUrl === undefined ? {} : { base_url: changes.baseUrl }),
        ...(changes.apiKey === undefined ? {} : { credential_sealed: sealed(changes.apiKey) }),
        ...(changes.models === undefined ? {} : { models: JSON.stringify(changes.models) }),
        ...(changes.priority === undefined ? {} : { priority: changes.priority }),
        ...(changes.weight === undefined ? {} : { weight: changes.weight }),
        ...(changes.maxConcurrent === undefined ? {} : { max_concurrent: changes.maxConcurrent }),
        ...(changes.enabled === undefined ? {} : { enabled: changes.enabled ? 1 : 0 }),
        updated_at: clock.now(),
      };
      try {
        changing(() => replace.run(next));
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(next.name);
        throw err;
      }
      return settingsOf(next);
    },
    remove(id) {
      row(id);
      changing(() => deleteOne.run(id));
    },
    version: () => Number(selectVersion.get()?.value ?? 0),
  };
}
