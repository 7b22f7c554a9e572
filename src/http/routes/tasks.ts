// The tenant-scoped async API, shaped like the upstream's own so that its
// existing clients only change base URL and key: submit, read, download.
// Ids and URLs are the gateway's (never the upstream's), results come from the
// gateway's store, and another tenant's task is indistinguishable from none.
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { Clock } from "../../clock.js";
import { gatewayError } from "../../errors.js";
import { type AdmissionService, requestDigest } from "../../generation/admission.js";
import type { GenerationService } from "../../generation/generate.js";
import type { GenerationRecord, GenerationRecords } from "../../generation/record.js";
import type { BlobStore } from "../../storage/blobs.js";
import { callerOf } from "../admission.js";
import { tenantOf } from "../auth.js";
import { type IntakeOptions, intakeHook } from "../intake.js";
import { documented, submitErrors } from "../openapi-docs.js";
import {
  idempotencyHeaders,
  resultQuery,
  storedImage,
  submittedTaskSchema,
  taskParams,
  taskStateSchema,
} from "../openapi-schemas.js";
import { imageRequestSchema, parseBody } from "../schemas.js";
import { checkImageUrls } from "../uploads.js";

export interface TasksRouteOptions {
  generation: GenerationService;
  admission: AdmissionService;
  /** What refuses a submit before its body is read. */
  intake: IntakeOptions;
  ledger: GenerationRecords;
  blobs: BlobStore;
  clock: Clock;
  /** IMAGEGATE_PUBLIC_URL, for result URLs. */
  publicUrl: string;
}

type UpstreamState = "NOT_START" | "SUBMITTED" | "IN_PROGRESS" | "SUCCESS" | "FAILURE";

function stateOf(record: GenerationRecord): UpstreamState {
  switch (record.state) {
    case "pending":
      return "SUBMITTED";
    case "running":
      return "IN_PROGRESS";
    case "succeeded":
      return "SUCCESS";
    default:
      return "FAILURE";
  }
}

/**
 * `?index=`: absent is 0; otherwise only a plain whole number ("0", "12"), so
 * that "", " 0", "0x0", "-0" or "0.0" are not silently result 0.
 */
export function resultIndex(raw: unknown): number {
  if (raw === undefined) return 0;
  const index = typeof raw === "string" && /^(0|[1-9]\d*)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(index)) {
    throw gatewayError(
      "invalid_value",
      { detail: "Invalid value for 'index': a whole number (0 for the first image)." },
      { param: "index" },
    );
  }
  return index;
}

export const tasksRoutes: FastifyPluginAsync<TasksRouteOptions> = async (app, options) => {
  const { generation, admission, ledger, blobs } = options;
  const base = options.publicUrl.replace(/\/+$/, "");
  const contentUrl = (id: string, index: number) =>
    `${base}/v1/images/tasks/${id}/content?index=${index}`;

  /** The tenant's own task, or a 404 (another tenant's looks exactly like none). */
  async function ownTask(
    request: FastifyRequest<{ Params: { id: string } }>,
  ): Promise<GenerationRecord> {
    const tenant = tenantOf(request);
    const record = await ledger.get(request.params.id);
    if (record === undefined || record.tenantId !== tenant.id) {
      throw gatewayError("task_not_exist", { task: request.params.id });
    }
    return record;
  }

  app.post(
    "/images/generations/async",
    {
      preParsing: intakeHook(options.intake),
      schema: documented({
        operationId: "submitImageTask",
        summary: "Submit a generation without waiting",
        description:
          "Takes the body of POST /v1/images/generations and answers once the upstream has the task; read it with GET /v1/images/tasks/{id}.",
        tags: ["Tasks"],
        security: "tenant",
        headers: idempotencyHeaders,
        body: imageRequestSchema,
        response: { 200: submittedTaskSchema },
        // Refused up to the submit; a failure later is the task's state.
        errors: submitErrors,
      }),
    },
    async (request) => {
      const body = parseBody(imageRequestSchema, request.body);
      checkImageUrls(body.image_url);
      const translation = generation.translate(body);
      const admitted = await admission.admit(callerOf(request), {
        translation,
        uploads: [],
        requestHash: requestDigest("generations/async", body, []),
      });
      const id = admitted.kind === "started" ? admitted.generation.recordId : admitted.record.id;
      // Answer once the upstream has the task, so that a refusal is this
      // request's error (as at the upstream), not a failed task later.
      if (admitted.kind === "started") await admitted.generation.submitted;
      return { id, task_id: id, object: "image.task", status: "queued", progress: 1, data: [] };
    },
  );

  const taskDocs = documented({
    operationId: "getImageTask",
    summary: "Read a task's state",
    description:
      "In the upstream's own shape, so that its clients only change base URL and key. Another tenant's task answers 404, as none does.",
    tags: ["Tasks"],
    security: "tenant",
    params: taskParams,
    response: { 200: taskStateSchema },
    errors: ["task_not_exist"],
  });
  app.get<{ Params: { id: string } }>(
    "/images/tasks/:id",
    { schema: taskDocs },
    async (request) => {
      const record = await ownTask(request);
      const status = stateOf(record);
      const data: Record<string, unknown> = { task_id: record.id, status };
      if (status === "SUCCESS") {
        const urls = record.results.map((_, index) => ({ url: contentUrl(record.id, index) }));
        data.progress = "100%";
        data.result_url = urls[0]?.url ?? "";
        data.data = { data: urls };
      } else if (status === "FAILURE") {
        data.progress = "100%";
        data.fail_reason = record.error?.message ?? "failed";
      } else {
        const progress = generation.progress(record.id) ?? 0;
        data.progress = `${Math.min(99, Math.floor(progress * 100))}%`;
      }
      return { code: "success", message: "", data };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { index?: unknown } }>(
    "/images/tasks/:id/content",
    {
      schema: documented({
        operationId: "getImageTaskContent",
        summary: "Download a task's result",
        tags: ["Tasks"],
        security: "tenant",
        params: taskParams,
        querystring: resultQuery,
        response: {
          200: {
            description: "The image's bytes, as stored.",
            content: storedImage,
          },
        },
        errors: ["invalid_value", "task_not_exist", "result_not_found"],
      }),
    },
    async (request, reply) => {
      const index = resultIndex(request.query.index);
      const record = await ownTask(request);
      const result = record.results[index];
      const blob = result === undefined ? undefined : await blobs.open(result.id);
      if (blob === undefined) {
        throw gatewayError("result_not_found", {
          task: record.id,
          index,
          finished: record.state === "succeeded",
        });
      }
      return reply
        .header("content-type", blob.contentType)
        .header("content-length", blob.size)
        .header("cache-control", "private, no-store")
        .send(blob.stream);
    },
  );
};
