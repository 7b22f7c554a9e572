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
import { createSqliteChannelStore } from "../../src/stores/sqlite/channels.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import {
  checkMasterKey,
  MasterKeyError,
  rotateMasterKey,
} from "../../src/stores/sqlite/master-key.js";
import { createSqliteTenantStore } from "../../src/stores/sqlite/tenants.js";
import { UnsealError } from "../../src/tenancy/secrets.js";
import { createVault } from "../../src/tenancy/vault.js";

let dataDir: string;
let db: Db;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-master-key-"));
  db = openStore(dataDir);
});
afterEach(async () => {
  db.close();
  await rm(dataDir, { recursive: true, force: true });
});

const key = () => randomBytes(32);

function channels(masterKey: Buffer) {
  return createSqliteChannelStore({ db, clock: systemClock, masterKey });
}

function addChannel(masterKey: Buffer, name: string, apiKey: string): string {
  return channels(masterKey).create({
    name,
    provider: "async",
    baseUrl: "https://upstream.example",
    apiKey,
  }).id;
}

function addTenant(masterKey: Buffer, upstreamKey: string): string {
  const vault = createVault({ store: createSqliteTenantStore(db), clock: systemClock, masterKey });
  return vault.createTenant({ name: "byok", upstreamKey }).tenant.id;
}

describe("master key over channel credentials", () => {
  it("refuses a data dir holding only channel credentials without the key", () => {
    addChannel(key(), "only", "sk-channel-1");
    expect(() => checkMasterKey(db, undefined)).toThrow(/IMAGEGATE_MASTER_KEY is not set/);
  });

  it("refuses a wrong key when no check value was written yet, and accepts the right one", () => {
    const right = key();
    // The store seals without writing the check value: the credential itself is checked.
    addChannel(right, "only", "sk-channel-1");
    expect(() => checkMasterKey(db, key())).toThrow(MasterKeyError);
    expect(() => checkMasterKey(db, key())).toThrow(
      /does not open the sealed upstream credentials/,
    );
    checkMasterKey(db, right);
    // Now the check value is written, and a wrong key is refused by it.
    expect(() => checkMasterKey(db, key())).toThrow(/not the key this data dir was sealed with/);
  });

  it("re-seals channels with tenants in one rotation, counting both", () => {
    const oldKey = key();
    const newKey = key();
    checkMasterKey(db, oldKey);
    const tenantId = addTenant(oldKey, "sk-tenant-1");
    addChannel(oldKey, "a", "sk-channel-a");
    addChannel(oldKey, "b", "sk-channel-b");

    expect(rotateMasterKey(db, oldKey, newKey)).toBe(3);

    const opened = channels(newKey)
      .loadAll()
      .map((channel) => channel.credential);
    expect(opened.sort()).toEqual(["sk-channel-a", "sk-channel-b"]);
    expect(() => channels(oldKey).loadAll()).toThrow(UnsealError);
    const vault = createVault({
      store: createSqliteTenantStore(db),
      clock: systemClock,
      masterKey: newKey,
    });
    const tenant = vault.getTenant(tenantId);
    expect(tenant && vault.upstreamCredential(tenant)).toBe("sk-tenant-1");
    checkMasterKey(db, newKey);
    expect(() => checkMasterKey(db, oldKey)).toThrow(MasterKeyError);
  });

  it("names the channel the old key does not open, and changes nothing", () => {
    const oldKey = key();
    checkMasterKey(db, oldKey);
    addTenant(oldKey, "sk-tenant-1");
    addChannel(oldKey, "good", "sk-channel-good");
    // Sealed with some other key: a data dir mended by hand, say.
    const stray = addChannel(key(), "stray", "sk-channel-stray");
    const before = db.prepare("SELECT * FROM channels ORDER BY id").all();

    expect(() => rotateMasterKey(db, oldKey, key())).toThrow(
      `the old master key does not open the upstream credential of channel ${stray}; nothing was changed`,
    );
    expect(db.prepare("SELECT * FROM channels ORDER BY id").all()).toEqual(before);
    // Still sealed with the old key: the check value and the tenant's credential too.
    checkMasterKey(db, oldKey);
  });

  it("never puts a credential in its errors", () => {
    const apiKey = "sk-channel-secret-42";
    addChannel(key(), "only", apiKey);
    for (const attempt of [
      () => checkMasterKey(db, key()),
      () => rotateMasterKey(db, key(), key()),
    ]) {
      expect(attempt).toThrow(MasterKeyError);
      try {
        attempt();
      } catch (err) {
        expect(String((err as Error).message)).not.toContain(apiKey);
      }
    }
  });
});
