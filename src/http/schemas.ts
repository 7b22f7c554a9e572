// zod schemas for request bodies at the edge, and parseBody: a failure becomes
// the 400 OpenAI answers for it (validation-errors.ts), naming the parameter;
// here it also knows which schemas are fed by multipart forms.
import { z } from "zod";
import type { ImageRequest } from "../catalog/request.js";
import { parseBody as parseAnyBody } from "../validation.js";

/** OpenAI clients may send null for "not set". */
const optional = <T extends z.ZodType>(schema: T) =>
  schema.nullish().transform((value) => value ?? undefined);

const imageConfig = z.looseObject({
  aspect_ratio: optional(z.string().max(16)),
  image_size: optional(z.string().max(8)),
});

export const imageRequestSchema = z.object({
  prompt: z.string().trim().min(1).max(32_000),
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
  image_url: optional(z.union([z.string().min(1), z.array(z.string().min(1)).max(16)])),
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
  images: z.array(imageReference).min(1).max(16),
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

/**
 * The schemas fed only by `formToBody` (multipart): there a number or boolean
 * that is still a string is one that did not convert, and the message says so.
 */
const formSchemas: ReadonlySet<z.ZodType> = new Set([editFormSchema, variationFormSchema]);

/** Parses `body` or throws the OpenAI-style 400 for its first problem (validation.ts). */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  return parseAnyBody(schema, body, { form: formSchemas.has(schema) });
}
