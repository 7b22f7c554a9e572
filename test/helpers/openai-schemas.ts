// OpenAI's own Images API schemas (../shared/openai-images-schemas.json beside
// the clone: components.schemas cut from OpenAI's OpenAPI document), compiled
// with ajv, to check what the gateway answers. OpenAI's document is OpenAPI
// 3.1, whose schemas are JSON Schema 2020-12: hence Ajv2020. `strict: false`
// because the document also uses OpenAPI's own keywords (`nullable`,
// `discriminator`), which are annotations here.
//
// Where the issue (11) knowingly differs from the schema, the schema is
// patched, and each patch is listed in `deviations` with its reason. No other
// difference is tolerated; fields the schema does not define are refused
// (stricter than OpenAI's schema: a field OpenAI does not define is one the
// gateway invented).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";

/**
 * A copy of ../shared/openai-images-schemas.json kept in the repository, so
 * that the checks run wherever the clone is; test/e2e/schemas.test.ts checks
 * that it still equals the shared one whenever that is beside the clone.
 */
export const schemasPath = fileURLToPath(
  new URL("../fixtures/openai-images-schemas.json", import.meta.url),
);

/** The shared original, beside the clone (CI puts shared/ there, read-only). */
export const sharedSchemasPath = fileURLToPath(
  new URL("../../../shared/openai-images-schemas.json", import.meta.url),
);

type JsonSchema = Record<string, unknown>;

interface SchemasFile {
  source: string;
  schemas: Record<string, JsonSchema>;
}

/** What is checked: the response body, the stream events, the error body. */
export type ImagesSchemaName =
  | "ImagesResponse"
  | "ImageGenCompletedEvent"
  | "ImageEditCompletedEvent"
  | "ImageGenStreamEvent"
  | "ImageEditStreamEvent"
  | "ErrorResponse";

const wxh = "^[1-9][0-9]*x[1-9][0-9]*$";
const wxhOrAuto = "^([1-9][0-9]*x[1-9][0-9]*|auto)$";

interface Deviation {
  schema: string;
  change: string;
  why: string;
  apply(schema: JsonSchema): void;
}

const properties = (schema: JsonSchema) => schema.properties as Record<string, JsonSchema>;

/** The knowing differences from OpenAI's schema, each with its reason. */
export const deviations: readonly Deviation[] = [
  {
    schema: "ImagesResponse",
    change: "size: any WIDTHxHEIGHT instead of the enum 1024x1024 | 1024x1536 | 1536x1024",
    why: "the enum predates gpt-image-2's free sizes and DALL·E's own; OpenAI answers those sizes, and the gateway reports the size delivered as WxH (never a ratio)",
    apply: (schema) => {
      properties(schema).size = { type: "string", pattern: wxh };
    },
  },
  ...(["ImageGenCompletedEvent", "ImageEditCompletedEvent"] as const).flatMap((name) => [
    {
      schema: name,
      change: "size: any WIDTHxHEIGHT or auto instead of the enum",
      why: "as for ImagesResponse",
      apply: (schema: JsonSchema) => {
        properties(schema).size = { type: "string", pattern: wxhOrAuto };
      },
    },
    {
      schema: name,
      change: "usage: optional instead of required",
      why: "the upstream reports no tokens and the gateway never invents them (issue 11)",
      apply: (schema: JsonSchema) => {
        schema.required = (schema.required as string[]).filter((field) => field !== "usage");
      },
    },
  ]),
];

/** Objects whose fields are closed: a field OpenAI does not define is refused. */
const closed = ["ImagesResponse", "Image", "ImageGenCompletedEvent", "ImageEditCompletedEvent"];

function load(): { source: string; schemas: Record<string, JsonSchema> } {
  const file = JSON.parse(readFileSync(schemasPath, "utf8")) as SchemasFile;
  const schemas = structuredClone(file.schemas);
  for (const deviation of deviations) {
    const schema = schemas[deviation.schema];
    if (schema === undefined) throw new Error(`no schema ${deviation.schema} in ${schemasPath}`);
    deviation.apply(schema);
  }
  for (const name of closed) {
    const schema = schemas[name];
    if (schema !== undefined) schema.additionalProperties = false;
  }
  return { source: file.source, schemas };
}

const documentId = "https://imagegate.invalid/openai-images.json";
let compiled: Map<ImagesSchemaName, ValidateFunction> | undefined;

function validators(): Map<ImagesSchemaName, ValidateFunction> {
  if (compiled !== undefined) return compiled;
  const { schemas } = load();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // OpenAPI's formats: a Unix time in seconds, and the URL of a result.
  ajv.addFormat("unixtime", { type: "number", validate: (value) => Number.isInteger(value) });
  ajv.addFormat("uri", (value) => URL.canParse(value));
  // The document's $refs are "#/components/schemas/<name>": keep that layout.
  ajv.addSchema({ $id: documentId, components: { schemas } });
  const names: ImagesSchemaName[] = [
    "ImagesResponse",
    "ImageGenCompletedEvent",
    "ImageEditCompletedEvent",
    "ImageGenStreamEvent",
    "ImageEditStreamEvent",
    "ErrorResponse",
  ];
  compiled = new Map(
    names.map((name) => {
      const validate = ajv.getSchema(`${documentId}#/components/schemas/${name}`);
      if (validate === undefined) throw new Error(`schema ${name} did not compile`);
      return [name, validate];
    }),
  );
  return compiled;
}

function describeError(error: ErrorObject): string {
  const where = error.instancePath === "" ? "(root)" : error.instancePath;
  const extra =
    error.keyword === "additionalProperties"
      ? ` '${String((error.params as { additionalProperty: string }).additionalProperty)}'`
      : error.keyword === "enum"
        ? ` ${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)}`
        : "";
  return `${where} ${error.message ?? error.keyword}${extra}`;
}

/** Why `value` does not match OpenAI's schema `name`; empty when it does. */
export function schemaErrors(name: ImagesSchemaName, value: unknown): string[] {
  const validate = validators().get(name);
  if (validate === undefined) throw new Error(`unknown schema ${name}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(describeError);
}

/** The schema a stream event's `type` names: each completed event its own. */
export function streamEventSchema(type: unknown): ImagesSchemaName {
  if (type === "image_generation.completed") return "ImageGenCompletedEvent";
  if (type === "image_edit.completed") return "ImageEditCompletedEvent";
  if (typeof type === "string" && type.startsWith("image_generation.")) {
    return "ImageGenStreamEvent";
  }
  if (typeof type === "string" && type.startsWith("image_edit.")) return "ImageEditStreamEvent";
  throw new Error(`not an Images API stream event type: ${JSON.stringify(type)}`);
}

/** Throws, listing every difference, unless `value` matches OpenAI's schema `name`. */
export function expectSchema(name: ImagesSchemaName, value: unknown): void {
  const errors = schemaErrors(name, value);
  if (errors.length > 0) {
    const shown = JSON.stringify(value, (key, field) =>
      key === "b64_json" && typeof field === "string" ? `<${field.length} chars>` : field,
    );
    throw new Error(`not an OpenAI ${name}:\n  ${errors.join("\n  ")}\nin ${shown}`);
  }
}

export interface SseEvent {
  event: string | undefined;
  data: Record<string, unknown>;
}

/** Server-sent events as the SDK reads them (comment lines skipped). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split("\n\n")) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":") || line === "") continue;
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) {
      events.push({ event, data: JSON.parse(data.join("\n")) as Record<string, unknown> });
    }
  }
  return events;
}

/** Checks each event against the schema its type names; returns the events. */
export function expectStreamSchema(text: string): SseEvent[] {
  const events = parseSse(text);
  for (const { event, data } of events) {
    if (event !== data.type) throw new Error(`event line ${event} differs from type ${data.type}`);
    expectSchema(streamEventSchema(data.type), data);
  }
  return events;
}
