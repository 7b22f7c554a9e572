// Grok Imagine upstream (and dall-e-3, which runs on Grok Imagine Pro): sizes
// become aspect ratios; each model has one quality.
import { gatewayError } from "../errors.js";
import type { Echo } from "./answer.js";
import {
  type FamilyInput,
  type FamilyResult,
  passExtraBody,
  ratioFromSize,
  rejectGoogleConfig,
  rejectUnsupportedOutput,
} from "./family.js";
import { grokAspectRatios } from "./models.js";
import { formatSize, openaiSize } from "./sizes.js";

/** Grok has one quality per model: only "leave it to the model" values are honoured. */
const grokAcceptedQualities = new Set(["auto", "standard", "hd"]);

export function translateGrok({ request, model, body }: FamilyInput): FamilyResult {
  rejectUnsupportedOutput(request, model);
  rejectGoogleConfig(request, model);
  // An OpenAI name takes its own sizes only (dall-e-3: its three), made at
  // the nearest ratio; the upstream's names also take ratios and any WxH.
  let size = request.size;
  if (model.kind !== undefined) {
    const asked = openaiSize(model.kind, request.size, model.name);
    size = asked === "auto" ? undefined : formatSize(asked);
  }
  const sized = ratioFromSize(size, grokAspectRatios, model);
  if (sized.ratio !== undefined) body.size = sized.ratio;
  if (request.quality !== undefined) {
    const raw = request.quality.trim().toLowerCase();
    if (!grokAcceptedQualities.has(raw)) {
      throw gatewayError(
        "invalid_value",
        {
          detail: `${model.name} has a fixed quality; quality '${request.quality}' cannot be honoured (use auto, standard or hd, or a GPT image model such as gpt-image-1 for low, medium or high).`,
        },
        { param: "quality" },
      );
    }
  }
  passExtraBody(request, body);
  // The quality is the model's own: the answer names none.
  const echo: Echo = {};
  if (sized.asked !== undefined) echo.size = sized.asked;
  if (request.background === "opaque") echo.background = "opaque";
  return { echo, expectedMs: model.spec.typicalMs };
}
