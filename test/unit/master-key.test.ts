// The master key covers every sealed credential: tenants' upstream keys and
// channels' api keys. A data dir holding only channel credentials is refused
// without the key or with a wrong one, and rotation re-seals channels with
// tenants, all or nothing.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import {
  checkMasterKey,
  type MasterKeyAccess,
  MasterKeyError,
  rotateMasterKey,
} from "../../src/stores/master-key.js";
import { createSqliteChannelStore } from "../../src/stores/sqlite/channels.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { sqliteMasterKey } from "../../src/stores/sqlite/master-key.js";
import { createSqliteTenantStore } from "../../src/stores/sqlite/tenants.js";
import { UnsealError } from "../../src/tenancy/secrets.js";
import { createVault } from "../../src/tenancy/vault.js";

let dataDir: string;
let db: Db;
let access: MasterKeyAccess;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-master-key-"));
  db = openStore(dataDir);
  access = sqliteMasterKey(db);
});
afterEach(async () => {
  db.close();
  await rm(dataDir, { recursive: true, force: true });
});

const key = () => randomBytes(32);

function channels(masterKey: Buffer) {
  return createSqliteChannelStore({ db, clock: systemClock, masterKey });
}

async function addChannel(masterKey: Buffer, name: string, apiKey: string): Promise<string> {
  const created = await channels(masterKey).create({
    name,
    provider: "async",
    baseUrl: "https://upstream.example",
    apiKey,
  });
  return created.id;
}

async function addTenant(masterKey: Buffer, upstreamKey: string): Promise<string> {
  const vault = createVault({ store: createSqliteTenantStore(db), clock: systemClock, masterKey });
  return (await vault.createTenant({ name: "byok", upstreamKey })).tenant.id;
}

describe("master key over channel credentials", () => {
  it("refuses a data dir holding only channel credentials without the key", async () => {
    await addChannel(key(), "only", "sk-channel-1");
    await expect(checkMasterKey(access, undefined)).rejects.toThrow(
      /IMAGEGATE_MASTER_KEY is not set/,
    );
  });

  it("refuses a wrong key when no check value was written yet, and accepts the right one", async () => {
    const right = key();
    // The store seals without writing the check value: the credential itself is checked.
    await addChannel(right, "only", "sk-channel-1");
    await expect(checkMasterKey(access, key())).rejects.toThrow(MasterKeyError);
    await expect(checkMasterKey(access, key())).rejects.toThrow(
      /does not open the sealed upstream credentials/,
    );
    await checkMasterKey(access, right);
    // Now the check value is written, and a wrong key is refused by it.
    await expect(checkMasterKey(access, key())).rejects.toThrow(
      /not the key this data dir was sealed with/,
    );
  });

  it("re-seals channels with tenants in one rotation, counting both", async () => {
    const oldKey = key();
    const newKey = key();
    await checkMasterKey(access, oldKey);
    const tenantId = await addTenant(oldKey, "sk-tenant-1");
    await addChannel(oldKey, "a", "sk-channel-a");
    await addChannel(oldKey, "b", "sk-channel-b");

    expect(await rotateMasterKey(access, oldKey, newKey)).toBe(3);

    const opened = (await channels(newKey).loadAll()).map((channel) => channel.credential);
    expect(opened.sort()).toEqual(["sk-channel-a", "sk-channel-b"]);
    await expect(channels(oldKey).loadAll()).rejects.toThrow(UnsealError);
    const vault = createVault({
      store: createSqliteTenantStore(db),
      clock: systemClock,
      masterKey: newKey,
    });
    const tenant = await vault.getTenant(tenantId);
    expect(tenant && (await vault.upstreamCredential(tenant))).toBe("sk-tenant-1");
    await checkMasterKey(access, newKey);
    await expect(checkMasterKey(access, oldKey)).rejects.toThrow(MasterKeyError);
  });

  it("names the channel the old key does not open, and changes nothing", async () => {
    const oldKey = key();
    await checkMasterKey(access, oldKey);
    await addTenant(oldKey, "sk-tenant-1");
    await addChannel(oldKey, "good", "sk-channel-good");
    // Sealed with some other key: a data dir mended by hand, say.
    const stray = await addChannel(key(), "stray", "sk-channel-stray");
    const before = db.prepare("SELECT * FROM channels ORDER BY id").all();

    await expect(rotateMasterKey(access, oldKey, key())).rejects.toThrow(
      `the old master key does not open the upstream credential of channel ${stray}; nothing was changed`,
    );
    expect(db.prepare("SELECT * FROM channels ORDER BY id").all()).toEqual(before);
    // Still sealed with the old key: the check value and the tenant's credential too.
    await checkMasterKey(access, oldKey);
  });

  it("never puts a credential in its errors", async () => {
    const apiKey = "sk-channel-secret-42";
    await addChannel(key(), "only", apiKey);
    for (const attempt of [
      () => checkMasterKey(access, key()),
      () => rotateMasterKey(access, key(), key()),
    ]) {
      const err = await attempt().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(err).toBeInstanceOf(MasterKeyError);
      expect(String((err as Error).message)).not.toContain(apiKey);
    }
  });
});
