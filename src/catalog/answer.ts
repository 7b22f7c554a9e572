// What an answer says besides its images, in OpenAI's vocabulary only: the
// response body's `size`, `quality`, `background`, `output_format` and
// `data[].revised_prompt`, and the fields OpenAI's stream events require.
// Values come from what was delivered (the first image's header) where it
// tells, else from what the request asked; an upstream's own units (`16:9`,
// `2K`) never appear. Pure: the header is read by the caller.

/**
 * What the request settled that the answer may need, in OpenAI's vocabulary;
 * kept with the task so that an answer given again (after a restart, to a
 * retried request) says the same. Values outside OpenAI's vocabulary, which
 * records written by older versions may hold, are ignored.
 */
export interface Echo {
  /** The size asked (or the OpenAI model's default size), WxH; absent for auto or a ratio. */
  size?: string;
  /** OpenAI's quality the request runs at; absent when the model chooses. */
  quality?: string;
  /** `transparent` or `opaque` when asked. */
  background?: string;
  /** `png`, `jpeg` or `webp` when asked. */
  output_format?: string;
  /** OpenAI's `output_compression` (0–100) when asked, with `jpeg` or `webp`. */
  output_compression?: number;
  /**
   * The caller named an OpenAI model: the delivered image is made exactly the
   * `size` and `output_format` asked, as OpenAI delivers them. Absent for the
   * upstream's own names, whose callers take what the upstream makes.
   */
  exact?: boolean;
  /** The prompt as sent upstream: DALL·E 3 answers return it as `data[].revised_prompt`. */
  revised_prompt?: string;
}

/** What the first delivered image's header says (generation/imaging's ImageInfo). */
export interface DeliveredImage {
  format: string;
  width: number;
  height: number;
  hasAlpha: boolean;
}

export type AnswerFormat = "png" | "jpeg" | "webp";

/** The optional fields of OpenAI's image response, in OpenAI's order. */
export interface AnswerFields {
  background?: "transparent" | "opaque";
  output_format?: AnswerFormat;
  size?: string;
  quality?: "low" | "medium" | "high";
}

/**
 * What `image_generation.completed` / `image_edit.completed` carry besides the
 * image: OpenAI's schema requires all four and allows `auto` for size, quality
 * and background ("the model chose"). `usage` is left out: the upstream
 * reports no tokens and none are invented.
 */
export interface EventFields {
  size: string;
  quality: string;
  background: string;
  output_format?: AnswerFormat;
}

const formats: ReadonlySet<string> = new Set<AnswerFormat>(["png", "jpeg", "webp"]);
const qualities: ReadonlySet<string> = new Set(["low", "medium", "high"]);
const backgrounds: ReadonlySet<string> = new Set(["transparent", "opaque"]);
const wxh = /^[1-9]\d{0,4}x[1-9]\d{0,4}$/;

const isFormat = (value: string | undefined): value is AnswerFormat =>
  value !== undefined && formats.has(value);

/**
 * The response fields. `sniffedFormat` is the stored image's type from its
 * first bytes, for when its header could not be read.
 */
export function answerFields(
  echo: Echo,
  delivered: DeliveredImage | undefined,
  sniffedFormat?: string,
): AnswerFields {
  const fields: AnswerFields = {};
  const asked = echo.background !== undefined && backgrounds.has(echo.background);
  if (delivered !== undefined) {
    // An image without alpha is opaque whatever was asked; one with alpha is
    // what was asked, else transparent (the model chose to cut it out).
    fields.background =
      !delivered.hasAlpha || delivered.format === "jpeg"
        ? "opaque"
        : asked
          ? (echo.background as "transparent" | "opaque")
          : "transparent";
  } else if (asked) {
    fields.background = echo.background as "transparent" | "opaque";
  }

  // The real format; a delivered GIF has no OpenAI name and is left out.
  if (delivered !== undefined) {
    if (isFormat(delivered.format)) fields.output_format = delivered.format;
  } else if (isFormat(sniffedFormat)) {
    fields.output_format = sniffedFormat;
  } else {
    fields.output_format = isFormat(echo.output_format) ? echo.output_format : "png";
  }

  // The size delivered; the size asked when the header could not be read.
  if (delivered !== undefined) {
    fields.size = `${delivered.width}x${delivered.height}`;
  } else if (echo.size !== undefined && wxh.test(echo.size)) {
    fields.size = echo.size;
  }

  if (echo.quality !== undefined && qualities.has(echo.quality)) {
    fields.quality = echo.quality as AnswerFields["quality"];
  }
  return fields;
}

/** What an exact answer must be made into; a side or format left out keeps the image's own. */
export interface ConformPlan {
  width?: number;
  height?: number;
  format?: AnswerFormat;
  compression?: number;
  background?: "transparent" | "opaque";
}

/**
 * What the delivered image must be made into, or undefined when nothing is
 * asked of it: only for OpenAI names (`exact`) asking a concrete `WxH` size
 * or an output format (auto and ratios ask for no pixels in particular).
 */
export function conformPlan(echo: Echo): ConformPlan | undefined {
  if (echo.exact !== true) return undefined;
  const plan: ConformPlan = {};
  if (echo.size !== undefined && wxh.test(echo.size)) {
    const [width, height] = echo.size.split("x").map(Number) as [number, number];
    plan.width = width;
    plan.height = height;
  }
  if (isFormat(echo.output_format)) plan.format = echo.output_format;
  if (plan.width === undefined && plan.format === undefined) return undefined;
  const compression = echo.output_compression;
  if (
    compression !== undefined &&
    Number.isInteger(compression) &&
    compression >= 0 &&
    compression <= 100
  ) {
    plan.compression = compression;
  }
  if (echo.background !== undefined && backgrounds.has(echo.background)) {
    plan.background = echo.background as "transparent" | "opaque";
  }
  return plan;
}

/** The fields a completed stream event carries: `auto` where nothing is known. */
export function eventFields(fields: AnswerFields): EventFields {
  const event: EventFields = {
    size: fields.size ?? "auto",
    quality: fields.quality ?? "auto",
    background: fields.background ?? "auto",
  };
  if (fields.output_format !== undefined) event.output_format = fields.output_format;
  return event;
}
