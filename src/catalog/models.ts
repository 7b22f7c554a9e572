// The model table: ids, aliases, reference limits, sizes, qualities and typical
// latencies of the upstream's models (UPSTREAM.md). Pure data and lookups: no
// I/O, no clock, no configuration.
import { lookupTable } from "../lookup-table.js";

export type Family = "gpt-image" | "gemini" | "grok";

export interface ModelSpec {
  id: string;
  displayName: string;
  family: Family;
  /** Most reference images (`image_url`) the model takes. */
  maxReferences: number;
  /** Median generation time at default settings, for the poller's schedule. */
  typicalMs: number;
}

export const models: readonly ModelSpec[] = [
  {
    id: "gpt-image-2",
    displayName: "GPT Image 2",
    family: "gpt-image",
    maxReferences: 14,
    typicalMs: 40_000,
  },
  {
    id: "gemini-3-pro-image-preview",
    displayName: "Nano Banana Pro",
    family: "gemini",
    maxReferences: 4,
    typicalMs: 14_000,
  },
  {
    id: "gemini-3.1-flash-image-preview",
    displayName: "Nano Banana 2",
    family: "gemini",
    maxReferences: 4,
    typicalMs: 8_000,
  },
  {
    id: "grok-imagine-image",
    displayName: "Grok Imagine Image",
    family: "grok",
    maxReferences: 1,
    typicalMs: 8_000,
  },
  {
    id: "grok-imagine-image-pro",
    displayName: "Grok Imagine Image Pro",
    family: "grok",
    maxReferences: 1,
    typicalMs: 10_000,
  },
  {
    id: "grok-imagine-image-lite",
    displayName: "Grok Imagine Image Lite",
    family: "grok",
    maxReferences: 0,
    typicalMs: 6_000,
  },
  {
    id: "grok-imagine-image-edit",
    displayName: "Grok Imagine Image Edit",
    family: "grok",
    maxReferences: 3,
    typicalMs: 8_000,
  },
];

/** Customer names the upstream documents, mapped to model ids. */
export const aliases = lookupTable({
  "dall-e": "gpt-image-2",
  "dall-e-2": "gpt-image-2",
  "dall-e-3": "grok-imagine-image-pro",
  "nano-banana": "gemini-3.1-flash-image-preview",
  "nano-banana2": "gemini-3.1-flash-image-preview",
  "nano-banana-2": "gemini-3.1-flash-image-preview",
  "nano-banana-pro": "gemini-3-pro-image-preview",
  "grok-imagine-image-quality": "grok-imagine-image-pro",
});

/** The model OpenAI uses when a request names none (DALL·E 2, mapped upstream). */
export const defaultModelName = "dall-e-2";

/** Legacy OpenAI names whose callers expect `url` results by default. */
const dalleNames = new Set(["dall-e", "dall-e-2", "dall-e-3"]);

/** Sizes and qualities per family, in the upstream's vocabulary. */
export const gptImageSizes = [
  "1024x1024",
  "1536x1024",
  "1024x1536",
  "2048x1152",
  "3840x2160",
  "2160x3840",
  "auto",
] as const;
export const gptImageQualities = ["low", "medium", "high", "auto"] as const;

export const geminiAspectRatios = [
  "1:1",
  "16:9",
  "9:16",
  "4:3",
  "3:4",
  "3:2",
  "2:3",
  "5:4",
  "4:5",
  "21:9",
] as const;
export const geminiImageSizes = ["1K", "2K", "4K"] as const;

// The upstream says "ratio strings such as 1:1, 16:9, 9:16" for Grok; these are
// the ratios xAI's image API documents that every Grok Imagine variant takes.
export const grokAspectRatios = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"] as const;

export interface ResolvedModel {
  /** The name the caller sent (an alias or an id). */
  requested: string;
  spec: ModelSpec;
  /** A DALL·E name: defaults follow DALL·E (url results, 1024x1024). */
  legacyDalle: boolean;
}

const byId = new Map(models.map((model) => [model.id, model]));

/** Looks a model up by id or alias, case-insensitively; undefined if unknown. */
export function resolveModel(name: string): ResolvedModel | undefined {
  const key = name.trim().toLowerCase();
  const spec = byId.get(key) ?? byId.get(aliases[key] ?? "");
  if (!spec) return undefined;
  return { requested: name, spec, legacyDalle: dalleNames.has(key) };
}

export interface CatalogEntry {
  id: string;
  /** For aliases: the model id it stands for. */
  aliasOf?: string;
}

/** Every name a caller may use: model ids first, then aliases. */
export function catalogEntries(): CatalogEntry[] {
  return [
    ...models.map((model) => ({ id: model.id })),
    ...Object.entries(aliases).map(([id, aliasOf]) => ({ id, aliasOf })),
  ];
}

/** The most reference images any model takes: the bound on uploads per request. */
export function maxReferenceImages(): number {
  return Math.max(...models.map((spec) => spec.maxReferences));
}
