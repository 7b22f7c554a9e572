// Each tenant setting, once (DESIGN.md "How the code should feel", 12): its
// field in the admin API's bodies and views, its property on Tenant, its
// database column, its CLI flag and a line for the usage text. What a kind of
// setting means (its schema, what null means, how it is stored and typed on
// the command line) is said once per kind below. From the two tables come the
// admin API's create and update schemas, the tenant view, the body → vault
// mapping, the Tenant type, the vault's columns and the CLI's tenant flags.
import { z } from "zod";
import { builtInModelMap, type ModelMap } from "../catalog/model-map.js";

/** What the database stores for a setting. */
export type ColumnValue = string | number | null;

/** What each kind of setting takes in a body (`given`) and shows on Tenant (`shown`). */
interface KindValues {
  text: { given: string; shown: string };
  limit: { given: number | null; shown: number | null };
  models: { given: string[] | null; shown: string[] | null };
  secret: { given: string | null; shown: boolean };
  switch: { given: boolean; shown: boolean };
}
export type KindName = keyof KindValues;
type Given<K extends KindName> = KindValues[K]["given"];
type Shown<K extends KindName> = KindValues[K]["shown"];

export type FlagMode = "create" | "update";

/** How a CLI flag's text is read; `fail` throws the CLI's usage error (exit code 2). */
export interface FlagContext {
  /** The flag as typed, for messages: `--rpm`. */
  flag: string;
  /** Where a secret named by its flag is read: the CLI passes process.env. */
  env: Readonly<Record<string, string | undefined>>;
  fail(message: string): never;
}

export interface Kind<G = unknown, S = unknown> {
  /** A present, non-null value. */
  schema(models: ModelMap): z.ZodType<NonNullable<G>>;
  /** null clears the setting (no limit, every model, no key of its own); absent leaves it. */
  clearable: boolean;
  /** What a tenant created without the setting has. */
  initial: G;
  /** `seal` is the vault's: secrets reach the database only sealed. */
  toColumn(value: G, seal: (plaintext: string) => string): ColumnValue;
  fromColumn(value: ColumnValue): S;
  /** The flag's argument in the usage text: `N|none` updating, `N` creating. */
  argument(mode: FlagMode, flag: string): string;
  /** What the usage text adds to the setting's description. */
  flagNote?: string;
  fromFlag(text: string, context: FlagContext): G;
}

const maxLimit = 1_000_000;

/** "12" → 12, "none" → null (no limit). */
export function limitFromFlag(text: string, context: FlagContext): number | null {
  if (text === "none") return null;
  if (!/^\d+$/.test(text)) context.fail(`${context.flag} must be a whole number or "none"`);
  return Number(text);
}

const kinds = {
  text: {
    schema: () => z.string().trim().min(1).max(100),
    clearable: false,
    initial: "",
    toColumn: (value) => value,
    fromColumn: (value) => String(value),
    argument: (_mode, flag) => flag.toUpperCase(),
    fromFlag: (text) => text,
  },
  limit: {
    schema: () => z.number().int().min(1).max(maxLimit),
    clearable: true,
    initial: null,
    toColumn: (value) => value,
    fromColumn: (value) => (value === null ? null : Number(value)),
    argument: (mode) => (mode === "create" ? "N" : "N|none"),
    flagNote: '"none": no limit',
    fromFlag: limitFromFlag,
  },
  models: {
    // Allowlists name what the gateway answers to (ids, aliases, IMAGEGATE_MODELS_FILE).
    schema: (models) =>
      z
        .array(
          z
            .string()
            .trim()
            .refine((model) => models.resolve(model) !== undefined, "unknown model"),
        )
        .min(1)
        .max(64),
    clearable: true,
    initial: null,
    toColumn: (value) => (value === null ? null : JSON.stringify(value)),
    fromColumn: (value) => (value === null ? null : (JSON.parse(String(value)) as string[])),
    argument: (mode) => (mode === "create" ? "a,b" : "a,b|all"),
    flagNote: 'comma-separated; "all": every model',
    fromFlag: (text) =>
      text === "all"
        ? null
        : text
            .split(",")
            .map((model) => model.trim())
            .filter((model) => model !== ""),
  },
  secret: {
    schema: () => z.string().trim().min(1).max(512),
    clearable: true,
    initial: null,
    toColumn: (value, seal) => (value === null ? null : seal(value)),
    // Never read back: a view shows only that there is one.
    fromColumn: (value) => value !== null,
    // The flag names an environment variable: a secret stays out of shell history and ps.
    argument: () => "VAR",
    flagNote: "VAR: the environment variable that holds it; sealed, never shown",
    fromFlag: (variable, context) => {
      const value = context.env[variable];
      if (value !== undefined && value.trim() !== "") return value;
      return context.fail(`environment variable ${variable} (named by ${context.flag}) is empty`);
    },
  },
  switch: {
    schema: () => z.boolean(),
    clearable: false,
    initial: false,
    toColumn: (value) => (value ? 1 : 0),
    fromColumn: (value) => value !== 0,
    argument: () => "true|false",
    fromFlag: (text, context) => {
      if (text !== "true" && text !== "false")
        context.fail(`${context.flag} must be true or false`);
      return text === "true";
    },
  },
} satisfies { [K in KindName]: Kind<Given<K>, Shown<K>> };

export interface SettingEntry {
  /** In the admin API's bodies and views (snake_case). */
  readonly field: string;
  /** On Tenant and in the vault's changes (camelCase). */
  readonly property: string;
  /** In the tenants table. */
  readonly column: string;
  readonly kind: KindName;
  /** Absent: optional on create. "never": only an update sets it. */
  readonly onCreate?: "required" | "never";
  /** The CLI flag, without its dashes; none for a setting a command of its own sets. */
  readonly flag?: string;
  /** A boolean flag that clears the setting, where the flag's text cannot say "none". */
  readonly clearFlag?: string;
  /** For the usage text. */
  readonly description: string;
}

// The tenant settings. Their order is the bodies' (the first problem is
// reported first) and the view's.
//
// A new limit is one entry here, `kind: "limit"`, plus a migration adding its
// column to `tenants` (src/stores/sqlite/database.ts); the admin API, the view, the
// vault and the CLI take it from here. Then enforce it where it applies.
export const tenantSettings = [
  {
    field: "name",
    property: "name",
    column: "name",
    kind: "text",
    onCreate: "required",
    flag: "name",
    description: "the tenant's name",
  },
  {
    field: "rpm",
    property: "rpm",
    column: "rpm",
    kind: "limit",
    flag: "rpm",
    description: "requests a minute",
  },
  {
    field: "max_concurrent",
    property: "maxConcurrent",
    column: "max_concurrent",
    kind: "limit",
    flag: "max-concurrent",
    description: "image requests at once",
  },
  {
    field: "images_per_day",
    property: "imagesPerDay",
    column: "images_per_day",
    kind: "limit",
    flag: "images-per-day",
    description: "images a UTC day, all models together",
  },
  {
    field: "models",
    property: "models",
    column: "models",
    kind: "models",
    flag: "models",
    description: "the models its keys may use",
  },
  {
    field: "upstream_key",
    property: "upstreamKey",
    column: "upstream_key_sealed",
    kind: "secret",
    flag: "upstream-key-env",
    clearFlag: "no-upstream-key",
    description: "its own upstream key, used instead of the shared channels",
  },
  {
    field: "disabled",
    property: "disabled",
    column: "disabled",
    kind: "switch",
    onCreate: "never",
    description: "its keys are refused (tenants disable / enable)",
  },
] as const satisfies readonly SettingEntry[];

type Entry = (typeof tenantSettings)[number];
/** The table, seen entry by entry without its literal types. */
const settings: readonly SettingEntry[] = tenantSettings;

/** The Kind of an entry, for code that handles every kind alike. */
export function kindOf(setting: SettingEntry): Kind {
  return kinds[setting.kind];
}

const isSecret = (setting: SettingEntry) => setting.kind === "secret";

// --- What the table derives: types ---------------------------------------

/** A secret shows on Tenant as has<Property> and in views as has_<field>. */
type ShownProperty<E extends Entry> = E["kind"] extends "secret"
  ? `has${Capitalize<E["property"]>}`
  : E["property"];
type ViewField<E extends Entry> = E["kind"] extends "secret" ? `has_${E["field"]}` : E["field"];
type RequiredEntry<E extends Entry> = E extends { onCreate: "required" } ? E : never;
type OptionalEntry<E extends Entry> = E extends { onCreate: "required" | "never" } ? never : E;

/** A tenant's settings as the vault returns them: a secret only as whether there is one. */
export type TenantSettingValues = {
  [E in Entry as ShownProperty<E>]: Shown<E["kind"]>;
};

/** A change to a tenant: each property absent (unchanged) or its new value. */
export type TenantChanges = {
  [E in Entry as E["property"]]?: Given<E["kind"]> | undefined;
};

/** A new tenant's settings. */
export type TenantSettings = {
  [E in Entry as RequiredEntry<E>["property"]]: Given<E["kind"]>;
} & {
  [E in Entry as OptionalEntry<E>["property"]]?: Given<E["kind"]> | undefined;
};

/** A parsed create body. */
export type CreateTenantBody = {
  [E in Entry as RequiredEntry<E>["field"]]: Given<E["kind"]>;
} & {
  [E in Entry as OptionalEntry<E>["field"]]?: Given<E["kind"]> | undefined;
};

/** A parsed update body. */
export type UpdateTenantBody = {
  [E in Entry as E["field"]]?: Given<E["kind"]> | undefined;
};

export interface Tenant extends TenantSettingValues {
  id: string;
  createdAt: number;
}

export type TenantView = { id: string; object: "tenant"; created_at: number } & {
  [E in Entry as ViewField<E>]: Shown<E["kind"]>;
};

/** Tenant's property for a setting: has<Property> for a secret. */
export function shownProperty(setting: SettingEntry): string {
  if (!isSecret(setting)) return setting.property;
  return `has${setting.property.slice(0, 1).toUpperCase()}${setting.property.slice(1)}`;
}

/** The view's field for a setting: has_<field> for a secret. */
export function viewField(setting: SettingEntry): string {
  return isSecret(setting) ? `has_${setting.field}` : setting.field;
}

// --- What the table derives: the admin API's bodies and view ----------------

/** The tenant bodies, with allowlists checked against the effective model map. */
export function tenantSchemas(models: ModelMap = builtInModelMap) {
  const createShape: Record<string, z.ZodType> = {};
  const updateShape: Record<string, z.ZodType> = {};
  for (const setting of settings) {
    const kind = kindOf(setting);
    const value = kind.schema(models);
    const maybe = kind.clearable ? value.nullish() : value.optional();
    if (setting.onCreate !== "never") {
      createShape[setting.field] = setting.onCreate === "required" ? value : maybe;
    }
    updateShape[setting.field] = maybe;
  }
  // Strict: a misspelt limit ("max_concurent") is an error, not silently no limit.
  // The shapes are built from the table, so their types are the table's (above).
  const create = z.strictObject(createShape) as unknown as z.ZodType<CreateTenantBody>;
  const update = z
    .strictObject(updateShape)
    .refine(
      (body) => Object.keys(body).length > 0,
      "give at least one field to change",
    ) as unknown as z.ZodType<UpdateTenantBody>;
  return { create, update };
}

/** A create or update body (snake_case, as the API takes it) → the vault's changes. */
export function tenantChanges(body: UpdateTenantBody): TenantChanges {
  const changes: Record<string, unknown> = {};
  const given = body as Record<string, unknown>;
  for (const setting of settings) changes[setting.property] = given[setting.field];
  return changes as TenantChanges;
}

/** A create body → the vault's new tenant (the schema saw to the required settings). */
export function newTenantOf(body: CreateTenantBody): TenantSettings {
  return tenantChanges(body) as TenantSettings;
}

/** A tenant as the admin API and the CLI show it: settings, never a secret. */
export function tenantView(tenant: Tenant): TenantView {
  const shown = tenant as unknown as Record<string, unknown>;
  const view: Record<string, unknown> = { id: tenant.id, object: "tenant" };
  for (const setting of settings) view[viewField(setting)] = shown[shownProperty(setting)];
  view.created_at = Math.floor(tenant.createdAt / 1000);
  return view as TenantView;
}

// --- What the table derives: the CLI's flags ---------------------------------

const flagged = (mode: FlagMode) =>
  settings.filter(
    (setting): setting is SettingEntry & { flag: string } =>
      setting.flag !== undefined && (mode === "update" || setting.onCreate !== "never"),
  );

/** The settings' flags as node:util's parseArgs takes them. */
export function tenantFlagOptions(): Record<string, { type: "string" | "boolean" }> {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const setting of flagged("update")) {
    options[setting.flag] = { type: "string" };
    if (setting.clearFlag !== undefined) options[setting.clearFlag] = { type: "boolean" };
  }
  return options;
}

/**
 * Parsed flags → a body for the admin API's schema (absent flags left out, so
 * it parses as the API's body would). "none" and "all" clear, as null does.
 */
export function tenantBodyFromFlags(
  values: Readonly<Record<string, string | boolean | undefined>>,
  mode: FlagMode,
  context: Omit<FlagContext, "flag">,
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const setting of flagged(mode)) {
    const text = values[setting.flag];
    const cleared = setting.clearFlag !== undefined && values[setting.clearFlag] === true;
    if (cleared && text !== undefined) {
      context.fail(`give --${setting.flag} or --${setting.clearFlag}, not both`);
    }
    if (cleared) body[setting.field] = null;
    else if (typeof text === "string") {
      body[setting.field] = kindOf(setting).fromFlag(text, {
        ...context,
        flag: `--${setting.flag}`,
      });
    }
  }
  return body;
}

/** The flags in a usage line: `--name TEXT`, `[--rpm N|none]`. */
export function tenantFlagSynopsis(mode: FlagMode): string[] {
  return flagged(mode).map((setting) => {
    const argument = kindOf(setting).argument(mode, setting.flag);
    const clear = mode === "update" && setting.clearFlag ? ` | --${setting.clearFlag}` : "";
    const flag = `--${setting.flag} ${argument}${clear}`;
    return mode === "create" && setting.onCreate === "required" ? flag : `[${flag}]`;
  });
}

/** Each flag and what it sets, for the usage text. */
export function tenantFlagHelp(): { flag: string; text: string }[] {
  return flagged("update").flatMap((setting) => {
    const kind = kindOf(setting);
    const note = kind.flagNote === undefined ? "" : ` (${kind.flagNote})`;
    const help = [
      {
        flag: `--${setting.flag} ${kind.argument("update", setting.flag)}`,
        text: `${setting.description}${note}`,
      },
    ];
    if (setting.clearFlag !== undefined) {
      help.push({ flag: `--${setting.clearFlag}`, text: `update: clears ${setting.field}` });
    }
    return help;
  });
}
