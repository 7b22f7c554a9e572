// The OpenAPI 3.1 document (GET /openapi.json) and its docs page (/docs).
// Registered before the routes, which it reads as they are added.
//
// Nothing here is written by hand per route: @fastify/swagger collects the
// routes, and its `transform` turns the zod schemas each route documents
// itself with (openapi-docs.ts: the very schemas its handler parses with)
// into JSON Schema 2020-12, OpenAPI 3.1's own dialect. The error answers come
// from the error catalogue (errors.ts), by the codes each route names.
import { readFileSync } from "node:fs";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifySchema } from "fastify";
import { z } from "zod";
import { type ErrorCode, errorCatalogue } from "../errors.js";
import { docsOf, type ResponseDoc, type RouteDocs, type Security, tags } from "./openapi-docs.js";
import { errorResponseSchema } from "./openapi-schemas.js";

export interface OpenApiOptions {
  /** The gateway's public base URL, named as the document's server when set. */
  publicUrl?: string | undefined;
}

/** Pages served beside the API, not part of it: left out of the document. */
export const undocumentedPrefixes = ["/docs", "/openapi.json", "/console"] as const;

const securitySchemes = {
  tenantKey: {
    type: "http",
    scheme: "bearer",
    description: "A tenant's API key (POST /admin/tenants), as the OpenAI SDKs send it.",
  },
  adminToken: {
    type: "http",
    scheme: "bearer",
    description: "IMAGEGATE_ADMIN_TOKEN. Without one configured, /admin is not served.",
  },
  metricsToken: {
    type: "http",
    scheme: "bearer",
    description: "IMAGEGATE_METRICS_TOKEN, so that a scraper need not hold the admin token.",
  },
} as const;

const securityOf: Record<Security, Array<Record<string, string[]>>> = {
  tenant: [{ tenantKey: [] }],
  admin: [{ adminToken: [] }],
  metrics: [{ metricsToken: [] }, { adminToken: [] }],
  none: [],
};

/** Errors every route of a security can answer, before its own. */
const securityErrors: Record<Security, readonly ErrorCode[]> = {
  // The key is looked up (the database may be away), then counted per minute.
  tenant: ["invalid_api_key", "rate_limit_exceeded", "dependency_unavailable"],
  admin: ["invalid_api_key", "dependency_unavailable"],
  metrics: ["invalid_api_key"],
  none: [],
};

/** What any body can be refused with: unreadable, not an object, or failing its schema. */
const bodyErrors: readonly ErrorCode[] = [
  "invalid_request",
  "invalid_json",
  "unsupported_media_type",
  "invalid_value",
  "invalid_type",
  "missing_required_parameter",
  "unknown_parameter",
  "integer_above_max_value",
  "integer_below_min_value",
  "empty_string",
  "empty_array",
  "string_above_max_length",
  "string_below_min_length",
  "array_above_max_length",
  "array_below_min_length",
];

const errorHeaders: Readonly<
  Record<number, Record<string, { type: "string"; description: string }>>
> = {
  401: { "www-authenticate": { type: "string", description: 'Bearer realm="imagegate"' } },
  429: {
    "retry-after": { type: "string", description: "Seconds to wait, when a retry can help." },
  },
  503: {
    "retry-after": { type: "string", description: "Seconds to wait, when a retry can help." },
  },
};

/** A zod schema as JSON Schema 2020-12: what a request may send, or what an answer holds. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    // Inlined: a `#/$defs/…` reference would not resolve inside the document.
    cycles: "throw",
    override: io === "output" ? withoutSafeIntegerBounds : undefined,
  });
  if ("$defs" in rest)
    throw new Error("a documented zod schema may not carry an id (meta({ id }))");
  return rest;
}

/** zod bounds every integer by Number's safe range: noise in an answer's schema. */
function withoutSafeIntegerBounds({ jsonSchema }: { jsonSchema: Record<string, unknown> }): void {
  if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
}

const errorRef = { $ref: "#/components/schemas/ErrorResponse" };

/** The route's error answers, one per status, naming its codes. */
function errorResponses(docs: RouteDocs): Record<string, unknown> {
  const codes = new Set<ErrorCode>([
    ...securityErrors[docs.security],
    ...(docs.body || docs.multipart ? bodyErrors : []),
    ...(docs.errors ?? []),
    "internal_error",
  ]);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const { status } = errorCatalogue[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const doNotRetry = list.filter((code) => !errorCatalogue[code].retryable);
    const headers = { ...errorHeaders[status] };
    if (doNotRetry.length > 0) {
      headers["x-should-retry"] = {
        type: "string",
        description: `"false" with ${doNotRetry.map((code) => `\`${code}\``).join(", ")}: a retry could be charged again or cannot succeed.`,
      };
    }
    responses[status] = {
      description: `Error codes: ${list.map((code) => `\`${code}\``).join(", ")}.`,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: { "application/json": { schema: errorRef } },
    };
  }
  return responses;
}

const successWording: Readonly<Record<number, string>> = { 200: "OK", 201: "Created" };

function successResponses(docs: RouteDocs): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(docs.response)) {
    const doc: ResponseDoc =
      answer instanceof z.ZodType
        ? {
            description: successWording[Number(status)] ?? "",
            content: { "application/json": answer },
          }
        : answer;
    responses[status] = {
      description: doc.description,
      ...(doc.headers === undefined
        ? {}
        : {
            headers: Object.fromEntries(
              Object.entries(doc.headers).map(([name, description]) => [
                name,
                { type: "string", description },
              ]),
            ),
          }),
      ...(doc.content === undefined
        ? {}
        : {
            content: Object.fromEntries(
              Object.entries(doc.content).map(([type, schema]) => [
                type,
                { schema: jsonSchema(schema, "output") },
              ]),
            ),
          }),
    };
  }
  return responses;
}

/** The route's operation, as @fastify/swagger takes a route schema. */
function operationOf(docs: RouteDocs): FastifySchema {
  const schema: FastifySchema & Record<string, unknown> = {
    operationId: docs.operationId,
    summary: docs.summary,
    tags: docs.tags,
    security: securityOf[docs.security],
    response: { ...successResponses(docs), ...errorResponses(docs) },
  };
  if (docs.description !== undefined) schema.description = docs.description;
  if (docs.params) schema.params = jsonSchema(docs.params, "input");
  if (docs.querystring) schema.querystring = jsonSchema(docs.querystring, "input");
  if (docs.headers) schema.headers = jsonSchema(docs.headers, "input");
  const content: Record<string, { schema: unknown }> = {};
  if (docs.body) content["application/json"] = { schema: jsonSchema(docs.body, "input") };
  if (docs.multipart) {
    content["multipart/form-data"] = { schema: jsonSchema(docs.multipart, "input") };
  }
  if (Object.keys(content).length > 0) {
    schema.body = { content };
    // @fastify/swagger marks every body required; the document object is fixed after.
    if (docs.bodyRequired === false) schema[optionalBody] = true;
  }
  return schema;
}

/** An operation extension (copied by @fastify/swagger), removed once applied. */
const optionalBody = "x-imagegate-optional-body";

function applyOptionalBodies(document: Record<string, unknown>): Record<string, unknown> {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Record<string, unknown>>>;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      if (operation[optionalBody] !== true) continue;
      delete operation[optionalBody];
      (operation.requestBody as { required: boolean }).required = false;
    }
  }
  return document;
}

function packageVersion(): string {
  try {
    // package.json is beside src/ (tsx) and dist/ (the build) alike.
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === "string" ? version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}

export interface RouteSeen {
  method: string;
  url: string;
}

const seenRoutes = new WeakMap<FastifyInstance, RouteSeen[]>();

/** Every route added after registerOpenApi, one per method (for the document's test). */
export function routesOf(app: FastifyInstance): readonly RouteSeen[] {
  return seenRoutes.get(app) ?? [];
}

/** ` https://host:port` for the CSP, or nothing. */
function originOf(url: string | undefined): string {
  try {
    return url === undefined ? "" : ` ${new URL(url).origin}`;
  } catch {
    return "";
  }
}

const isUndocumentedPage = (url: string) =>
  undocumentedPrefixes.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));

export async function registerOpenApi(
  app: FastifyInstance,
  options: OpenApiOptions,
): Promise<void> {
  const seen: RouteSeen[] = [];
  seenRoutes.set(app, seen);
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) seen.push({ method, url: route.url });
  });

  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "imagegate",
        version: packageVersion(),
        description:
          "A self-hosted, OpenAI-compatible image generation gateway. Point an OpenAI SDK at `/v1` with a tenant key; operators manage tenants and upstream channels under `/admin`.",
      },
      ...(publicUrl ? { servers: [{ url: publicUrl }] } : {}),
      tags: Object.entries(tags).map(([name, description]) => ({ name, description })),
      components: {
        securitySchemes,
        schemas: { ErrorResponse: jsonSchema(errorResponseSchema, "output") },
      },
    },
    // OpenAPI 3.1 takes JSON Schema's `const` as it is.
    convertConstToEnum: false,
    // Paths as the routes are mounted; the server URL is only the origin (and any proxy prefix).
    stripBasePath: false,
    transform: ({ schema, url }) => {
      if (isUndocumentedPage(url)) return { schema: { ...schema, hide: true }, url };
      const docs = docsOf(schema);
      // An undocumented route still shows (bare): the document's test names it.
      return { schema: docs === undefined ? schema : operationOf(docs), url };
    },
    transformObject: (document) =>
      applyOptionalBodies(
        ("openapiObject" in document ? document.openapiObject : document.swaggerObject) as Record<
          string,
          unknown
        >,
      ),
  });

  await app.register(swaggerUi, {
    routePrefix: "/docs",
    // Served from the package: no CDN, works offline. Only this origin's
    // scripts; Swagger UI's bundle injects a <style> element, hence inline
    // styles (no script can run from them). "Try it out" calls the server named.
    staticCSP: [
      "default-src 'self'",
      "base-uri 'self'",
      `connect-src 'self'${originOf(publicUrl)}`,
      "font-src 'self' data:",
      "form-action 'self'",
      "frame-ancestors 'self'",
      "img-src 'self' data:",
      "object-src 'none'",
      "script-src 'self'",
      "script-src-attr 'none'",
      "style-src 'self' 'unsafe-inline'",
    ].join("; "),
    theme: { title: "imagegate API" },
    uiConfig: { deepLinking: true, tryItOutEnabled: false },
  });

  // The document itself, at the address tools look for first.
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
