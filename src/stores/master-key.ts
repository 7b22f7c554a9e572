// The master key seals upstream credentials: tenants' own upstream keys and
// the operator's channels. A check value sealed with it is kept in the store,
// so starting with the wrong key (or none, when credentials are sealed) fails
// at once with a clear message, and rotation re-seals everything in one
// transaction. The logic is here; each engine gives its MasterKeyAccess
// (stores/sqlite/master-key.ts, stores/postgres/master-key.ts).
import { seal, UnsealError, unseal } from "../tenancy/secrets.js";

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

/** The meta key the check value is kept under. */
export const masterKeyCheckName = "master_key_check";
const checkPlaintext = "imagegate master key check v1";

/**
 * Every column that holds a credential sealed with the master key, in one
 * list so that the start check and rotation cannot cover different ones: a
 * column missed here would be left sealed with a key rotation throws away.
 */
export const sealedColumns = [
  { owner: "tenant", table: "tenants", column: "upstream_key_sealed" },
  { owner: "channel", table: "channels", column: "credential_sealed" },
] as const;

export type SealedColumn = (typeof sealedColumns)[number];

export interface SealedCredential {
  /** Which table it is in, and so how an error names it ("tenant t_…", "channel ch_…"). */
  where: SealedColumn;
  id: string;
  sealed: string;
}

/** What rotation reads, in its transaction. */
export interface SealedState {
  /** The check value as stored; undefined before the first start with a key. */
  check: string | undefined;
  /** Every sealed credential, column by column of sealedColumns. */
  credentials: SealedCredential[];
}

/** What an engine does for the check and for rotation. */
export interface MasterKeyAccess {
  readCheck(): Promise<string | undefined>;
  /** Stores `check` unless a check value is there already; returns the one stored. */
  initCheck(check: string): Promise<string>;
  /** The credentials sealed in one column (ordered by id). */
  sealedIn(where: SealedColumn): Promise<SealedCredential[]>;
  /**
   * One transaction, with other rotations kept out: reads the state, writes
   * what `change` makes of it (each credential by its where and id, and the
   * check value). A throw from `change` writes nothing.
   */
  reseal(change: (state: SealedState) => SealedState & { check: string }): Promise<void>;
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

async function firstSealed(access: MasterKeyAccess): Promise<SealedCredential | undefined> {
  for (const where of sealedColumns) {
    const found = (await access.sealedIn(where))[0];
    if (found !== undefined) return found;
  }
  return undefined;
}

const notTheKey =
  "IMAGEGATE_MASTER_KEY is not the key this data dir was sealed with (use `imagegate master-key rotate` to change it)";

/** At start: the configured master key must be the one the data dir was sealed with. */
export async function checkMasterKey(
  access: MasterKeyAccess,
  masterKey: Buffer | undefined,
): Promise<void> {
  const check = await access.readCheck();
  if (masterKey === undefined) {
    if ((await firstSealed(access)) !== undefined) {
      throw new MasterKeyError(
        "IMAGEGATE_MASTER_KEY is not set, but the data dir holds sealed upstream credentials: set the key they were sealed with",
      );
    }
    return;
  }
  if (check === undefined) {
    const first = await firstSealed(access);
    if (first !== undefined && !opens(masterKey, first.sealed)) {
      throw new MasterKeyError(
        "IMAGEGATE_MASTER_KEY does not open the sealed upstream credentials in the data dir: it is not the key they were sealed with",
      );
    }
    // Another replica may have written its check in the meantime: it must be ours too.
    const stored = await access.initCheck(seal(masterKey, checkPlaintext));
    if (!opens(masterKey, stored)) throw new MasterKeyError(notTheKey);
    return;
  }
  if (!opens(masterKey, check)) throw new MasterKeyError(notTheKey);
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
export async function rotateMasterKey(
  access: MasterKeyAccess,
  oldKey: Buffer,
  newKey: Buffer,
): Promise<number> {
  let count = 0;
  await access.reseal(({ check, credentials }) => {
    if (check !== undefined && !opens(oldKey, check)) {
      throw new MasterKeyError("the old master key is not the one this data dir was sealed with");
    }
    count = credentials.length;
    return {
      check: seal(newKey, checkPlaintext),
      credentials: credentials.map((credential) => ({
        ...credential,
        sealed: resealed(credential, oldKey, newKey),
      })),
    };
  });
  return count;
}
