// OpenAI image request → upstream submit body. Pure functions: every value a
// model cannot honour is an InvalidRequestError naming the parameter, never a
// silent substitute. The translation table is documented in README.md.
import { InvalidRequestError, NotFoundError } from "../errors.js";
import { lookupTable } from "../lookup-table.js";
import {
  defaultModelName,
  geminiAspectRatios,
  geminiImageSizes,
  gptImageQualities,
  gptImageSizes,
  grokAspectRatios,
  type ModelSpec,
  type ResolvedModel,
  resolveModel,
} from "./models.js";
import type { ImageRequest, ResponseFormat } from "./request.js";

export type UpstreamSubmitBody = Record<string, unknown>;

export interface Translation {
  model: ResolvedModel;
  /** The JSON body for `POST /v1/images/generations/async`. */
  body: UpstreamSubmitBody;
  n: number;
  responseFormat: ResponseFormat;
  /** Values echoed in the OpenAI response (`size`, `quality`, `background`). */
  echo: { size?: string; quality?: string; background?: string };
  /** Expected generation time, for the poller's schedule. */
  expectedMs: number;
}

/** OpenAI's (DALL·E) sizes on GPT Image 2: same orientation, nearest native size. */
const gptLegacySizes = lookupTable({
  "256x256": "1024x1024",
  "512x512": "1024x1024",
  "1792x1024": "1536x1024",
  "1024x1792": "1024x1536",
});

/** DALL·E 3 qualities in GPT Image vocabulary. */
const gptLegacyQualities = lookupTable({ standard: "medium", hd: "high" });

/** OpenAI qualities as Gemini output resolutions; `auto` leaves the model default (1K). */
const geminiQualityResolution = lookupTable<string | undefined>({
  low: "1K",
  medium: "1K",
  standard: "1K",
  high: "2K",
  hd: "2K",
  auto: undefined,
});

/** Grok has one quality per model: only "leave it to the model" values are honoured. */
const grokAcceptedQualities = new Set(["auto", "standard", "hd"]);

const wxh = /^(\d{1,5})x(\d{1,5})$/;

export interface TranslateOptions {
  /** The parameter that carried the references, for error messages (`image` for edits). */
  referencesParam?: string;
}

/** The model a request names (or the default), or the 404 OpenAI answers for an unknown one. */
export function requireModel(requested: string | undefined): ResolvedModel {
  const name = requested ?? defaultModelName;
  const model = resolveModel(name);
  if (!model) {
    throw new NotFoundError(
      `The model '${name}' does not exist or you do not have access to it.`,
      "model_not_found",
      "model",
    );
  }
  return model;
}

export function translateRequest(
  request: ImageRequest,
  options: TranslateOptions = {},
): Translation {
  const model = requireModel(request.model);
  const spec = model.spec;
  const n = request.n ?? 1;
  const references = normaliseReferences(
    request.image_url,
    spec,
    options.referencesParam ?? "image_url",
  );

  const body: UpstreamSubmitBody = { model: spec.id, prompt: request.prompt, n };
  if (references !== undefined) body.image_url = references;

  let echo: Translation["echo"];
  let expectedMs: number;
  switch (spec.family) {
    case "gpt-image":
      ({ echo, expectedMs } = translateGptImage(request, model, body));
      break;
    case "gemini":
      ({ echo, expectedMs } = translateGemini(request, spec, body));
      break;
    case "grok":
      ({ echo, expectedMs } = translateGrok(request, spec, body));
      break;
  }

  return {
    model,
    body,
    n,
    responseFormat: request.response_format ?? (model.legacyDalle ? "url" : "b64_json"),
    echo,
    expectedMs,
  };
}

interface FamilyResult {
  echo: Translation["echo"];
  expectedMs: number;
}

function translateGptImage(
  request: ImageRequest,
  model: ResolvedModel,
  body: UpstreamSubmitBody,
): FamilyResult {
  const name = model.spec.id;
  const rawSize = request.size?.trim().toLowerCase();
  let size: string;
  if (rawSize === undefined) {
    size = model.legacyDalle ? "1024x1024" : "auto";
  } else if ((gptImageSizes as readonly string[]).includes(rawSize)) {
    size = rawSize;
  } else if (gptLegacySizes[rawSize]) {
    size = gptLegacySizes[rawSize];
  } else {
    throw new InvalidRequestError(
      `Invalid size '${request.size}' for ${name}. Supported sizes: ${[...gptImageSizes, ...Object.keys(gptLegacySizes)].join(", ")}.`,
      "size",
    );
  }
  body.size = size;

  let quality: string | undefined;
  if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    quality = (gptImageQualities as readonly string[]).includes(raw)
      ? raw
      : gptLegacyQualities[raw];
    if (quality === undefined) {
      throw new InvalidRequestError(
        `Invalid quality '${request.quality}' for ${name}. Supported: ${[...gptImageQualities, "standard", "hd"].join(", ")}.`,
        "quality",
      );
    }
    body.quality = quality;
  }

  if (request.background !== undefined) {
    if (request.background === "transparent" && request.output_format === "jpeg") {
      throw new InvalidRequestError(
        "A transparent background needs output_format 'png' or 'webp'.",
        "background",
      );
    }
    body.background = request.background;
  }
  if (request.moderation !== undefined) body.moderation = request.moderation;
  if (request.output_format !== undefined) body.output_format = request.output_format;
  if (request.output_compression !== undefined) {
    if (request.output_format !== "jpeg" && request.output_format !== "webp") {
      throw new InvalidRequestError(
        "output_compression is only supported with output_format 'jpeg' or 'webp'.",
        "output_compression",
      );
    }
    body.output_compression = request.output_compression;
  }
  rejectGoogleConfig(request, name);
  passExtraBody(request, body);

  const qualityMs = lookupTable({ low: 15_000, medium: 40_000, high: 100_000 });
  const base = qualityMs[quality ?? "auto"] ?? model.spec.typicalMs;
  const scale = size === "3840x2160" || size === "2160x3840" ? 3 : size === "2048x1152" ? 1.5 : 1;
  const echo: Translation["echo"] = {};
  if (size !== "auto") echo.size = size;
  if (quality !== undefined) echo.quality = quality;
  if (request.background !== undefined) echo.background = request.background;
  return { echo, expectedMs: base * scale };
}

function translateGemini(
  request: ImageRequest,
  spec: ModelSpec,
  body: UpstreamSubmitBody,
): FamilyResult {
  rejectUnsupportedOutput(request, spec);
  const sized = ratioFromSize(request.size, geminiAspectRatios, spec);

  const imageConfig = request.extra_body?.google?.image_config;
  let aspectRatio = sized.ratio;
  if (imageConfig?.aspect_ratio !== undefined) {
    const explicit = imageConfig.aspect_ratio.trim();
    if (!(geminiAspectRatios as readonly string[]).includes(explicit)) {
      throw new InvalidRequestError(
        `Invalid extra_body.google.image_config.aspect_ratio '${explicit}'. Supported: ${geminiAspectRatios.join(", ")}.`,
        "extra_body",
      );
    }
    if (aspectRatio !== undefined && aspectRatio !== explicit) {
      throw new InvalidRequestError(
        `size '${request.size}' (${aspectRatio}) conflicts with extra_body.google.image_config.aspect_ratio '${explicit}'.`,
        "extra_body",
      );
    }
    aspectRatio = explicit;
  }

  // Resolution: an explicit image_config wins (UPSTREAM.md), then quality, then
  // what a large WxH size implies; otherwise the model's default (1K).
  let resolution: string | undefined;
  if (imageConfig?.image_size !== undefined) {
    resolution = geminiResolution(imageConfig.image_size);
    if (resolution === undefined) {
      throw new InvalidRequestError(
        `Invalid extra_body.google.image_config.image_size '${imageConfig.image_size}'. Supported: ${geminiImageSizes.join(", ")}.`,
        "extra_body",
      );
    }
  } else if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    resolution = geminiResolution(raw);
    if (resolution === undefined) {
      if (!(raw in geminiQualityResolution)) {
        throw new InvalidRequestError(
          `Invalid quality '${request.quality}' for ${spec.id}. Supported: ${[...geminiImageSizes, ...Object.keys(geminiQualityResolution)].join(", ")}.`,
          "quality",
        );
      }
      resolution = geminiQualityResolution[raw] ?? sized.impliedResolution;
    }
  } else {
    resolution = sized.impliedResolution;
  }

  if (aspectRatio !== undefined) body.size = aspectRatio;
  if (resolution !== undefined) body.quality = resolution;
  const extra = { ...(request.extra_body ?? {}) };
  const google = { ...(request.extra_body?.google ?? {}) };
  const config: Record<string, unknown> = { ...(imageConfig ?? {}) };
  if (aspectRatio !== undefined) config.aspect_ratio = aspectRatio;
  if (resolution !== undefined) config.image_size = resolution;
  if (Object.keys(config).length > 0) {
    google.image_config = config;
    extra.google = google;
  }
  if (Object.keys(extra).length > 0) body.extra_body = extra;

  const flash = spec.id === "gemini-3.1-flash-image-preview";
  const resolutionMs = lookupTable(
    flash
      ? { "1K": 8_000, "2K": 12_000, "4K": 40_000 }
      : { "1K": 12_000, "2K": 14_000, "4K": 18_000 },
  );
  const echo: Translation["echo"] = {};
  if (aspectRatio !== undefined) echo.size = aspectRatio;
  if (resolution !== undefined) echo.quality = resolution;
  return { echo, expectedMs: resolutionMs[resolution ?? "1K"] ?? spec.typicalMs };
}

function translateGrok(
  request: ImageRequest,
  spec: ModelSpec,
  body: UpstreamSubmitBody,
): FamilyResult {
  rejectUnsupportedOutput(request, spec);
  rejectGoogleConfig(request, spec.id);
  const { ratio } = ratioFromSize(request.size, grokAspectRatios, spec);
  if (ratio !== undefined) body.size = ratio;
  if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    if (!grokAcceptedQualities.has(raw)) {
      throw new InvalidRequestError(
        `${spec.id} has a fixed quality; quality '${request.quality}' cannot be honoured (use auto, standard or hd, or another model).`,
        "quality",
      );
    }
  }
  passExtraBody(request, body);
  const echo: Translation["echo"] = {};
  if (ratio !== undefined) echo.size = ratio;
  return { echo, expectedMs: spec.typicalMs };
}

/** Gemini and Grok return their own image format and cannot cut out backgrounds. */
function rejectUnsupportedOutput(request: ImageRequest, spec: ModelSpec): void {
  if (request.background === "transparent") {
    throw new InvalidRequestError(
      `${spec.id} cannot produce a transparent background.`,
      "background",
    );
  }
  if (request.output_format !== undefined) {
    throw new InvalidRequestError(
      `${spec.id} returns images in its own format; output_format is only supported by gpt-image-2.`,
      "output_format",
    );
  }
  if (request.output_compression !== undefined) {
    throw new InvalidRequestError(
      `${spec.id} does not support output_compression.`,
      "output_compression",
    );
  }
}

function rejectGoogleConfig(request: ImageRequest, modelId: string): void {
  if (request.extra_body?.google !== undefined) {
    throw new InvalidRequestError(
      `extra_body.google applies to Gemini models only, not ${modelId}.`,
      "extra_body",
    );
  }
}

function passExtraBody(request: ImageRequest, body: UpstreamSubmitBody): void {
  if (request.extra_body !== undefined && Object.keys(request.extra_body).length > 0) {
    body.extra_body = request.extra_body;
  }
}

function geminiResolution(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  return (geminiImageSizes as readonly string[]).includes(upper) ? upper : undefined;
}

interface SizedRatio {
  ratio: string | undefined;
  /** A WxH size whose long side asks for more than the default 1K. */
  impliedResolution: string | undefined;
}

/**
 * Ratio families: a ratio string must be one the family takes; an OpenAI WxH size
 * maps to the nearest ratio (by log aspect, so 2:1 and 1:2 are equally far from
 * 1:1); `auto` or nothing leaves the model's default.
 */
function ratioFromSize(
  size: string | undefined,
  ratios: readonly string[],
  spec: ModelSpec,
): SizedRatio {
  if (size === undefined) return { ratio: undefined, impliedResolution: undefined };
  const raw = size.trim().toLowerCase();
  if (raw === "auto") return { ratio: undefined, impliedResolution: undefined };
  if (ratios.includes(raw)) return { ratio: raw, impliedResolution: undefined };
  const match = wxh.exec(raw);
  const width = Number(match?.[1] ?? 0);
  const height = Number(match?.[2] ?? 0);
  if (!match || width < 64 || height < 64 || width > 8192 || height > 8192) {
    throw new InvalidRequestError(
      `Invalid size '${size}' for ${spec.id}. Use an aspect ratio (${ratios.join(", ")}), a WIDTHxHEIGHT size, or auto.`,
      "size",
    );
  }
  const target = Math.log(width / height);
  let best = ratios[0] as string;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const ratio of ratios) {
    const [w, h] = ratio.split(":").map(Number) as [number, number];
    const distance = Math.abs(Math.log(w / h) - target);
    if (distance < bestDistance) {
      best = ratio;
      bestDistance = distance;
    }
  }
  const longSide = Math.max(width, height);
  const impliedResolution = longSide >= 3000 ? "4K" : longSide >= 1800 ? "2K" : undefined;
  return { ratio: best, impliedResolution };
}

/** Exposed for the table-driven tests and the README table. */
export const translationTables = {
  gptLegacySizes,
  gptLegacyQualities,
  geminiQualityResolution,
} satisfies Record<string, unknown>;

function normaliseReferences(
  imageUrl: string | string[] | undefined,
  spec: ModelSpec,
  param: string,
): string | string[] | undefined {
  if (imageUrl === undefined) return undefined;
  const list = typeof imageUrl === "string" ? [imageUrl] : imageUrl;
  if (list.length === 0) return undefined;
  if (list.length > spec.maxReferences) {
    throw new InvalidRequestError(
      spec.maxReferences === 0
        ? `${spec.id} does not take reference images.`
        : `${spec.id} takes at most ${spec.maxReferences} reference image(s); got ${list.length}.`,
      param,
    );
  }
  for (const url of list) {
    if (!/^(https?:\/\/[^\s]+|data:image\/[a-z0-9.+-]+;base64,)/i.test(url)) {
      throw new InvalidRequestError(
        "Each image_url must be an http(s) URL or a data:image/...;base64 URI.",
        param,
      );
    }
  }
  return referencesValue(list);
}

// The seed sends one reference as a string; several go as a list.
function referencesValue<T>(list: readonly T[]): T | T[] | undefined {
  if (list.length === 0) return undefined;
  return list.length === 1 ? list[0] : [...list];
}

/**
 * The translation with its references replaced: uploads are checked (count,
 * model) with placeholders first and only stored or encoded once the whole
 * request is known to be acceptable.
 */
export function withReferences(
  translation: Translation,
  urls: ReadonlyArray<string | object>,
): Translation {
  const body: UpstreamSubmitBody = { ...translation.body };
  const value = referencesValue(urls);
  if (value === undefined) delete body.image_url;
  else body.image_url = value;
  return { ...translation, body };
}
