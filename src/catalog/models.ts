// The model table: ids, aliases, reference limits, sizes, qualities and typical
// latencies of the upstream's models (UPSTREAM.md), and OpenAI's model names
// with the vocabulary each takes (OPENAI.md). Pure data and lookups: no I/O, no
// clock, no configuration.
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

/** Customer names the upstream documents (UPSTREAM.md), mapped to model ids. */
export const upstreamAliases = lookupTable({
  "dall-e": "gpt-image-2",
  "dall-e-2": "gpt-image-2",
  "dall-e-3": "grok-imagine-image-pro",
  "nano-banana": "gemini-3.1-flash-image-preview",
  "nano-banana2": "gemini-3.1-flash-image-preview",
  "nano-banana-2": "gemini-3.1-flash-image-preview",
  "nano-banana-pro": "gemini-3-pro-image-preview",
  "grok-imagine-image-quality": "grok-imagine-image-pro",
});

/**
 * OpenAI's image model names the upstream does not document (OPENAI.md): every
 * GPT image name runs on GPT Image 2, the one GPT image model upstream.
 */
export const openaiAliases = lookupTable({
  "gpt-image-1": "gpt-image-2",
  "gpt-image-1-mini": "gpt-image-2",
  "gpt-image-1.5": "gpt-image-2",
  "gpt-image-2-2026-04-21": "gpt-image-2",
  "chatgpt-image-latest": "gpt-image-2",
});

/** Every name that stands for a model id. */
export const aliases = lookupTable({ ...upstreamAliases, ...openaiAliases });

/**
 * Which of OpenAI's models a name is, and so which of OpenAI's vocabularies it
 * takes (sizes, qualities, default response_format, answer fields: see
 * sizes.ts, translate.ts, answer.ts). `dall-e`, the upstream's alias that legacy
 * DALL·E code sends, behaves as DALL·E 2.
 */
export type OpenAIKind = "dall-e-2" | "dall-e-3" | "gpt-image";

export const openaiKinds = lookupTable<OpenAIKind>({
  "dall-e": "dall-e-2",
  "dall-e-2": "dall-e-2",
  "dall-e-3": "dall-e-3",
  "gpt-image-1": "gpt-image",
  "gpt-image-1-mini": "gpt-image",
  "gpt-image-1.5": "gpt-image",
  "gpt-image-2": "gpt-image",
  "gpt-image-2-2026-04-21": "gpt-image",
  "chatgpt-image-latest": "gpt-image",
});

/** The model OpenAI uses when a request names none (DALL·E 2, mapped upstream). */
export const defaultModelName = "dall-e-2";

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

/** Parameters a name applies when the request leaves them out (the operator's model file). */
export interface ModelDefaults {
  size?: string | undefined;
  quality?: string | undefined;
  response_format?: "url" | "b64_json" | undefined;
  n?: number | undefined;
}

export interface ResolvedModel {
  /** The name the caller sent (an alias or an id), as sent. */
  requested: string;
  /** The name as the caller wrote it, trimmed: what messages call the model. */
  name: string;
  spec: ModelSpec;
  /** Which OpenAI model the name is; undefined for the upstream's own names. */
  kind: OpenAIKind | undefined;
  /** The operator's defaults for this name (IMAGEGATE_MODELS_FILE), if any. */
  defaults?: ModelDefaults;
}

const byId = new Map(models.map((model) => [model.id, model]));

/** Looks a model up by id or alias, case-insensitively; undefined if unknown. */
export function resolveModel(name: string): ResolvedModel | undefined {
  const key = name.trim().toLowerCase();
  const spec = byId.get(key) ?? byId.get(aliases[key] ?? "");
  if (!spec) return undefined;
  return { requested: name, name: name.trim(), spec, kind: openaiKinds[key] };
}

export interface CatalogEntry {
  id: string;
  /** For aliases: the model id it stands for. */
  aliasOf?: string;
  /** For OpenAI's names: which OpenAI model it is. */
  kind?: OpenAIKind;
}

/** Every name a caller may use: model ids first, then aliases. */
export function catalogEntries(): CatalogEntry[] {
  const withKind = (entry: CatalogEntry): CatalogEntry => {
    const kind = openaiKinds[entry.id];
    return kind === undefined ? entry : { ...entry, kind };
  };
  return [
    ...models.map((model) => withKind({ id: model.id })),
    ...Object.entries(aliases).map(([id, aliasOf]) => withKind({ id, aliasOf })),
  ];
}

/** The most reference images any model takes: the bound on uploads per request. */
export function maxReferenceImages(): number {
  return Math.max(...models.map((spec) => spec.maxReferences));
}
