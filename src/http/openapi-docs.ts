// What a route takes and answers, for the OpenAPI document (openapi.ts): the
// zod schemas that parse its body, and zod schemas of its answers, hung on the
// route's `schema` under a symbol. Fastify finds no body, querystring or
// response there, so it compiles no ajv validator and no fast-json-stringify
// serializer: requests are still parsed (and refused, in the OpenAI shape) by
// the handlers' own zod, and answers are sent as the handlers made them.
//
//   app.get("/things/:id", { schema: documented({ ... }) }, handler)
import type { FastifySchema } from "fastify";
import type { z } from "zod";
import type { ErrorCode } from "../errors.js";

/** Who may call a route: the document's security scheme for it. */
export type Security = "tenant" | "admin" | "metrics" | "none";

/** The document's groups of operations, in the order they are listed. */
export const tags = {
  Images: "OpenAI-compatible image generation, edits and variations.",
  Tasks: "The asynchronous API: submit a generation, read its state, download its results.",
  Models: "OpenAI-compatible model listing.",
  Files:
    "Re-hosted results, behind signed, expiring URLs (no API key: the signature is the capability).",
  Health: "Liveness and readiness probes.",
  Metrics: "The Prometheus exposition.",
  "Admin: tenants": "Tenants, their limits and their API keys (admin token).",
  "Admin: channels": "Upstream accounts: routing by model, priority and weight (admin token).",
  "Admin: models": "The effective model map (admin token).",
  "Admin: generations": "Recent generations and the gateway's state (admin token).",
} as const;
export type Tag = keyof typeof tags;

/** An answer that is more than one JSON body: other media types, headers, its own wording. */
export interface ResponseDoc {
  description: string;
  /** Media type → the body's schema; none for an empty body. */
  content?: Readonly<Record<string, z.ZodType>>;
  /** Header name → what it says. */
  headers?: Readonly<Record<string, string>>;
}

export interface RouteDocs {
  /** Unique across the document; generated clients name their methods after it. */
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly Tag[];
  security: Security;
  params?: z.ZodObject;
  querystring?: z.ZodObject;
  headers?: z.ZodObject;
  /** An application/json body: the schema the handler parses it with. */
  body?: z.ZodType;
  /** A multipart/form-data body: the handler's fields schema, with its files. */
  multipart?: z.ZodType;
  /** False when the body may be left out (default true when there is one). */
  bodyRequired?: boolean;
  /** Successful answers by status: a JSON body's schema, or a ResponseDoc. */
  response: Readonly<Record<number, z.ZodType | ResponseDoc>>;
  /**
   * The error codes the route itself can answer (errors.ts). Those of its
   * security, its body and the internal error are added (openapi.ts).
   */
  errors?: readonly ErrorCode[];
}

/**
 * True when a schema's output S documents the type T of an answer: the same
 * fields, each value of S one T allows (S may be narrower: a literal where T
 * says string). With Expect, a field added to one and not the other fails to
 * compile.
 */
export type Documents<S, T> = [keyof S] extends [keyof T]
  ? [keyof T] extends [keyof S]
    ? [S] extends [T]
      ? true
      : false
    : false
  : false;
export type Expect<T extends true> = T;

const docsKey = Symbol("imagegate.openapi");

/** A route `schema` that documents the route and validates nothing. */
export function documented(docs: RouteDocs): FastifySchema {
  return { [docsKey]: docs } as FastifySchema;
}

/** The documentation `documented` put on a route schema, if any. */
export function docsOf(schema: unknown): RouteDocs | undefined {
  if (typeof schema !== "object" || schema === null) return undefined;
  return (schema as { [docsKey]?: RouteDocs })[docsKey];
}

/**
 * What an image request can be refused with, past its body's own checks, up
 * to its submit (the async API answers then).
 */
export const submitErrors = [
  "invalid_idempotency_key",
  "invalid_image",
  "invalid_image_format",
  "content_policy_violation",
  "upstream_rejected",
  "too_many_images",
  "model_not_allowed",
  "upstream_permission_denied",
  "model_not_found",
  "idempotency_key_reused",
  "request_too_large",
  "concurrency_limit_exceeded",
  "upstream_rate_limited",
  "insufficient_quota",
  "upstream_insufficient_quota",
  "submit_not_sent",
  "upstream_submit_unconfirmed",
  "upstream_authentication_failed",
  "upstream_unreachable",
  "upstream_unavailable",
  "upstream_busy",
  "model_unavailable",
  "no_upstream_channel",
  "record_unavailable",
  "shutting_down",
] as const satisfies readonly ErrorCode[];

/** What a synchronous generation adds while it waits: the task's failure, its results, the wait. */
export const generationErrors = [
  ...submitErrors,
  "result_storage_failed",
  "upstream_credential_missing",
  "upstream_task_failed",
  "upstream_task_lost",
  "upstream_unreachable_while_waiting",
  "upstream_result_unavailable",
  "upstream_result_too_large",
  "upstream_result_invalid",
  "generation_timeout",
  "upstream_task_expired",
] as const satisfies readonly ErrorCode[];

/** What an upload (multipart form) adds: malformed forms, files too large or not images. */
export const uploadErrors = [
  "invalid_multipart",
  "too_many_fields",
  "file_too_large",
  "upload_too_large",
  "upload_limit_exceeded",
  "server_busy",
  "mask_not_supported",
  "invalid_mask",
] as const satisfies readonly ErrorCode[];
