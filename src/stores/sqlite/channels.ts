// The operator's channels in the embedded database (channels/store.ts's
// repository). The credential is sealed with the master key on the way in and
// opened only by loadAll(), for the registry; the rows themselves are made in
// stores/channel-rows.ts, shared with PostgreSQL.
import type { ChannelStore } from "../../channels/store.js";
import type { Clock } from "../../clock.js";
import {
  type ChannelRow,
  changedChannelRow,
  channelNotFound,
  nameTaken,
  newChannelRow,
  openedChannel,
  settingsOf,
} from "../channel-rows.js";
import type { Db } from "./database.js";

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";
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

  function row(id: string): ChannelRow {
    const found = selectOne.get(id);
    if (!found) throw channelNotFound(id);
    return found;
  }

  return {
    list: async () => selectAll.all().map(settingsOf),
    async get(id) {
      const found = selectOne.get(id);
      return found ? settingsOf(found) : undefined;
    },
    async loadAll() {
      // Without the master key no stored credential can be opened (the
      // master-key check at start refuses a wrong one).
      if (!masterKey) return [];
      return selectAll.all().map((found) => openedChannel(found, masterKey));
    },
    async create(input) {
      const next = newChannelRow(input, masterKey, clock.now());
      try {
        changing(() => insert.run(next));
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name);
        throw err;
      }
      return settingsOf(next);
    },
    async update(id, changes) {
      const next = changedChannelRow(row(id), changes, masterKey, clock.now());
      try {
        changing(() => replace.run(next));
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(next.name);
        throw err;
      }
      return settingsOf(next);
    },
    async remove(id) {
      row(id);
      changing(() => deleteOne.run(id));
    },
    version: async () => Number(selectVersion.get()?.value ?? 0),
  };
}
