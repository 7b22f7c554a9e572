// The master key's check value and sealed credentials in the embedded database:
// what stores/master-key.ts needs to check the key at start and to rotate it.
import {
  type MasterKeyAccess,
  masterKeyCheckName,
  type SealedColumn,
  type SealedCredential,
  sealedColumns,
} from "../master-key.js";
import type { Db } from "./database.js";

function sealedIn(db: Db, where: SealedColumn): SealedCredential[] {
  // Table and column names come from the constant list, never from input.
  return db
    .prepare<[], { id: string; sealed: string }>(
      `SELECT id, ${where.column} AS sealed FROM ${where.table}
        WHERE ${where.column} IS NOT NULL ORDER BY id`,
    )
    .all()
    .map((row) => ({ where, id: row.id, sealed: row.sealed }));
}

export function sqliteMasterKey(db: Db): MasterKeyAccess {
  const selectCheck = db.prepare<[string], { value: string }>(
    "SELECT value FROM meta WHERE key = ?",
  );
  const insertCheck = db.prepare(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
  );
  const writeCheck = db.prepare(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  );
  const readCheck = () => selectCheck.get(masterKeyCheckName)?.value;

  return {
    readCheck: async () => readCheck(),
    async initCheck(check) {
      insertCheck.run(masterKeyCheckName, check);
      return readCheck() as string;
    },
    sealedIn: async (where) => sealedIn(db, where),
    async reseal(change) {
      // IMMEDIATE: the write lock from the first read, so a rotation by
      // another process (the CLI beside a gateway) waits rather than interleaves.
      db.transaction(() => {
        const next = change({
          check: readCheck(),
          credentials: sealedColumns.flatMap((where) => sealedIn(db, where)),
        });
        for (const credential of next.credentials) {
          const { table, column } = credential.where;
          db.prepare(`UPDATE ${table} SET ${column} = ? WHERE id = ?`).run(
            credential.sealed,
            credential.id,
          );
        }
        writeCheck.run(masterKeyCheckName, next.check);
      }).immediate();
    },
  };
}
