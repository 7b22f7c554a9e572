// zod schemas for request bodies at the edge, and the one translation of a zod
// failure into a 400 that names the parameter.
import { z } from "zod";
import type { ImageRequest } from "../catalog/request.js";
import { InvalidRequestError } from "../errors.js";

/** OpenAI clients may send null for "not set". */
const optional = <T extends z.ZodType>(schema: T) =>
  schema.nullish().transform((value) => value ?? undefined);

const imageConfig = z.looseObject({
  aspect_ratio: optional(z.string().max(16)),
  image_size: optional(z.string().max(8)),
});

export const imageRequestSchema = z.object({
  prompt: z.string().trim().min(1, "must not be empty").max(32_000),
  model: optional(z.string().trim().min(1).max(128)),
  n: optional(z.number().int().min(1).max(10)),
  size: optional(z.string().max(32)),
  quality: optional(z.string().max(32)),
  response_format: optional(z.enum(["url", "b64_json"])),
  style: optional(z.enum(["vivid", "natural"])),
  user: optional(z.string().max(512)),
  background: optional(z.enum(["transparent", "opaque", "auto"])),
  moderation: optional(z.enum(["low", "auto"])),
  output_format: optional(z.enum(["png", "jpeg", "webp"])),
  output_compression: optional(z.number().int().min(0).max(100)),
  stream: optional(z.boolean()),
  partial_images: optional(z.number().int().min(0).max(3)),
  image_url: optional(
    z.union([z.string().min(1), z.array(z.string().min(1)).max(16, "at most 16 references")]),
  ),
  extra_body: optional(
    z.looseObject({
      google: optional(z.looseObject({ image_config: optional(imageConfig) })),
    }),
  ),
}) satisfies z.ZodType<ImageRequest>;

/** images.edit as multipart: references arrive as files, not `image_url`. */
export const editFormSchema = imageRequestSchema.omit({ image_url: true }).extend({
  input_fidelity: optional(z.enum(["high", "low"])),
});

const imageReference = z.strictObject({
  image_url: optional(z.string().min(1).max(70_000_000)),
  file_id: optional(z.string().min(1).max(256)),
});

/** images.edit as JSON (OpenAI's form for GPT image models): references as URLs. */
export const editJsonSchema = editFormSchema.extend({
  images: z.array(imageReference).min(1, "give at least one image").max(16),
  mask: optional(imageReference),
});

/** images.createVariation: no prompt; one image file. */
export const variationFormSchema = z.object({
  model: optional(z.string().trim().min(1).max(128)),
  n: optional(z.number().int().min(1).max(10)),
  size: optional(z.string().max(32)),
  response_format: optional(z.enum(["url", "b64_json"])),
  user: optional(z.string().max(512)),
});

/** Parses `body` or throws the OpenAI-style 400 for its first problem. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidRequestError("The request body must be a JSON object.", null, "invalid_json");
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = issue && issue.path.length > 0 ? issue.path.join(".") : null;
  const missing = issue?.code === "invalid_type" && issue.input === undefined;
  if (missing) {
    throw new InvalidRequestError(
      `Missing required parameter: '${param}'.`,
      param,
      "missing_required_parameter",
    );
  }
  throw new InvalidRequestError(
    `Invalid value for '${param ?? "body"}': ${issue?.message ?? "invalid"}.`,
    param,
    issue?.code === "invalid_type" ? "invalid_type" : "invalid_value",
  );
}
