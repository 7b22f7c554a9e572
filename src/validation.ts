// Parsing a body against a zod schema, shared by the HTTP layer and the CLI:
// a failure becomes the 400 OpenAI answers for the same mistake, naming the
// parameter (the translation is validation-errors.ts). Nothing here knows
// Fastify, so the CLI parses its flags through the admin API's own schemas.
import type { z } from "zod";
import { gatewayError } from "./errors.js";
// The translation is pure (zod issues → error); it still lives in http/ from
// before the CLI needed it, and moves here when that file is next touched.
import { validationError } from "./validation-errors.js";

export interface ParseOptions {
  /** multipart/form-data: a number or boolean still a string is one that did not convert. */
  form?: boolean | undefined;
}

/** Parses `body` or throws the OpenAI-style 400 for its first problem. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  options: ParseOptions = {},
): z.output<T> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw gatewayError("invalid_json");
  }
  // zod leaves `input` out of issues unless asked (which once made every wrong
  // type read as "missing"); the messages quote bounds and enum values from it.
  const parsed = schema.safeParse(body, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw validationError(parsed.error.issues, { schema, body, form: options.form === true });
}

/** A real UTC day as YYYY-MM-DD: it names the same day back (no 2026-02-30, no 2026-13-45). */
export function isUtcDay(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00.000Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}
