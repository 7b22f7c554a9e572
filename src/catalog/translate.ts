// OpenAI image request → upstream submit body. Pure functions: every value a
// model cannot honour is an InvalidRequestError naming the parameter (and the
// model as the caller named it), never a silent substitute. Each upstream
// family translates in its own module; the table is documented in README.md.
import { gatewayError, InvalidRequestError } from "../errors.js";
import type { Echo } from "./answer.js";
import type { FamilyInput, FamilyResult, UpstreamSubmitBody } from "./family.js";
import { geminiQualityResolution, translateGemini } from "./gemini.js";
import { gptLegacyQualities, translateGptImage } from "./gpt-image.js";
import { translateGrok } from "./grok.js";
import { builtInModelMap, type ModelMap } from "./model-map.js";
import { defaultModelName, type Family, type OpenAIKind, type ResolvedModel } from "./models.js";
import type { ImageRequest, ResponseFormat } from "./request.js";

export type { UpstreamSubmitBody } from "./family.js";

export interface Translation {
  model: ResolvedModel;
  /** The JSON body for `POST /v1/images/generations/async`. */
  body: UpstreamSubmitBody;
  n: number;
  responseFormat: ResponseFormat;
  /** What the answer needs to say besides the images, in OpenAI's vocabulary. */
  echo: Echo;
  /** Expected generation time, for the poller's schedule. */
  expectedMs: number;
}

const families: Readonly<Record<Family, (input: FamilyInput) => FamilyResult>> = {
  "gpt-image": translateGptImage,
  gemini: translateGemini,
  grok: translateGrok,
};

/**
 * What follows from which OpenAI model a name is, besides its sizes
 * (sizes.ts): OpenAI's default response_format (legacy DALL·E callers expect
 * URLs; everything else, and names that are not OpenAI's, get b64_json) and
 * whether answers carry `revised_prompt` (DALL·E 3's do).
 */
export const kindDefaults: Readonly<
  Record<OpenAIKind, { responseFormat: ResponseFormat; revisedPrompt: boolean; maxN: number }>
> = {
  "dall-e-2": { responseFormat: "url", revisedPrompt: false, maxN: 10 },
  // OpenAI's DALL·E 3 makes one image per request.
  "dall-e-3": { responseFormat: "url", revisedPrompt: true, maxN: 1 },
  "gpt-image": { responseFormat: "b64_json", revisedPrompt: false, maxN: 10 },
};

export interface TranslateOptions {
  /** The parameter that carried the references, for error messages (`image` for edits). */
  referencesParam?: string;
  /** The effective model map (the built-in table unless the operator gave a model file). */
  models?: ModelMap;
}

/** The model a request names (or the default), or the 404 OpenAI answers for an unknown one. */
export function requireModel(
  requested: string | undefined,
  models: ModelMap = builtInModelMap,
): ResolvedModel {
  const name = requested ?? defaultModelName;
  const model = models.resolve(name);
  if (!model) {
    throw gatewayError("model_not_found", { model: name });
  }
  return model;
}

export function translateRequest(given: ImageRequest, options: TranslateOptions = {}): Translation {
  const model = requireModel(given.model, options.models);
  const request = withDefaults(given, model);
  const n = request.n ?? 1;
  const maxN = model.kind === undefined ? undefined : kindDefaults[model.kind].maxN;
  if (maxN !== undefined && n > maxN) {
    throw gatewayError(
      "integer_above_max_value",
      {
        detail: `Invalid 'n': integer above maximum value. Expected a value <= ${maxN} for ${model.name}, but got ${n} instead.`,
      },
      { param: "n" },
    );
  }
  const references = normaliseReferences(
    request.image_url,
    model,
    options.referencesParam ?? "image_url",
  );

  const body: UpstreamSubmitBody = { model: model.spec.id, prompt: request.prompt, n };
  if (references !== undefined) body.image_url = references;

  const { echo, expectedMs } = families[model.spec.family]({ request, model, body });
  const defaults = model.kind === undefined ? undefined : kindDefaults[model.kind];
  if (defaults?.revisedPrompt) echo.revised_prompt = request.prompt;
  // OpenAI's callers lay out exactly the pixels they asked for (generation
  // conforms the result); the upstream's own names take what it makes.
  if (model.kind !== undefined) echo.exact = true;

  return {
    model,
    body,
    n,
    responseFormat: request.response_format ?? defaults?.responseFormat ?? "b64_json",
    echo,
    expectedMs,
  };
}

/** The operator's defaults for the name, under what the request itself says. */
function withDefaults(request: ImageRequest, model: ResolvedModel): ImageRequest {
  const defaults = model.defaults;
  if (!defaults) return request;
  const filled: ImageRequest = { ...request };
  if (filled.size === undefined && defaults.size !== undefined) filled.size = defaults.size;
  if (filled.quality === undefined && defaults.quality !== undefined) {
    filled.quality = defaults.quality;
  }
  if (filled.response_format === undefined && defaults.response_format !== undefined) {
    filled.response_format = defaults.response_format;
  }
  if (filled.n === undefined && defaults.n !== undefined) filled.n = defaults.n;
  return filled;
}

/**
 * Checks, at start, that every default in the map is one its name can honour:
 * one line per problem (`models."house-style".defaults.size: …`), none if all are.
 */
export function checkModelDefaults(models: ModelMap): string[] {
  const problems: string[] = [];
  for (const row of models.rows()) {
    if (row.hidden || Object.keys(row.defaults).length === 0) continue;
    try {
      translateRequest({ prompt: "check", model: row.name }, { models });
    } catch (err) {
      if (!(err instanceof InvalidRequestError)) throw err;
      const field = err.param === null ? "" : `.${err.param}`;
      problems.push(`models.${JSON.stringify(row.name)}.defaults${field}: ${err.message}`);
    }
  }
  return problems;
}

/** Exposed for the table-driven tests and the README table. */
export const translationTables = {
  gptLegacyQualities,
  geminiQualityResolution,
} satisfies Record<string, unknown>;

function normaliseReferences(
  imageUrl: string | string[] | undefined,
  model: ResolvedModel,
  param: string,
): string | string[] | undefined {
  const { name, spec } = model;
  if (imageUrl === undefined) return undefined;
  const list = typeof imageUrl === "string" ? [imageUrl] : imageUrl;
  if (list.length === 0) return undefined;
  if (list.length > spec.maxReferences) {
    throw gatewayError(
      "invalid_value",
      {
        detail:
          spec.maxReferences === 0
            ? `${name} does not take reference images; use a model that does (e.g. gpt-image-1).`
            : `${name} takes at most ${spec.maxReferences} reference image(s); got ${list.length}.`,
      },
      { param },
    );
  }
  for (const url of list) {
    if (!/^(https?:\/\/[^\s]+|data:image\/[a-z0-9.+-]+;base64,)/i.test(url)) {
      throw gatewayError(
        "invalid_value",
        { detail: "Each image_url must be an http(s) URL or a data:image/...;base64 URI." },
        { param },
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
