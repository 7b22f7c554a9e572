// The master key seals tenants' upstream credentials. A check value sealed
// with it is kept in the store, so starting with the wrong key (or none, when
// credentials are sealed) fails at once with a clear message, and rotation
// re-seals everything in one transaction.
import { seal, UnsealError, unseal } from "./secrets.js";
import type { Db } from "./store.js";

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

const checkName = "master_key_check";
const checkPlaintext = "imagegate master key check v1";

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

function sealedCredentials(db: Db): Array<{ id: string; upstream_key_sealed: string }> {
  return db
    .prepare<[], { id: string; upstream_key_sealed: string }>(
      "SELECT id, upstream_key_sealed FROM tenants WHERE upstream_key_sealed IS NOT NULL",
    )
    .all();
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
    if (first !== undefined && !opens(masterKey, first.upstream_key_sealed)) {
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

/** Re-seals every upstream credential from `oldKey` to `newKey`; returns how many. */
export function rotateMasterKey(db: Db, oldKey: Buffer, newKey: Buffer): number {
  const check = storedCheck(db);
  if (check !== undefined && !opens(oldKey, check)) {
    throw new MasterKeyError("the old master key is not the one this data dir was sealed with");
  }
  const update = db.prepare("UPDATE tenants SET upstream_key_sealed = ? WHERE id = ?");
  return db.transaction(() => {
    const rows = sealedCredentials(db);
    for (const row of rows) {
      let plaintext: string;
      try {
        plaintext = unseal(oldKey, row.upstream_key_sealed);
      } catch {
        throw new MasterKeyError(
          `the old master key does not open the upstream credential of tenant ${row.id}; nothing was changed`,
        );
      }
      update.run(seal(newKey, plaintext), row.id);
    }
    writeCheck(db, newKey);
    return rows.length;
  })();
}
