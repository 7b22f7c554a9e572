// The tenant settings table (src/tenancy/settings.ts) is the one place a
// setting is declared: every entry reaches the admin API's create and update
// bodies, the view (a secret only as has_<field>), the CLI's flags and the
// vault's columns. Table-driven, so a new entry is checked without a new test.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { InvalidRequestError } from "../../src/errors.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { createSqliteTenantStore } from "../../src/stores/sqlite/tenants.js";
import {
  type FlagContext,
  type KindName,
  type SettingEntry,
  shownProperty,
  tenantBodyFromFlags,
  tenantChanges,
  tenantFlagOptions,
  tenantFlagSynopsis,
  tenantSchemas,
  tenantSettings,
  tenantView,
  viewField,
} from "../../src/tenancy/settings.js";
import { createVault, type Tenant, type Vault } from "../../src/tenancy/vault.js";
import { parseBody } from "../../src/validation.js";

const settings: readonly SettingEntry[] = tenantSettings;
const secretVariable = "IMAGEGATE_TEST_TENANT_SECRET";
const secretValue = "sk-tenant-settings-secret-0001";

/** For each kind: a valid body value, the flag text that gives it, how Tenant shows it. */
const samples: Record<
  KindName,
  {
    body: unknown;
    flag: string;
    shown: unknown;
    wrongType: unknown;
    /** What null in an update leaves, where null clears. */
    cleared?: unknown;
    /** What a tenant created without it has. */
    unset: unknown;
  }
> = {
  text: { body: "acme", flag: "acme", shown: "acme", wrongType: 5, unset: undefined },
  limit: { body: 7, flag: "7", shown: 7, wrongType: "lots", cleared: null, unset: null },
  models: {
    body: ["dall-e-3", "nano-banana"],
    flag: "dall-e-3, nano-banana",
    shown: ["dall-e-3", "nano-banana"],
    wrongType: "dall-e-3",
    cleared: null,
    unset: null,
  },
  secret: {
    body: secretValue,
    flag: secretVariable,
    shown: true,
    wrongType: 5,
    cleared: false,
    unset: false,
  },
  switch: { body: true, flag: "true", shown: true, wrongType: "yes", unset: false },
};

const sample = (setting: SettingEntry) => samples[setting.kind];
const creatable = settings.filter((setting) => setting.onCreate !== "never");
const required = settings.filter((setting) => setting.onCreate === "required");
/** The smallest valid create body: the required settings. */
const minimal = () =>
  Object.fromEntries(required.map((setting) => [setting.field, sample(setting).body]));
const everything = (chosen: readonly SettingEntry[]) =>
  Object.fromEntries(chosen.map((setting) => [setting.field, sample(setting).body]));

const { create, update } = tenantSchemas();

/** The 400 parseBody throws (fails the test if it parses). */
function refusal(schema: Parameters<typeof parseBody>[0], body: unknown) {
  try {
    parseBody(schema, body);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    const { param, code, message } = err as InvalidRequestError;
    return { param, code, message };
  }
  throw new Error(`expected ${JSON.stringify(body)} to be refused`);
}

class FlagFailure extends Error {}
const flagContext: Omit<FlagContext, "flag"> = {
  env: { [secretVariable]: secretValue },
  fail(message): never {
    throw new FlagFailure(message);
  },
};

let dataDir: string;
let db: Db;
let vault: Vault;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "imagegate-tenant-settings-"));
  db = openStore(dataDir);
  vault = createVault({
    store: createSqliteTenantStore(db),
    clock: systemClock,
    masterKey: randomBytes(32),
  });
});
afterEach(async () => {
  db.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("the tenant settings table", () => {
  it("names each setting once, in every vocabulary", () => {
    for (const key of ["field", "property", "column"] as const) {
      const names = settings.map((setting) => setting[key]);
      expect(new Set(names).size, key).toBe(names.length);
    }
    const flags = settings.flatMap((setting) => [setting.flag, setting.clearFlag]);
    const given = flags.filter((flag) => flag !== undefined);
    expect(new Set(given).size).toBe(given.length);
    for (const setting of settings) {
      // The API's snake_case and Tenant's camelCase name the same thing.
      expect(setting.property).toBe(
        setting.field.replace(/_(.)/g, (_, c: string) => c.toUpperCase()),
      );
      expect(setting.description.length).toBeGreaterThan(0);
    }
  });

  describe.each(settings.map((setting) => [setting.field, setting] as const))(
    "%s",
    (field, setting) => {
      it("is taken by the create body, or refused there when only an update sets it", () => {
        const body = { ...minimal(), [field]: sample(setting).body };
        if (setting.onCreate === "never") {
          expect(refusal(create, body)).toMatchObject({ param: field, code: "unknown_parameter" });
        } else {
          expect(parseBody(create, body)).toMatchObject({ [field]: sample(setting).body });
        }
      });

      it("is taken by the update body, and a wrong type is refused naming it", () => {
        expect(parseBody(update, { [field]: sample(setting).body })).toEqual({
          [field]: sample(setting).body,
        });
        expect(refusal(update, { [field]: sample(setting).wrongType })).toMatchObject({
          param: field,
          code: "invalid_type",
        });
        const changes = tenantChanges(parseBody(update, { [field]: sample(setting).body }));
        expect(changes).toMatchObject({ [setting.property]: sample(setting).body });
      });

      it("is cleared by null where null means none, and refuses null otherwise", () => {
        if (sample(setting).cleared === undefined) {
          expect(refusal(update, { [field]: null })).toMatchObject({ param: field });
        } else {
          expect(tenantChanges(parseBody(update, { [field]: null }))).toMatchObject({
            [setting.property]: null,
          });
        }
      });

      it("has a CLI flag (or a command of its own), whose text gives the body's value", () => {
        const { flag, clearFlag } = setting;
        if (flag === undefined) {
          // Set by `tenants disable` / `tenants enable`.
          expect(field).toBe("disabled");
          return;
        }
        expect(tenantFlagOptions()).toHaveProperty([flag], { type: "string" });
        expect(tenantFlagSynopsis("update").join(" ")).toContain(`--${flag} `);
        const body = tenantBodyFromFlags({ [flag]: sample(setting).flag }, "update", flagContext);
        expect(body).toEqual({ [field]: sample(setting).body });
        expect(parseBody(update, body)).toEqual({ [field]: sample(setting).body });
        if (setting.onCreate !== "never") {
          expect(tenantFlagSynopsis("create").join(" ")).toContain(`--${flag} `);
        }
        if (clearFlag !== undefined) {
          expect(tenantFlagOptions()).toHaveProperty([clearFlag], { type: "boolean" });
          const cleared = tenantBodyFromFlags({ [clearFlag]: true }, "update", flagContext);
          expect(cleared).toEqual({ [field]: null });
          const both = { [flag]: sample(setting).flag, [clearFlag]: true };
          expect(() => tenantBodyFromFlags(both, "update", flagContext)).toThrow(FlagFailure);
        }
      });

      it("is shown by the view, a secret only as has_<field>", async () => {
        const { tenant: created } = await vault.createTenant(
          tenantChanges(parseBody(create, everything(creatable))) as Parameters<
            Vault["createTenant"]
          >[0],
        );
        const view = tenantView(created) as Record<string, unknown>;
        expect(view).toHaveProperty([viewField(setting)]);
        if (setting.kind === "secret") {
          expect(viewField(setting)).toBe(`has_${field}`);
          expect(view).not.toHaveProperty([field]);
          expect(JSON.stringify(view)).not.toContain(String(sample(setting).body));
        } else {
          expect(viewField(setting)).toBe(field);
        }
      });
    },
  );

  it("round-trips every setting through the vault, and clears them again", async () => {
    const body = parseBody(create, everything(creatable));
    const { tenant } = await vault.createTenant(
      tenantChanges(body) as Parameters<Vault["createTenant"]>[0],
    );
    const later = settings.filter((setting) => setting.onCreate === "never");
    const updated = (await vault.updateTenant(
      tenant.id,
      tenantChanges(parseBody(update, everything(later))),
    )) as Tenant;
    const read = (await vault.getTenant(tenant.id)) as Tenant;
    expect(read).toEqual(updated);
    const shown = read as unknown as Record<string, unknown>;
    for (const setting of settings) {
      expect(shown[shownProperty(setting)], setting.field).toEqual(sample(setting).shown);
    }
    expect(await vault.upstreamCredential(read)).toBe(secretValue);
    expect(await vault.listTenants()).toEqual([read]);

    const clearable = settings.filter((setting) => sample(setting).cleared !== undefined);
    const cleared = (await vault.updateTenant(
      tenant.id,
      tenantChanges(
        parseBody(update, Object.fromEntries(clearable.map((setting) => [setting.field, null]))),
      ),
    )) as unknown as Record<string, unknown>;
    for (const setting of clearable) {
      expect(cleared[shownProperty(setting)], setting.field).toEqual(sample(setting).cleared);
    }
    expect(
      await vault.upstreamCredential((await vault.getTenant(tenant.id)) as Tenant),
    ).toBeUndefined();
  });

  it("leaves a setting not given at its default: no limit, every model, no key, enabled", async () => {
    const { tenant } = await vault.createTenant(
      tenantChanges(parseBody(create, minimal())) as Parameters<Vault["createTenant"]>[0],
    );
    const shown = tenant as unknown as Record<string, unknown>;
    for (const setting of settings.filter((entry) => entry.onCreate !== "required")) {
      expect(shown[shownProperty(setting)], setting.field).toEqual(sample(setting).unset);
    }
  });

  it("refuses an unknown field (a misspelt limit is not silently no limit)", () => {
    expect(refusal(create, { ...minimal(), max_concurent: 3 })).toEqual({
      param: "max_concurent",
      code: "unknown_parameter",
      message: "Unknown parameter: 'max_concurent'.",
    });
    expect(refusal(update, { max_concurent: 3 })).toMatchObject({
      param: "max_concurent",
      code: "unknown_parameter",
    });
    expect(refusal(update, {})).toMatchObject({
      message: "Invalid request body: give at least one field to change.",
    });
    for (const setting of required) {
      expect(refusal(create, {})).toMatchObject({ param: setting.field });
    }
  });

  it('reads "none" and "all" from the CLI as null, and refuses other text', () => {
    expect(
      tenantBodyFromFlags(
        { rpm: "none", models: "all", "images-per-day": "3" },
        "update",
        flagContext,
      ),
    ).toEqual({ rpm: null, models: null, images_per_day: 3 });
    expect(() => tenantBodyFromFlags({ rpm: "lots" }, "create", flagContext)).toThrow(
      '--rpm must be a whole number or "none"',
    );
    expect(() =>
      tenantBodyFromFlags({ "upstream-key-env": "UNSET_VARIABLE" }, "create", flagContext),
    ).toThrow("environment variable UNSET_VARIABLE (named by --upstream-key-env) is empty");
  });
});
