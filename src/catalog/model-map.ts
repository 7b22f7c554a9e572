// The effective model map: the built-in table (models.ts) with the operator's
// model file (IMAGEGATE_MODELS_FILE) laid over it. Pure: config.ts reads and
// parses the file once at start and hands the parsed content here; app.ts
// builds one map and passes it to everything that resolves names.
import { z } from "zod";
import { lookupTable } from "../lookup-table.js";
import {
  aliases,
  type CatalogEntry,
  type ModelDefaults,
  type ModelSpec,
  models,
  type OpenAIKind,
  openaiKinds,
  type ResolvedModel,
} from "./models.js";

const upstreamIds = models.map((model) => model.id);
const byId = new Map(models.map((model) => [model.id, model]));

// A public name as callers write it (resolution is case-insensitive, so the
// file holds the lowercase form: one spelling per name).
const publicName = /^[a-z0-9][a-z0-9._:-]{0,99}$/;

const entrySchema = z.strictObject({
  upstream: z
    .string()
    .refine((id) => byId.has(id), {
      error: (issue) =>
        `unknown upstream model '${String(issue.input)}'; known: ${upstreamIds.join(", ")}`,
    })
    .optional(),
  defaults: z
    .strictObject({
      size: z.string().trim().min(1).optional(),
      quality: z.string().trim().min(1).optional(),
      response_format: z.enum(["url", "b64_json"]).optional(),
      n: z.number().int().min(1).max(10).optional(),
    })
    .optional(),
  hidden: z.boolean().optional(),
  max_references: z.number().int().min(0).max(100).optional(),
});

export type ModelFileEntry = z.infer<typeof entrySchema>;

const fileSchema = z.strictObject({
  models: z.record(z.string(), entrySchema),
});

/** The operator's names, as the model file gives them (validated). */
export type ModelOverrides = Readonly<Record<string, ModelFileEntry>>;

/** One row of the effective map, as GET /admin/models shows it. */
export interface ModelMapRow {
  name: string;
  upstream: string;
  kind: OpenAIKind | undefined;
  defaults: ModelDefaults;
  hidden: boolean;
  maxReferences: number;
  source: "built-in" | "file";
}

export interface ModelMap {
  /** A name (case-insensitive) to its model; undefined if unknown or hidden. */
  resolve(name: string): ResolvedModel | undefined;
  /** Every name a caller may use (hidden ones left out): model ids first, then aliases. */
  entries(): CatalogEntry[];
  /** Every row, hidden ones included, for the operator. */
  rows(): ModelMapRow[];
  /** The most reference images any visible name takes: the bound on uploads per request. */
  maxReferenceImages(): number;
}

function quoted(path: readonly PropertyKey[]): string {
  return path
    .map((part) =>
      typeof part === "number" || /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))
        ? String(part)
        : JSON.stringify(String(part)),
    )
    .join(".");
}

/**
 * Checks a model file's parsed JSON. Returns the overrides, or one line per
 * problem naming the entry and the field (`models."house-style".upstream: …`).
 */
export function parseModelFile(
  data: unknown,
): { ok: true; overrides: ModelOverrides } | { ok: false; problems: string[] } {
  const parsed = fileSchema.safeParse(data);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${quoted(issue.path) || "file"}: ${issue.message}`);
  if (!parsed.success) return { ok: false, problems };
  for (const [name, entry] of Object.entries(parsed.data.models)) {
    const at = `models.${JSON.stringify(name)}`;
    if (!publicName.test(name)) {
      problems.push(
        `${at}: a name is lowercase letters, digits and . _ : - (at most 100 characters)`,
      );
      continue;
    }
    const builtIn = builtInRow(name);
    if (!builtIn && entry.upstream === undefined) {
      problems.push(`${at}.upstream: is required for a name the built-in table does not have`);
      continue;
    }
    const upstream = entry.upstream ?? builtIn?.upstream;
    const spec = upstream === undefined ? undefined : byId.get(upstream);
    if (spec && entry.max_references !== undefined && entry.max_references > spec.maxReferences) {
      problems.push(
        `${at}.max_references: ${spec.id} takes at most ${spec.maxReferences} reference image(s)`,
      );
    }
  }
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, overrides: parsed.data.models };
}

function builtInRow(name: string): ModelMapRow | undefined {
  const upstream = byId.has(name) ? name : aliases[name];
  const spec = upstream === undefined ? undefined : byId.get(upstream);
  if (!spec) return undefined;
  return {
    name,
    upstream: spec.id,
    kind: openaiKinds[name],
    defaults: {},
    hidden: false,
    maxReferences: spec.maxReferences,
    source: "built-in",
  };
}

/** The built-in table plus the operator's overrides (validated by parseModelFile). */
export function createModelMap(overrides: ModelOverrides = {}): ModelMap {
  const table = new Map<string, ModelMapRow>();
  for (const name of [...upstreamIds, ...Object.keys(aliases)]) {
    const row = builtInRow(name);
    if (row) table.set(name, row);
  }
  for (const [name, entry] of Object.entries(overrides)) {
    const base = table.get(name);
    const upstream = entry.upstream ?? base?.upstream;
    const spec = upstream === undefined ? undefined : byId.get(upstream);
    if (!spec) throw new Error(`model map: '${name}' names no upstream model`);
    table.set(name, {
      name,
      upstream: spec.id,
      // An OpenAI name keeps OpenAI's vocabulary whatever serves it; a new
      // name takes the upstream model's own.
      kind: base?.kind,
      defaults: { ...entry.defaults },
      hidden: entry.hidden ?? false,
      maxReferences: entry.max_references ?? spec.maxReferences,
      source: "file",
    });
  }
  const rows = lookupTable(Object.fromEntries(table));
  const visible = [...table.values()].filter((row) => !row.hidden);

  const specOf = (row: ModelMapRow): ModelSpec => {
    const spec = byId.get(row.upstream) as ModelSpec;
    return row.maxReferences === spec.maxReferences
      ? spec
      : { ...spec, maxReferences: row.maxReferences };
  };

  return {
    resolve(name) {
      const row = rows[name.trim().toLowerCase()];
      if (!row || row.hidden) return undefined;
      const model: ResolvedModel = {
        requested: name,
        name: name.trim(),
        spec: specOf(row),
        kind: row.kind,
      };
      if (Object.keys(row.defaults).length > 0) model.defaults = row.defaults;
      return model;
    },
    entries() {
      return visible.map((row): CatalogEntry => {
        const entry: CatalogEntry = { id: row.name };
        if (row.upstream !== row.name) entry.aliasOf = row.upstream;
        if (row.kind !== undefined) entry.kind = row.kind;
        return entry;
      });
    },
    rows: () => [...table.values()],
    maxReferenceImages: () => Math.max(0, ...visible.map((row) => row.maxReferences)),
  };
}

/** The built-in table alone: what every caller gets without a model file. */
export const builtInModelMap: ModelMap = createModelMap();
