// POST /v1/images/generations, /v1/images/edits and /v1/images/variations:
// parse, check everything that can refuse the request, hand it to the
// generation use case, deliver as OpenAI does. Edits and variations are
// generations with reference images.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { ModelMap } from "../../catalog/model-map.js";
import { defaultModelName } from "../../catalog/models.js";
import type { ImageRequest } from "../../catalog/request.js";
import { requireModel, type Translation } from "../../catalog/translate.js";
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import { type AdmissionService, requestDigest } from "../../generation/admission.js";
import type { Deliverer, Delivery } from "../../generation/deliver.js";
import type { GenerationService } from "../../generation/generate.js";
import { prepareMaskedEdit } from "../../generation/mask-results.js";
import type { ReferenceImage } from "../../generation/references.js";
import type { UploadSpool } from "../../storage/upload-spool.js";
import { assertModelAllowed } from "../../tenancy/limits.js";
import { callerOf, responseHandle } from "../admission.js";
import { tenantOf } from "../auth.js";
import { type IntakeOptions, intakeHook } from "../intake.js";
import { documented, generationErrors, uploadErrors } from "../openapi-docs.js";
import {
  editFormDocument,
  idempotencyHeaders,
  imageEventStream,
  imagesResponseSchema,
  taskIdHeader,
  variationFormDocument,
} from "../openapi-schemas.js";
import {
  editFormSchema,
  editJsonSchema,
  imageRequestSchema,
  parseBody,
  variationFormSchema,
} from "../schemas.js";
import { sendEventStream } from "../sse.js";
import {
  checkDataUri,
  checkImageUrls,
  type FormWatch,
  formToBody,
  readMultipartForm,
  spoolDataUri,
  type UploadLimits,
} from "../uploads.js";

export interface ImagesRouteOptions {
  generation: GenerationService;
  admission: AdmissionService;
  deliverer: Deliverer;
  clock: Clock;
  uploadLimits: UploadLimits;
  /** Where uploaded files wait for their submit. */
  spool: UploadSpool;
  /** What refuses a request before its body is read. */
  intake: IntakeOptions;
  /** The model name variations run on (IMAGEGATE_VARIATION_MODEL). */
  variationModel: string;
  /** IMAGEGATE_MASKS: an edit's mask is composited over the image, or refused. */
  masks: "composite" | "refuse";
  /** The effective model map; default the built-in table. */
  models?: ModelMap | undefined;
}

export function sendDelivery(reply: FastifyReply, delivery: Delivery): FastifyReply {
  if (delivery.kind === "json") return reply.send(delivery.body);
  return reply
    .header("content-type", "application/json")
    .header("content-length", delivery.contentLength)
    .send(delivery.stream);
}

// Stands in for each upload while the request is checked, so that nothing is
// stored or encoded for a request that will be refused.
const placeholderReference = "data:image/png;base64,";

/** OpenAI's variations have no prompt; the upstream needs one. */
export const variationPrompt =
  "Create a variation of the reference image: keep its subject, composition, colours and style, and vary the details naturally.";

function refuseMask(): never {
  throw gatewayError("mask_not_supported");
}

/**
 * Refuses a form while it arrives: a model the key may not use, or more
 * images than the named model takes, stop the upload at that point.
 */
function formWatch(
  request: FastifyRequest,
  defaultModel: string,
  models: ModelMap | undefined,
): FormWatch {
  const tenant = tenantOf(request);
  let model = requireModel(defaultModel, models);
  let allowed = false;
  const allow = () => {
    if (!allowed) assertModelAllowed(tenant.models, model.spec.id, model.requested, models);
    allowed = true;
  };
  return {
    field(name, value) {
      if (name !== "model" || value.trim() === "") return;
      model = requireModel(value, models);
      allowed = false;
      allow();
    },
    // At each file: the model named so far (or the default) must be allowed.
    maxImages: () => {
      allow();
      return model.spec.maxReferences;
    },
  };
}

/** What an image route answers: OpenAI's images response, or its events with `stream: true`. */
const imagesAnswer = (streams: boolean) => ({
  200: {
    description: "The images, in OpenAI's shape.",
    headers: taskIdHeader,
    content: {
      "application/json": imagesResponseSchema,
      ...(streams ? { "text/event-stream": imageEventStream } : {}),
    },
  },
});

export const imagesRoutes: FastifyPluginAsync<ImagesRouteOptions> = async (app, options) => {
  const { generation, admission, deliverer, clock, spool } = options;
  app.addHook("preParsing", intakeHook(options.intake));

  /** Everything after the request is understood: limits, submit, wait, deliver. */
  async function run(
    request: FastifyRequest,
    reply: FastifyReply,
    receivedAt: number,
    body: ImageRequest,
    translation: Translation,
    uploads: readonly ReferenceImage[],
    requestHash: string,
    events: "image_generation" | "image_edit",
    mask?: { original: ReferenceImage; mask: ReferenceImage },
  ): Promise<FastifyReply> {
    // The response answers with the generation: it holds off retries while it
    // lasts, and its images count as delivered once it went out in full.
    const response = responseHandle(reply);
    const admitted = await admission.admit(callerOf(request), {
      translation,
      uploads,
      mask,
      requestHash,
      releaseWith: response,
      // Spooled files count against the upload budget until they are gone.
      releaseUploads: uploads.length > 0 ? request.intake?.takeReservation() : undefined,
    });
    // The gateway's task id: where the result can be fetched again (async API).
    const recordId =
      admitted.kind === "started" ? admitted.generation.recordId : admitted.record.id;
    reply.header("x-imagegate-task-id", recordId);
    if (body.stream === true) {
      return sendEventStream(reply, clock, async function* () {
        yield* deliverer.events(await admission.result(admitted, receivedAt), events, response);
      });
    }
    const result = await admission.result(admitted, receivedAt);
    return sendDelivery(
      reply,
      await deliverer.deliver(result, translation.responseFormat, response),
    );
  }

  const generationsDocs = documented({
    operationId: "createImage",
    summary: "Create images from a prompt",
    description:
      "OpenAI's images.generate. The request is held until the images are ready (up to IMAGEGATE_MAX_WAIT_MS; past it a 504 names the task, whose result stays readable).",
    tags: ["Images"],
    security: "tenant",
    headers: idempotencyHeaders,
    body: imageRequestSchema,
    response: imagesAnswer(true),
    errors: generationErrors,
  });
  app.post("/images/generations", { schema: generationsDocs }, async (request, reply) => {
    const receivedAt = clock.now();
    const body = parseBody(imageRequestSchema, request.body);
    checkImageUrls(body.image_url);
    const translation = generation.translate(body);
    const hash = requestDigest("generations", body, []);
    return run(request, reply, receivedAt, body, translation, [], hash, "image_generation");
  });

  const editsDocs = documented({
    operationId: "createImageEdit",
    summary: "Edit images",
    description:
      "OpenAI's images.edit: the images as multipart files (`image`, or `image[]` repeated), or as JSON with `images[].image_url` (https URLs or data: URIs). A mask is composited over the first image, or refused (IMAGEGATE_MASKS).",
    tags: ["Images"],
    security: "tenant",
    headers: idempotencyHeaders,
    multipart: editFormDocument,
    body: editJsonSchema,
    response: imagesAnswer(true),
    errors: [...generationErrors, ...uploadErrors],
  });
  app.post("/images/edits", { schema: editsDocs }, async (request, reply) => {
    const receivedAt = clock.now();
    if (request.isMultipart()) {
      const form = await readMultipartForm(
        request,
        options.uploadLimits,
        spool,
        formWatch(request, defaultModelName, options.models),
      );
      let body: ImageRequest;
      let translation: Translation;
      let hash: string;
      let masked: { original: ReferenceImage; mask: ReferenceImage } | undefined;
      try {
        if (form.mask !== undefined && options.masks === "refuse") refuseMask();
        const fields = parseBody(editFormSchema, formToBody(form.fields));
        const [first] = form.images;
        if (first === undefined) {
          throw gatewayError("missing_required_parameter", { param: "image" });
        }
        let prompt = fields.prompt;
        if (form.mask !== undefined) {
          // Checked against the first image before anything is stored or submitted.
          prompt = await prepareMaskedEdit(first.path, form.mask.path, fields.prompt);
          masked = { original: first, mask: form.mask };
        }
        body = { ...fields, prompt, image_url: form.images.map(() => placeholderReference) };
        hash = requestDigest("edits", fields, [
          ...form.images.map((upload) => upload.digest),
          ...(form.mask === undefined ? [] : [form.mask.digest]),
        ]);
        translation = generation.translate(body, { referencesParam: "image" });
      } catch (err) {
        await spool.remove(form.paths);
        throw err;
      }
      const uploads: ReferenceImage[] = form.images;
      return run(
        request,
        reply,
        receivedAt,
        body,
        translation,
        uploads,
        hash,
        "image_edit",
        masked,
      );
    }
    const { images, mask, ...fields } = parseBody(editJsonSchema, request.body);
    if (mask !== undefined && options.masks === "refuse") refuseMask();
    const urls = images.map((image, index) => {
      const param = `images[${index}]`;
      if (image.file_id !== undefined || image.image_url === undefined) {
        throw gatewayError(
          "invalid_value",
          {
            detail:
              "Give each image as image_url (an https URL or a data: URI); file_id is not supported.",
          },
          { param: `${param}.file_id` },
        );
      }
      checkDataUri(image.image_url, `${param}.image_url`);
      return image.image_url;
    });
    let body: ImageRequest = { ...fields, image_url: urls };
    const hash = requestDigest("edits", { ...body, mask }, []);
    if (mask === undefined) {
      const translation = generation.translate(body, { referencesParam: "image" });
      return run(request, reply, receivedAt, body, translation, [], hash, "image_edit");
    }
    // A masked JSON edit: the first image and the mask (data: URIs) are
    // spooled, checked against each other, and kept for the composite.
    const spooledFiles: string[] = [];
    let masked: { original: ReferenceImage; mask: ReferenceImage };
    let translation: Translation;
    try {
      const original = await spoolDataUri(urls[0] as string, "images[0].image_url", spool);
      spooledFiles.push(original.path);
      const maskFile = await spoolDataUri(mask.image_url ?? "", "mask.image_url", spool);
      spooledFiles.push(maskFile.path);
      const prompt = await prepareMaskedEdit(original.path, maskFile.path, fields.prompt);
      masked = { original, mask: maskFile };
      body = { ...body, prompt };
      translation = generation.translate(body, { referencesParam: "image" });
    } catch (err) {
      await spool.remove(spooledFiles);
      throw err;
    }
    return run(request, reply, receivedAt, body, translation, [], hash, "image_edit", masked);
  });

  const variationsDocs = documented({
    operationId: "createImageVariation",
    summary: "Create variations of an image",
    description:
      "OpenAI's images.createVariation: one image file, multipart only. Runs on IMAGEGATE_VARIATION_MODEL unless `model` names another.",
    tags: ["Images"],
    security: "tenant",
    headers: idempotencyHeaders,
    multipart: variationFormDocument,
    response: imagesAnswer(false),
    errors: [...generationErrors, ...uploadErrors, "invalid_content_type"],
  });
  app.post("/images/variations", { schema: variationsDocs }, async (request, reply) => {
    const receivedAt = clock.now();
    if (!request.isMultipart()) {
      throw gatewayError("invalid_content_type");
    }
    const form = await readMultipartForm(
      request,
      { ...options.uploadLimits, maxFiles: 1 },
      spool,
      formWatch(request, options.variationModel, options.models),
    );
    let body: ImageRequest;
    let translation: Translation;
    let hash: string;
    let image: ReferenceImage;
    try {
      if (form.mask !== undefined) refuseMask();
      const [upload] = form.images;
      if (upload === undefined) {
        throw gatewayError("missing_required_parameter", { param: "image" });
      }
      image = upload;
      const fields = parseBody(variationFormSchema, formToBody(form.fields));
      body = {
        ...fields,
        model: fields.model ?? options.variationModel,
        prompt: variationPrompt,
        image_url: placeholderReference,
      };
      translation = generation.translate(body, { referencesParam: "image" });
      hash = requestDigest("variations", fields, [upload.digest]);
    } catch (err) {
      await spool.remove(form.paths);
      throw err;
    }
    return run(request, reply, receivedAt, body, translation, [image], hash, "image_generation");
  });
};
