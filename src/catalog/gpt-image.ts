// GPT Image 2 upstream: every GPT image name and the DALL·E 2 names run on it.
// The size is checked in the OpenAI vocabulary of the name asked (sizes.ts)
// and made at the nearest size the upstream makes; the size asked is kept for
// the answer.
import { gatewayError } from "../errors.js";
import { lookupTable } from "../lookup-table.js";
import type { Echo } from "./answer.js";
import {
  type FamilyInput,
  type FamilyResult,
  passExtraBody,
  rejectGoogleConfig,
} from "./family.js";
import { gptImageQualities } from "./models.js";
import { formatSize, nearestGptImageSize, openaiSize } from "./sizes.js";

/** DALL·E 3 qualities in GPT Image vocabulary. */
export const gptLegacyQualities = lookupTable({ standard: "medium", hd: "high" });

const qualityMs = lookupTable({ low: 15_000, medium: 40_000, high: 100_000 });

/** Generation time relative to 1024x1024, by the size made upstream. */
const sizeScale = lookupTable({ "3840x2160": 3, "2160x3840": 3, "2048x1152": 1.5 });

export function translateGptImage({ request, model, body }: FamilyInput): FamilyResult {
  const asked = openaiSize(model.kind ?? "gpt-image", request.size, model.name);
  const size = asked === "auto" ? "auto" : nearestGptImageSize(asked);
  body.size = size;

  let quality: string | undefined;
  if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    quality = (gptImageQualities as readonly string[]).includes(raw)
      ? raw
      : gptLegacyQualities[raw];
    if (quality === undefined) {
      throw gatewayError(
        "invalid_value",
        {
          detail: `Invalid quality '${request.quality}' for ${model.name}. Supported: ${[...gptImageQualities, "standard", "hd"].join(", ")}.`,
        },
        { param: "quality" },
      );
    }
    body.quality = quality;
  }

  if (request.background !== undefined) {
    if (request.background === "transparent" && request.output_format === "jpeg") {
      throw gatewayError(
        "invalid_value",
        { detail: "A transparent background needs output_format 'png' or 'webp'." },
        { param: "background" },
      );
    }
    body.background = request.background;
  }
  if (request.moderation !== undefined) body.moderation = request.moderation;
  if (request.output_format !== undefined) body.output_format = request.output_format;
  if (request.output_compression !== undefined) {
    if (request.output_format !== "jpeg" && request.output_format !== "webp") {
      throw gatewayError(
        "invalid_value",
        { detail: "output_compression is only supported with output_format 'jpeg' or 'webp'." },
        { param: "output_compression" },
      );
    }
    body.output_compression = request.output_compression;
  }
  rejectGoogleConfig(request, model);
  passExtraBody(request, body);

  const base = qualityMs[quality ?? "auto"] ?? model.spec.typicalMs;
  const echo: Echo = {};
  if (asked !== "auto") echo.size = formatSize(asked);
  if (quality !== undefined && quality !== "auto") echo.quality = quality;
  if (request.background === "transparent" || request.background === "opaque") {
    echo.background = request.background;
  }
  if (request.output_format !== undefined) echo.output_format = request.output_format;
  if (request.output_compression !== undefined) {
    echo.output_compression = request.output_compression;
  }
  return { echo, expectedMs: base * (sizeScale[size] ?? 1) };
}
