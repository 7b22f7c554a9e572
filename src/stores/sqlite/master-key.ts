// The master key seals upstream credentials: tenants' own upstream keys and
// the operator's channels. A check value sealed with it is kept in the store,
// so starting with the wrong key (or none, when credentials are sealed) fails
// at once with a clear message, and rotation re-seals everything in one
// transaction.
import { seal, UnsealError, unseal } from "../../tenancy/secrets.js";
import type { Db } from "./database.js";

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

const checkName = "master_key_check";
const checkPlaintext = "imagegate master key check v1";

/**
 * Every column that holds a credential sealed with the master key, in one
 * list so that the start check and rotation cannot cover different ones: a
 * column missed here would be left sealed with a key rotation throws away.
 */
const sealedColumns = [
  { owner: "tenant", table: "tenants", column: "upstream_key_sealed" },
  { owner: "channel", table: "channels", column: "credential_sealed" },
] as const;

type SealedColumn = (typeof sealedColumns)[number];

interface SealedCredential {
  /** Which table it is in, and so how an error names it ("tenant t_…", "channel ch_…"). */
  where: SealedColumn;
  id: string;
  sealed: string;
}

function storedCheck(db: Db): string | undefined {
  return db
    .prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?")
    .get(checkName)?.value;
}

function writeCheck(db: Db, masterKey: Buffer): void {
  db.prepare(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  ).run(checkName, seal(masterKey, checkPlaintext));
}

function opens(masterKey: Buffer, sealed: string): boolean {
  try {
    unseal(masterKey, sealed);
    return true;
  } catch (err) {
    if (err instanceof UnsealError) return false;
    throw err;
  }
}

function sealedIn(db: Db, where: SealedColumn): SealedCredential[] {
  // Table and column names come from the constant list above, never from input.
  return db
    .prepare<[], { id: string; sealed: string }>(
      `SELECT id, ${where.column} AS sealed FROM ${where.table} WHERE ${where.column} IS NOT NULL`,
    )
    .all()
    .map((row) => ({ where, id: row.id, sealed: row.sealed }));
}

function sealedCredentials(db: Db): SealedCredential[] {
  return sealedColumns.flatMap((where) => sealedIn(db, where));
}

/** At start: the configured master key must be the one the data dir was sealed with. */
export function checkMasterKey(db: Db, masterKey: Buffer | undefined): void {
  const check = storedCheck(db);
  if (masterKey === undefined) {
    if (sealedCredentials(db).length > 0) {
      throw new MasterKeyError(
        "IMAGEGATE_MASTER_KEY is not set, but the data dir holds sealed upstream credentials: set the key they were sealed with",
      );
    }
    return;
  }
  if (check === undefined) {
    const first = sealedCredentials(db)[0];
    if (first !== undefined && !opens(masterKey, first.sealed)) {
      throw new MasterKeyError(
        "IMAGEGATE_MASTER_KEY does not open the sealed upstream credentials in the data dir: it is not the key they were sealed with",
      );
    }
    writeCheck(db, masterKey);
    return;
  }
  if (!opens(masterKey, check)) {
    throw new MasterKeyError(
      "IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with (use `imagegate master-key rotate` to change it)",
    );
  }
}

function resealed(credential: SealedCredential, oldKey: Buffer, newKey: Buffer): string {
  let plaintext: string;
  try {
    plaintext = unseal(oldKey, credential.sealed);
  } catch {
    // The id only: never the value, sealed or not.
    throw new MasterKeyError(
      `the old master key does not open the upstream credential of ${credential.where.owner} ${credential.id}; nothing was changed`,
    );
  }
  return seal(newKey, plaintext);
}

/**
 * Re-seals every upstream credential (tenants' and channels') from `oldKey` to
 * `newKey`; returns how many. All or nothing: one that the old key does not
 * open leaves the data dir as it was.
 */
export function rotateMasterKey(db: Db, oldKey: Buffer, newKey: Buffer): number {
  const check = storedCheck(db);
  if (check !== undefined && !opens(oldKey, check)) {
    throw new MasterKeyError("the old master key is not the one this data dir was sealed with");
  }
  return db.transaction(() => {
    let count = 0;
    for (const where of sealedColumns) {
      const update = db.prepare<[string, string]>(
        `UPDATE ${where.table} SET ${where.column} = ? WHERE id = ?`,
      );
      for (const credential of sealedIn(db, where)) {
        update.run(resealed(credential, oldKey, newKey), credential.id);
        count++;
      }
    }
    writeCheck(db, newKey);
    return count;
  })();
}
