// The operator's channels in PostgreSQL (channels/store.ts's repository), as
// the embedded store keeps them (stores/channel-rows.ts): the credential
// sealed on the way in, opened only by loadAll(), and a version in meta bumped
// in the transaction of each change, so every replica sees a change move it.
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
import { inTransaction, isUniqueViolation, type Pool, type PoolClient } from "./database.js";

const columns = [
  "id",
  "name",
  "provider",
  "base_url",
  "credential_sealed",
  "models",
  "priority",
  "weight",
  "max_concurrent",
  "enabled",
  "created_at",
  "updated_at",
] as const satisfies readonly (keyof ChannelRow)[];

const insertSql = `INSERT INTO channels (${columns.join(", ")})
  VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`;
const insertValues = (row: ChannelRow) => columns.map((column) => row[column]);

// An update keeps the id and the creation time.
const changeable = columns.filter((column) => column !== "id" && column !== "created_at");
const updateSql = `UPDATE channels
  SET ${changeable.map((column, i) => `${column} = $${i + 2}`).join(", ")}
  WHERE id = $1`;
const updateValues = (row: ChannelRow) => [row.id, ...changeable.map((column) => row[column])];

const bumpSql = `INSERT INTO meta (key, value) VALUES ('channels_version', '1')
  ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text`;

export function createPostgresChannelStore(options: {
  pool: Pool;
  clock: Clock;
  masterKey: Buffer | undefined;
}): ChannelStore {
  const { pool, clock, masterKey } = options;

  const selectAll = async () =>
    (await pool.query<ChannelRow>("SELECT * FROM channels ORDER BY created_at, id")).rows;

  /** A change and the version's bump in one transaction. */
  const changing = <T>(change: (client: PoolClient) => Promise<T>): Promise<T> =>
    inTransaction(pool, async (client) => {
      const result = await change(client);
      await client.query(bumpSql);
      return result;
    });

  return {
    list: async () => (await selectAll()).map(settingsOf),
    async get(id) {
      const found = await pool.query<ChannelRow>("SELECT * FROM channels WHERE id = $1", [id]);
      const row = found.rows[0];
      return row ? settingsOf(row) : undefined;
    },
    async loadAll() {
      // Without the master key no stored credential can be opened (the
      // master-key check at start refuses a wrong one).
      if (!masterKey) return [];
      return (await selectAll()).map((row) => openedChannel(row, masterKey));
    },
    async create(input) {
      const next = newChannelRow(input, masterKey, clock.now());
      try {
        await changing((client) => client.query(insertSql, insertValues(next)));
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name);
        throw err;
      }
      return settingsOf(next);
    },
    async update(id, changes) {
      let next: ChannelRow | undefined;
      try {
        await changing(async (client) => {
          const found = await client.query<ChannelRow>(
            "SELECT * FROM channels WHERE id = $1 FOR UPDATE",
            [id],
          );
          const current = found.rows[0];
          if (!current) throw channelNotFound(id);
          next = changedChannelRow(current, changes, masterKey, clock.now());
          await client.query(updateSql, updateValues(next));
        });
      } catch (err) {
        if (next !== undefined && isUniqueViolation(err)) throw nameTaken(next.name);
        throw err;
      }
      return settingsOf(next as ChannelRow);
    },
    async remove(id) {
      await changing(async (client) => {
        const deleted = await client.query("DELETE FROM channels WHERE id = $1", [id]);
        if (deleted.rowCount === 0) throw channelNotFound(id);
      });
    },
    async version() {
      const found = await pool.query<{ value: string }>(
        "SELECT value FROM meta WHERE key = 'channels_version'",
      );
      return Number(found.rows[0]?.value ?? 0);
    },
  };
}
