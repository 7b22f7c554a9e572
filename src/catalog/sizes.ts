// OpenAI's size vocabularies, one per kind of OpenAI model name, GPT Image 2's
// free-size rules, and the nearest size the upstream's GPT Image 2 makes for a
// size it does not make itself. Pure functions over "WIDTHxHEIGHT" strings.
import { gatewayError } from "../errors.js";
import { gptImageSizes, type OpenAIKind } from "./models.js";

export interface Size {
  width: number;
  height: number;
}

const wxh = /^(\d{1,5})x(\d{1,5})$/;

/** "1024x1024" (any case, spaces around) → its sides; undefined if not WxH. */
export function parseSize(text: string): Size | undefined {
  const match = wxh.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  return { width: Number(match[1]), height: Number(match[2]) };
}

export function formatSize(size: Size): string {
  return `${size.width}x${size.height}`;
}

/**
 * GPT Image 2's free sizes, as OpenAI's API reference for `size` states them
 * for gpt-image-2 (restated by the OpenAI-compatible providers that mirror it,
 * e.g. https://docs.anyfast.ai/api-reference/model-api/openai/gpt-image-2 and
 * https://yingtu.ai/en/blog/gpt-image-2-4k-image-generation): "both edges must
 * be multiples of 16, aspect ratio ≤ 3:1, total pixels between 655,360 and
 * 8,294,400, max edge 3,840px"; above 2560x1440 is experimental (OPENAI.md).
 */
export const freeSizeRules = {
  multipleOf: 16,
  maxEdge: 3840,
  maxAspect: 3,
  minPixels: 655_360,
  maxPixels: 8_294_400,
} as const;

const thousands = (n: number) => n.toLocaleString("en-US");

/** Why a size breaks the free-size rules; undefined when it keeps them. */
export function freeSizeProblem({ width, height }: Size): string | undefined {
  const { multipleOf, maxEdge, maxAspect, minPixels, maxPixels } = freeSizeRules;
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  if (width % multipleOf !== 0 || height % multipleOf !== 0) {
    return `both sides must be multiples of ${multipleOf}`;
  }
  if (long > maxEdge) return `the longer side must be at most ${maxEdge} pixels`;
  if (long > maxAspect * short) {
    return `the aspect ratio must be between 1:${maxAspect} and ${maxAspect}:1`;
  }
  if (width * height < minPixels) return `it must have at least ${thousands(minPixels)} pixels`;
  if (width * height > maxPixels) return `it must have at most ${thousands(maxPixels)} pixels`;
  return undefined;
}

/**
 * The valid free size nearest a refused one: its aspect ratio and pixel count
 * brought within the rules, its sides rounded to multiples of 16. Undefined
 * when no rounding of it is valid (then the message lists the rules alone).
 */
export function nearestFreeSize({ width, height }: Size): Size | undefined {
  const { multipleOf, maxEdge, maxAspect, minPixels, maxPixels } = freeSizeRules;
  if (width <= 0 || height <= 0) return undefined;
  const aspect = Math.min(maxAspect, Math.max(1 / maxAspect, width / height));
  const pixels = Math.min(maxPixels, Math.max(minPixels, width * height));
  let w = Math.sqrt(pixels * aspect);
  let h = pixels / w;
  const scale = Math.min(1, maxEdge / Math.max(w, h));
  w *= scale;
  h *= scale;
  const roundings = [Math.round, Math.floor, Math.ceil];
  for (const roundW of roundings) {
    for (const roundH of roundings) {
      const size = {
        width: roundW(w / multipleOf) * multipleOf,
        height: roundH(h / multipleOf) * multipleOf,
      };
      if (freeSizeProblem(size) === undefined) return size;
    }
  }
  return undefined;
}

/** How a kind of OpenAI model takes `size`: a list of sizes, or GPT Image 2's free sizes. */
export type SizeRule =
  | { kind: "listed"; sizes: readonly string[]; default: string }
  | { kind: "free"; examples: readonly string[]; default: "auto" };

/**
 * OpenAI's sizes per kind of model name (OPENAI.md): DALL·E 2 and DALL·E 3
 * take their own lists (a DALL·E 3 size asked of dall-e-2 is a 400, as at
 * OpenAI); GPT image names take `auto` or any free size, as gpt-image-2 does.
 */
export const sizeRules: Readonly<Record<OpenAIKind, SizeRule>> = {
  "dall-e-2": { kind: "listed", sizes: ["256x256", "512x512", "1024x1024"], default: "1024x1024" },
  "dall-e-3": {
    kind: "listed",
    sizes: ["1024x1024", "1792x1024", "1024x1792"],
    default: "1024x1024",
  },
  "gpt-image": {
    kind: "free",
    examples: ["auto", "1024x1024", "1536x1024", "1024x1536", "1536x864", "2560x1440"],
    default: "auto",
  },
};

/**
 * The size a request asks of an OpenAI model name, in that model's vocabulary:
 * `auto`, or its sides. No size is the model's default; anything else is a
 * 400 on `size` that names the model as the caller wrote it and says what
 * would work.
 */
export function openaiSize(
  kind: OpenAIKind,
  requested: string | undefined,
  modelName: string,
): Size | "auto" {
  const rule = sizeRules[kind];
  const raw = (requested ?? rule.default).trim().toLowerCase();
  if (raw === "auto" && rule.kind === "free") return "auto";
  const size = parseSize(raw);
  const invalid = `Invalid size '${requested}' for ${modelName}`;
  if (rule.kind === "listed") {
    if (size !== undefined && rule.sizes.includes(formatSize(size))) return size;
    throw gatewayError(
      "invalid_value",
      { detail: `${invalid}. Supported sizes: ${rule.sizes.join(", ")}.` },
      { param: "size" },
    );
  }
  const problem = size === undefined ? "it is not WIDTHxHEIGHT" : freeSizeProblem(size);
  if (problem === undefined && size !== undefined) return size;
  const nearest = size === undefined ? undefined : nearestFreeSize(size);
  const { multipleOf, maxEdge, maxAspect, minPixels, maxPixels } = freeSizeRules;
  throw gatewayError(
    "invalid_value",
    {
      detail: `${invalid}: ${problem}.${nearest === undefined ? "" : ` The nearest size that works is ${formatSize(nearest)}.`} Use ${rule.examples.join(", ")} or any WIDTHxHEIGHT with both sides multiples of ${multipleOf}, the longer at most ${maxEdge} pixels, an aspect ratio between 1:${maxAspect} and ${maxAspect}:1 and ${thousands(minPixels)} to ${thousands(maxPixels)} pixels.`,
    },
    { param: "size" },
  );
}

/** The sizes GPT Image 2 makes upstream (UPSTREAM.md), besides `auto`. */
const gptNativeSizes: readonly Size[] = gptImageSizes.flatMap((text) => {
  const size = parseSize(text);
  return size === undefined ? [] : [size];
});

/**
 * How far apart two sizes are: the difference of their aspect ratios, plus a
 * quarter of the difference of their areas, both on a log scale. The aspect
 * weighs most because a different aspect is cropped off (content is lost)
 * while a different area is only scaled; among sizes of one aspect the
 * nearest area wins (a 1536x864 or a 2560x1440 ask is made at 2048x1152, not
 * at minutes-long 3840x2160).
 */
export function sizeDistance(a: Size, b: Size): number {
  const aspect = Math.log(a.width / a.height) - Math.log(b.width / b.height);
  const area = Math.log(a.width * a.height) - Math.log(b.width * b.height);
  return Math.abs(aspect) + Math.abs(area) / 4;
}

/** The size GPT Image 2 makes that is nearest `size` (itself when it makes it). */
export function nearestGptImageSize(size: Size): string {
  let best = gptNativeSizes[0] as Size;
  for (const candidate of gptNativeSizes) {
    if (sizeDistance(candidate, size) < sizeDistance(best, size)) best = candidate;
  }
  return formatSize(best);
}
