// The documentation's own zod schemas: what the routes answer (no zod parses
// an answer, so these describe them), path parameters, headers and upload
// fields. Request bodies are never described here: the document takes them
// from the schemas the handlers parse with. Where a type of the answer exists,
// `DocumentedAnswers` below ties the schema to it: a field added to one and not the other
// fails to compile; test/e2e/openapi.test.ts checks real answers against them.
import { z } from "zod";
import type { ErrorResponse } from "../errors.js";
import type { ImagesResponse } from "../generation/deliver.js";
import type { ChannelUsageReport, UsageReport } from "../generation/record.js";
import { generationStates } from "../generation/record.js";
import type { issuedKeyView, keyView } from "../tenancy/keys.js";
import { type KindName, type TenantView, tenantSettings, viewField } from "../tenancy/settings.js";
import type { Documents, Expect } from "./openapi-docs.js";
import type { modelView } from "./routes/admin.js";
import type { generationView } from "./routes/admin-generations.js";
import { editFormSchema, variationFormSchema } from "./schemas.js";

const int = () => z.number().int();
const unixSeconds = () => int().describe("Unix time, seconds.");

// ---- Errors -----------------------------------------------------------------

export const errorResponseSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .describe("OpenAI's error envelope: `code` names the error, and stays the same across versions.");

// ---- OpenAI-compatible images -----------------------------------------------

const revisedPrompt = z
  .string()
  .describe("The prompt as the model used it (dall-e-3 names only).")
  .optional();

export const imagesResponseSchema = z.object({
  created: unixSeconds(),
  data: z.array(
    z.union([
      z.object({
        url: z.string().describe("A signed, expiring URL of the image on this gateway."),
        revised_prompt: revisedPrompt,
      }),
      z.object({
        b64_json: z.string().describe("The image, base64-encoded."),
        revised_prompt: revisedPrompt,
      }),
    ]),
  ),
  background: z.enum(["transparent", "opaque"]).optional(),
  output_format: z.enum(["png", "jpeg", "webp"]).optional(),
  size: z.string().describe("WxH, as delivered.").optional(),
  quality: z.enum(["low", "medium", "high"]).optional(),
});

export const imageEventStream = z
  .string()
  .describe(
    "With `stream: true`: server-sent events, one `image_generation.completed` (edits: `image_edit.completed`) per image, with `b64_json`, `created_at`, `size`, `quality`, `background` and `output_format`; a failure is an `error` event carrying the error envelope.",
  );

/** An uploaded image file (multipart). */
const imageFile = z.file().describe("A PNG, JPEG or WebP image (its bytes are checked).");

/** images.edit as multipart: the handler's form fields, and its files. */
export const editFormDocument = editFormSchema.extend({
  image: z
    .union([imageFile, z.array(imageFile)])
    .describe("The image(s) to edit: `image`, or `image[]` repeated for several."),
  mask: imageFile
    .describe("A PNG whose transparent pixels mark where to edit the first image.")
    .optional(),
});

/** images.createVariation as multipart: the handler's form fields, and its file. */
export const variationFormDocument = variationFormSchema.extend({
  image: imageFile.describe("The image to vary."),
});

export const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .describe(
      "1 to 255 printable ASCII characters. A retry with the same key joins the first request's generation instead of paying again.",
    )
    .optional(),
});

export const taskIdHeader = {
  "x-imagegate-task-id":
    "The gateway's task id: the result can be read again with GET /v1/images/tasks/{id}.",
};

// ---- Models -----------------------------------------------------------------

export const modelSchema = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: unixSeconds(),
  owned_by: z.string(),
});

export const modelListSchema = z.object({
  object: z.literal("list"),
  data: z.array(modelSchema),
});

// ---- The async task API -------------------------------------------------------

export const submittedTaskSchema = z.object({
  id: z.string(),
  task_id: z.string(),
  object: z.literal("image.task"),
  status: z.literal("queued"),
  progress: int(),
  data: z.array(z.unknown()).max(0),
});

export const taskStateSchema = z.object({
  code: z.literal("success"),
  message: z.string(),
  data: z.object({
    task_id: z.string(),
    status: z.enum(["NOT_START", "SUBMITTED", "IN_PROGRESS", "SUCCESS", "FAILURE"]),
    progress: z.string().describe('A percentage, e.g. "42%".'),
    result_url: z.string().describe("The first result's URL (SUCCESS).").optional(),
    data: z
      .object({ data: z.array(z.object({ url: z.string() })) })
      .describe("Each result's URL (SUCCESS).")
      .optional(),
    fail_reason: z.string().describe("Why it failed (FAILURE).").optional(),
  }),
});

export const taskParams = z.object({ id: z.string().describe("The task id.") });

export const resultQuery = z.object({
  index: z
    .string()
    .regex(/^(0|[1-9]\d*)$/)
    .describe("Which result: 0 (the default) for the first image.")
    .optional(),
});

const imageBytes = z
  .file()
  .describe("The image, as the upstream made it (or conformed to the request).");

/** A stored result's bytes, by the type its first bytes show (storage/blobs.ts). */
export const storedImage = {
  "image/png": imageBytes,
  "image/jpeg": imageBytes,
  "image/webp": imageBytes,
  "image/gif": imageBytes,
  "application/octet-stream": imageBytes,
};

// ---- Files, health, metrics ---------------------------------------------------

export const fileParams = z.object({ id: z.string().describe("The stored image's id.") });

export const signedUrlQuery = z.object({
  expires: z.string().describe("Unix time (seconds) the URL expires at."),
  signature: z.string().describe("The URL's HMAC signature."),
});

export const livenessSchema = z.object({ status: z.literal("ok") });

const unavailable = z.literal("unavailable").optional();
export const readinessSchema = z.object({
  status: z.enum(["ready", "unavailable"]),
  database: unavailable,
  redis: unavailable,
  storage: unavailable,
  shutting_down: z.literal(true).optional(),
  models_without_channel: z
    .array(z.string())
    .describe("Upstream models an operator gave channels, none of which takes submits now.")
    .optional(),
});

export const metricsText = z.string().describe("The Prometheus text exposition format.");

// ---- Admin: tenants, keys, usage -----------------------------------------------

/** How each kind of tenant setting shows in the view (tenancy/settings.ts). */
const shownKinds: Record<KindName, z.ZodType> = {
  text: z.string(),
  limit: int().nullable(),
  models: z.array(z.string()).nullable(),
  secret: z.boolean(),
  switch: z.boolean(),
};

/** The tenant view, from the same table as the admin bodies: a new setting shows here. */
export const tenantViewSchema = z.object({
  id: z.string(),
  object: z.literal("tenant"),
  ...Object.fromEntries(
    tenantSettings.map((setting) => [
      viewField(setting),
      (shownKinds[setting.kind] as z.ZodType).describe(setting.description),
    ]),
  ),
  created_at: unixSeconds(),
}) as unknown as z.ZodType<TenantView>;

export const keyViewSchema = z.object({
  id: z.string(),
  object: z.literal("api_key"),
  name: z.string().nullable(),
  hint: z.string().describe("The key's last characters, to recognise it."),
  created_at: unixSeconds().nullable(),
  expires_at: unixSeconds().nullable(),
  revoked_at: unixSeconds().nullable(),
  last_used_at: unixSeconds().nullable(),
});

export const issuedKeySchema = z.object({
  id: z.string(),
  object: z.literal("api_key"),
  name: z.string().nullable(),
  hint: z.string(),
  api_key: z.string().describe("The key: shown this once only."),
  created_at: unixSeconds().nullable(),
  expires_at: unixSeconds().nullable(),
});

const tenantShape = (tenantViewSchema as unknown as z.ZodObject).shape;

// Typed as the views they describe: spreading the shape of a schema typed
// from the settings table loses its fields' static types.
export const createdTenantSchema = z.object({
  ...tenantShape,
  api_key: z.string().describe("The tenant's first API key: shown this once only."),
  key_id: z.string(),
}) as unknown as z.ZodType<TenantView & { api_key: string; key_id: string }>;

export const tenantWithKeysSchema = z.object({
  ...tenantShape,
  keys: z.array(keyViewSchema),
}) as unknown as z.ZodType<TenantView & { keys: Array<z.output<typeof keyViewSchema>> }>;

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ object: z.literal("list"), data: z.array(item) });

const usageCounts = {
  requests: int().describe("Generations asked of the gateway (after validation)."),
  upstream_tasks: int().describe("Tasks the upstream received or may have received."),
  images_requested: int().describe("Images asked for in those tasks."),
  images: int().describe("Images delivered."),
  succeeded: int(),
  failed: int(),
};
const utcDay = () => z.string().describe("A UTC day, YYYY-MM-DD.");

export const usageReportSchema = z.object({
  object: z.literal("usage"),
  tenant_id: z.string(),
  from: utcDay(),
  to: utcDay(),
  data: z.array(z.object({ day: utcDay(), model: z.string(), ...usageCounts })),
  totals: z.object(usageCounts),
});

export const tenantUsageSchema = usageReportSchema.extend({
  images_per_day: int().nullable().describe("The tenant's daily image budget; null: none."),
});

const channelCounts = {
  submits: int().describe("Tasks the account accepted."),
  images: int().describe("Images it delivered."),
  failures: int().describe("Accepted tasks that failed, were lost or timed out."),
};

export const channelUsageSchema = z.object({
  object: z.literal("channel_usage"),
  channel_id: z.string(),
  from: utcDay(),
  to: utcDay(),
  data: z.array(z.object({ day: utcDay(), ...channelCounts })),
  totals: z.object(channelCounts),
});

export const tenantParams = z.object({ id: z.string().describe("The tenant id.") });
export const tenantKeyParams = tenantParams.extend({
  keyId: z.string().describe("The key id."),
});

export const modelMappingSchema = z.object({
  id: z.string().describe("The public name."),
  object: z.literal("model_mapping"),
  upstream: z.string().describe("The upstream model it runs on."),
  openai_model: z
    .enum(["dall-e-2", "dall-e-3", "gpt-image"])
    .nullable()
    .describe("The OpenAI model family the name answers as; null for the upstream's own names."),
  defaults: z.object({
    size: z.string().optional(),
    quality: z.string().optional(),
    response_format: z.enum(["url", "b64_json"]).optional(),
    n: int().optional(),
  }),
  hidden: z.boolean(),
  max_references: int(),
  source: z.enum(["built-in", "file"]),
});

// ---- Admin: generations and status (routes/admin-generations.ts) ---------------

export const generationParams = z.object({
  id: z
    .string()
    .describe("The generation id: the task id of the async API and x-imagegate-task-id."),
});

const msOrNull = () => int().nullable();

export const generationViewSchema = z.object({
  id: z.string(),
  object: z.literal("generation"),
  tenant_id: z.string(),
  model: z.string().describe("The upstream model."),
  requested_model: z.string().describe("The name the caller asked for."),
  n: int(),
  state: z.enum(generationStates),
  channel_id: z.string().nullable(),
  upstream_task_id: z.string().nullable(),
  images: int(),
  created_at: unixSeconds(),
  finished_at: unixSeconds().nullable(),
  delivered_at: unixSeconds().nullable(),
  duration_ms: msOrNull().describe("Created to finished."),
  lag_ms: msOrNull().describe("Ready upstream to answered (delivered, or stored)."),
  progress: z
    .number()
    .nullable()
    .describe("0 to 1, while pending or running, as this replica last read it."),
  error: z
    .object({ status: int(), type: z.string(), code: z.string().nullable(), message: z.string() })
    .nullable(),
});

export const generationListSchema = listOf(generationViewSchema).extend({
  has_more: z.boolean().describe("Whether an older page follows: ask `before` the last id."),
});

export const gatewayStatusSchema = z.object({
  object: z.literal("status"),
  started_at: unixSeconds(),
  uptime_seconds: int(),
  tasks_in_flight: int(),
  channels: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      enabled: z.boolean(),
      circuit: z.enum(["closed", "open", "half-open"]).describe("The channel's circuit breaker."),
      in_flight: int(),
    }),
  ),
});

/** The schemas above that a type of the answer exists for: each must equal it. */
export type DocumentedAnswers = [
  Expect<Documents<z.output<typeof imagesResponseSchema>, ImagesResponse>>,
  Expect<Documents<z.output<typeof keyViewSchema>, ReturnType<typeof keyView>>>,
  Expect<Documents<z.output<typeof issuedKeySchema>, ReturnType<typeof issuedKeyView>>>,
  Expect<Documents<z.output<typeof usageReportSchema>, UsageReport>>,
  Expect<Documents<z.output<typeof channelUsageSchema>, ChannelUsageReport>>,
  Expect<Documents<z.output<typeof errorResponseSchema>, ErrorResponse["body"]>>,
  Expect<Documents<z.output<typeof modelMappingSchema>, ReturnType<typeof modelView>>>,
  Expect<Documents<z.output<typeof generationViewSchema>, ReturnType<typeof generationView>>>,
];
