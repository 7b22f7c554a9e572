// What every family's translation shares: its input and result, and the
// checks more than one family makes. Pure.
import { gatewayError } from "../errors.js";
import type { Echo } from "./answer.js";
import type { ResolvedModel } from "./models.js";
import type { ImageRequest } from "./request.js";

export type UpstreamSubmitBody = Record<string, unknown>;

export interface FamilyInput {
  request: ImageRequest;
  model: ResolvedModel;
  /** The submit body so far (model, prompt, n, references): the family adds its fields. */
  body: UpstreamSubmitBody;
}

export interface FamilyResult {
  echo: Echo;
  /** Expected generation time, for the poller's schedule. */
  expectedMs: number;
}

/** Gemini and Grok return their own image format and cannot cut out backgrounds. */
export function rejectUnsupportedOutput(request: ImageRequest, model: ResolvedModel): void {
  if (request.background === "transparent") {
    throw gatewayError(
      "invalid_value",
      {
        detail: `${model.name} cannot produce a transparent background; use a GPT image model (e.g. gpt-image-1) for one.`,
      },
      { param: "background" },
    );
  }
  if (request.output_format !== undefined) {
    throw gatewayError(
      "invalid_value",
      {
        detail: `${model.name} returns images in its own format; output_format is only supported by the GPT image models (e.g. gpt-image-1).`,
      },
      { param: "output_format" },
    );
  }
  if (request.output_compression !== undefined) {
    throw gatewayError(
      "invalid_value",
      {
        detail: `${model.name} does not support output_compression; the GPT image models (e.g. gpt-image-1) do, with output_format 'jpeg' or 'webp'.`,
      },
      { param: "output_compression" },
    );
  }
}

export function rejectGoogleConfig(request: ImageRequest, model: ResolvedModel): void {
  if (request.extra_body?.google !== undefined) {
    throw gatewayError(
      "invalid_value",
      {
        detail: `extra_body.google applies to Gemini models only (e.g. nano-banana), not ${model.name}.`,
      },
      { param: "extra_body" },
    );
  }
}

export function passExtraBody(request: ImageRequest, body: UpstreamSubmitBody): void {
  if (request.extra_body !== undefined && Object.keys(request.extra_body).length > 0) {
    body.extra_body = request.extra_body;
  }
}

export interface SizedRatio {
  ratio: string | undefined;
  /** A WxH size whose long side asks for more than the default 1K. */
  impliedResolution: string | undefined;
  /** The WxH size asked, normalised, for the answer. */
  asked: string | undefined;
}

const wxh = /^(\d{1,5})x(\d{1,5})$/;

/**
 * Ratio families: a ratio string must be one the family takes; an OpenAI WxH size
 * maps to the nearest ratio (by log aspect, so 2:1 and 1:2 are equally far from
 * 1:1); `auto` or nothing leaves the model's default.
 */
export function ratioFromSize(
  size: string | undefined,
  ratios: readonly string[],
  model: ResolvedModel,
): SizedRatio {
  const none = { ratio: undefined, impliedResolution: undefined, asked: undefined };
  if (size === undefined) return none;
  const raw = size.trim().toLowerCase();
  if (raw === "auto") return none;
  if (ratios.includes(raw)) return { ...none, ratio: raw };
  const match = wxh.exec(raw);
  const width = Number(match?.[1] ?? 0);
  const height = Number(match?.[2] ?? 0);
  if (!match || width < 64 || height < 64 || width > 8192 || height > 8192) {
    throw gatewayError(
      "invalid_value",
      {
        detail: `Invalid size '${size}' for ${model.name}. Use an aspect ratio (${ratios.join(", ")}), a WIDTHxHEIGHT size (64 to 8192 pixels a side), or auto.`,
      },
      { param: "size" },
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
  return { ratio: best, impliedResolution, asked: `${width}x${height}` };
}
