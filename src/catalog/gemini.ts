// Gemini (Nano Banana) upstream: sizes become aspect ratios, qualities become
// output resolutions (1K/2K/4K), both also sent as
// `extra_body.google.image_config`, which the caller may give explicitly.
import { gatewayError } from "../errors.js";
import { lookupTable } from "../lookup-table.js";
import type { Echo } from "./answer.js";
import {
  type FamilyInput,
  type FamilyResult,
  ratioFromSize,
  rejectUnsupportedOutput,
} from "./family.js";
import { geminiAspectRatios, geminiImageSizes } from "./models.js";

/** OpenAI qualities as Gemini output resolutions; `auto` leaves the model default (1K). */
export const geminiQualityResolution = lookupTable<string | undefined>({
  low: "1K",
  medium: "1K",
  standard: "1K",
  high: "2K",
  hd: "2K",
  auto: undefined,
});

function geminiResolution(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  return (geminiImageSizes as readonly string[]).includes(upper) ? upper : undefined;
}

export function translateGemini({ request, model, body }: FamilyInput): FamilyResult {
  const { spec } = model;
  rejectUnsupportedOutput(request, model);
  const sized = ratioFromSize(request.size, geminiAspectRatios, model);

  const imageConfig = request.extra_body?.google?.image_config;
  let aspectRatio = sized.ratio;
  if (imageConfig?.aspect_ratio !== undefined) {
    const explicit = imageConfig.aspect_ratio.trim();
    if (!(geminiAspectRatios as readonly string[]).includes(explicit)) {
      throw gatewayError(
        "invalid_value",
        {
          detail: `Invalid extra_body.google.image_config.aspect_ratio '${explicit}'. Supported: ${geminiAspectRatios.join(", ")}.`,
        },
        { param: "extra_body" },
      );
    }
    if (aspectRatio !== undefined && aspectRatio !== explicit) {
      throw gatewayError(
        "invalid_value",
        {
          detail: `size '${request.size}' (${aspectRatio}) conflicts with extra_body.google.image_config.aspect_ratio '${explicit}'.`,
        },
        { param: "extra_body" },
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
      throw gatewayError(
        "invalid_value",
        {
          detail: `Invalid extra_body.google.image_config.image_size '${imageConfig.image_size}'. Supported: ${geminiImageSizes.join(", ")}.`,
        },
        { param: "extra_body" },
      );
    }
  } else if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    resolution = geminiResolution(raw);
    if (resolution === undefined) {
      if (!(raw in geminiQualityResolution)) {
        throw gatewayError(
          "invalid_value",
          {
            detail: `Invalid quality '${request.quality}' for ${model.name}. Supported: ${[...geminiImageSizes, ...Object.keys(geminiQualityResolution)].join(", ")}.`,
          },
          { param: "quality" },
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
  // Ratios and resolutions are the upstream's units, not OpenAI's: the answer
  // reports the size delivered, and no quality.
  const echo: Echo = {};
  if (sized.asked !== undefined) echo.size = sized.asked;
  if (request.background === "opaque") echo.background = "opaque";
  return { echo, expectedMs: resolutionMs[resolution ?? "1K"] ?? spec.typicalMs };
}
