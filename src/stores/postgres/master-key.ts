// The master key's check value and sealed credentials in PostgreSQL: what
// stores/master-key.ts needs to check the key at start and to rotate it.
import {
  type MasterKeyAccess,
  masterKeyCheckName,
  type SealedColumn,
  type SealedCredential,
  sealedColumns,
} from "../master-key.js";
import { inTransaction, type Pool, type PoolClient } from "./database.js";

/** An arbitrary constant: the advisory lock a rotation holds for its transaction. */
const rotationLock = 0x1a6e_6b7e;

async function sealedIn(
  db: Pool | PoolClient,
  where: SealedColumn,
  forUpdate = false,
): Promise<SealedCredential[]> {
  // Table and column names come from the constant list, never from input.
  const found = await db.query<{ id: string; sealed: string }>(
    `SELECT id, ${where.column} AS sealed FROM ${where.table}
      WHERE ${where.column} IS NOT NULL ORDER BY id${forUpdate ? " FOR UPDATE" : ""}`,
  );
  return found.rows.map((row) => ({ where, id: row.id, sealed: row.sealed }));
}

async function readCheck(db: Pool | PoolClient): Promise<string | undefined> {
  const found = await db.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [
    masterKeyCheckName,
  ]);
  return found.rows[0]?.value;
}

export function postgresMasterKey(pool: Pool): MasterKeyAccess {
  return {
    readCheck: () => readCheck(pool),
    async initCheck(check) {
      await pool.query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        [masterKeyCheckName, check],
      );
      return (await readCheck(pool)) as string;
    },
    sealedIn: (where) => sealedIn(pool, where),
    reseal: (change) =>
      inTransaction(pool, async (client) => {
        // Two rotations run one after the other: the second reads the first's
        // check value, which its old key no longer opens. The row locks keep
        // other writers of these credentials waiting until the commit.
        await client.query("SELECT pg_advisory_xact_lock($1)", [rotationLock]);
        const check = await readCheck(client);
        const credentials: SealedCredential[] = [];
        for (const where of sealedColumns)
          credentials.push(...(await sealedIn(client, where, true)));
        const next = change({ check, credentials });
        for (const credential of next.credentials) {
          const { table, column } = credential.where;
          await client.query(`UPDATE ${table} SET ${column} = $1 WHERE id = $2`, [
            credential.sealed,
            credential.id,
          ]);
        }
        await client.query(
          `INSERT INTO meta (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [masterKeyCheckName, next.check],
        );
      }),
  };
}
