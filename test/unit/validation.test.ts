// Issue 10, finding 6 ("Wrong types reported as missing"): every zod failure at
// the edge becomes the 400 OpenAI itself answers, naming the parameter, with
// OpenAI's code and wording, and never echoing a large value back.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { InvalidRequestError } from "../../src/errors.js";
import {
  editFormSchema,
  editJsonSchema,
  imageRequestSchema,
  parseBody,
  variationFormSchema,
} from "../../src/http/schemas.js";
import { formToBody } from "../../src/http/uploads.js";

interface Refusal {
  status: number;
  param: string | null;
  code: string | null;
  message: string;
}

/** The 400 that parseBody throws for `body` (fails the test if it parses). */
function refusal(schema: z.ZodType, body: unknown): Refusal {
  try {
    parseBody(schema, body);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    const { status, param, code, message } = err as InvalidRequestError;
    return { status, param, code, message };
  }
  throw new Error(`expected ${JSON.stringify(body).slice(0, 200)} to be refused`);
}

const generation = (fields: Record<string, unknown>) => refusal(imageRequestSchema, fields);
/** A multipart edit: the text fields as the form parser hands them over. */
const formEdit = (fields: Record<string, string>) =>
  refusal(editFormSchema, formToBody({ prompt: "p", ...fields }));

describe("a missing parameter is told from a present one of the wrong type", () => {
  it.each([
    ["generations", "prompt", imageRequestSchema, {}, { prompt: false }, "a boolean"],
    [
      "a JSON edit",
      "images",
      editJsonSchema,
      { prompt: "p" },
      { prompt: "p", images: {} },
      "an object",
    ],
    [
      "a multipart edit",
      "prompt",
      editFormSchema,
      formToBody({ n: "2" }),
      { prompt: 1 },
      "an integer",
    ],
  ])("%s: '%s'", (_what, param, schema, missing, wrong, got) => {
    expect(refusal(schema, missing)).toEqual({
      status: 400,
      param,
      code: "missing_required_parameter",
      message: `Missing required parameter: '${param}'.`,
    });
    expect(refusal(schema, wrong)).toMatchObject({
      param,
      code: "invalid_type",
      message: expect.stringMatching(
        new RegExp(`^Invalid type for '${param}': .* but got ${got} instead\\.$`),
      ),
    });
  });
});

describe("a wrong type is a type error, not a missing parameter", () => {
  it.each([
    [{ prompt: "x", n: "2" }, "n", "expected an integer, but got a string"],
    [{ prompt: 123 }, "prompt", "expected a string, but got an integer"],
    [{ prompt: "x", size: 1024 }, "size", "expected a string, but got an integer"],
    [{ prompt: "x", stream: "true" }, "stream", "expected a boolean, but got a string"],
    [{ prompt: null }, "prompt", "expected a string, but got null"],
    [{ prompt: "x", n: 1.5 }, "n", "expected an integer, but got a decimal number"],
    [{ prompt: "x", n: true }, "n", "expected an integer, but got a boolean"],
    [
      { prompt: "x", output_compression: [] },
      "output_compression",
      "expected an integer, but got an array",
    ],
    [{ prompt: "x", model: {} }, "model", "expected a string, but got an object"],
    [{ prompt: "x", user: 7 }, "user", "expected a string, but got an integer"],
    [
      { prompt: "x", response_format: 3 },
      "response_format",
      "expected one of 'url' or 'b64_json', but got an integer",
    ],
    [
      { prompt: "x", background: false },
      "background",
      "expected one of 'transparent', 'opaque', or 'auto', but got a boolean",
    ],
    [
      { prompt: "x", image_url: 5 },
      "image_url",
      "expected a string or an array of strings, but got an integer",
    ],
    [{ prompt: "x", image_url: ["a", 3] }, "image_url[1]", "expected a string, but got an integer"],
    [{ prompt: "x", extra_body: [] }, "extra_body", "expected an object, but got an array"],
    [
      { prompt: "x", extra_body: { google: { image_config: { aspect_ratio: 16 } } } },
      "extra_body.google.image_config.aspect_ratio",
      "expected a string, but got an integer",
    ],
  ])("%j → invalid_type on %s", (body, param, detail) => {
    expect(generation(body)).toEqual({
      status: 400,
      param,
      code: "invalid_type",
      message: `Invalid type for '${param}': ${detail} instead.`,
    });
  });

  it.each([
    [{ prompt: "x", images: null }, "images", "expected an array of objects, but got null"],
    [{ prompt: "x", images: "a.png" }, "images", "expected an array of objects, but got a string"],
    [
      { prompt: "x", images: [{ image_url: 1 }] },
      "images[0].image_url",
      "expected a string, but got an integer",
    ],
    [{ prompt: "x", images: [{}], mask: "m.png" }, "mask", "expected an object, but got a string"],
  ])("JSON edit %j → invalid_type on %s", (body, param, detail) => {
    expect(refusal(editJsonSchema, body)).toEqual({
      status: 400,
      param,
      code: "invalid_type",
      message: `Invalid type for '${param}': ${detail} instead.`,
    });
  });
});

describe("a number out of range names the bound and the value", () => {
  it.each([
    [{ n: 0 }, "n", "integer_below_min_value", "integer below minimum value", ">= 1", "0"],
    [{ n: -1 }, "n", "integer_below_min_value", "integer below minimum value", ">= 1", "-1"],
    [{ n: 11 }, "n", "integer_above_max_value", "integer above maximum value", "<= 10", "11"],
    // Beyond the safe-integer range zod reports two bounds: the field's own is the one to name.
    [
      { n: 1e20 },
      "n",
      "integer_above_max_value",
      "integer above maximum value",
      "<= 10",
      "100000000000000000000",
    ],
    [
      { output_compression: 101 },
      "output_compression",
      "integer_above_max_value",
      "integer above maximum value",
      "<= 100",
      "101",
    ],
    [
      { partial_images: -1 },
      "partial_images",
      "integer_below_min_value",
      "integer below minimum value",
      ">= 0",
      "-1",
    ],
  ])("%j → %s", (fields, param, code, what, bound, got) => {
    expect(generation({ prompt: "x", ...fields })).toEqual({
      status: 400,
      param,
      code,
      message: `Invalid '${param}': ${what}. Expected a value ${bound}, but got ${got} instead.`,
    });
  });

  it("an exclusive bound is named as one", () => {
    const schema = z.object({ expires_in: z.number().int().positive().nullish() });
    expect(refusal(schema, { expires_in: 0 })).toMatchObject({
      param: "expires_in",
      code: "integer_below_min_value",
      message:
        "Invalid 'expires_in': integer below minimum value. Expected a value > 0, but got 0 instead.",
    });
  });
});

describe("an unknown enum value lists the supported ones", () => {
  it.each([
    ["response_format", "foo", "'url' and 'b64_json'"],
    ["background", "clear", "'transparent', 'opaque', and 'auto'"],
    ["output_format", "gif", "'png', 'jpeg', and 'webp'"],
    ["style", "", "'vivid' and 'natural'"],
  ])("%s: %j", (param, value, supported) => {
    expect(generation({ prompt: "x", [param]: value })).toEqual({
      status: 400,
      param,
      code: "invalid_value",
      message: `Invalid value: '${value}'. Supported values are: ${supported}.`,
    });
  });

  it("echoes at most 100 characters of the value", () => {
    const { message } = generation({ prompt: "x", response_format: `${"z".repeat(50_000)}!` });
    expect(message).toBe(
      `Invalid value: '${"z".repeat(100)}…'. Supported values are: 'url' and 'b64_json'.`,
    );
  });
});

describe("strings too long or empty name the limit, never the text", () => {
  it.each([
    [
      "an empty prompt",
      { prompt: "" },
      "prompt",
      "empty_string",
      "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.",
    ],
    [
      "a blank prompt",
      { prompt: " \n\t " },
      "prompt",
      "empty_string",
      "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got a string of only whitespace instead.",
    ],
    [
      "an empty model",
      { prompt: "x", model: "" },
      "model",
      "empty_string",
      "Invalid 'model': empty string. Expected a string with minimum length 1, but got an empty string instead.",
    ],
    [
      "an empty image_url",
      { prompt: "x", image_url: "" },
      "image_url",
      "empty_string",
      "Invalid 'image_url': empty string. Expected a string with minimum length 1, but got an empty string instead.",
    ],
    [
      "a user of 513 characters",
      { prompt: "x", user: "u".repeat(513) },
      "user",
      "string_above_max_length",
      "Invalid 'user': string too long. Expected a string with maximum length 512, but got a string with length 513 instead.",
    ],
    [
      "a size of 36 characters",
      { prompt: "x", size: "1024x1024".repeat(4) },
      "size",
      "string_above_max_length",
      "Invalid 'size': string too long. Expected a string with maximum length 32, but got a string with length 36 instead.",
    ],
  ])("%s", (_what, body, param, code, message) => {
    expect(generation(body)).toEqual({ status: 400, param, code, message });
  });

  it("a prompt over 32 000 characters is refused without quoting it", () => {
    const refused = generation({ prompt: `secret plan ${"p".repeat(40_000)}` });
    expect(refused).toEqual({
      status: 400,
      param: "prompt",
      code: "string_above_max_length",
      message:
        "Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length 40012 instead.",
    });
    expect(refused.message).not.toContain("secret");
  });

  it.each([
    [
      "17 references",
      { prompt: "x", image_url: Array.from({ length: 17 }, () => "https://example.com/a.png") },
      imageRequestSchema,
      "image_url",
      "array_above_max_length",
      "Invalid 'image_url': array too long. Expected an array with maximum length 16, but got an array with length 17 instead.",
    ],
    [
      "no images",
      { prompt: "x", images: [] },
      editJsonSchema,
      "images",
      "empty_array",
      "Invalid 'images': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    ],
  ])("arrays: %s", (_what, body, schema, param, code, message) => {
    expect(refusal(schema, body)).toEqual({ status: 400, param, code, message });
  });
});

describe("other problems", () => {
  it("an unknown key in a strict object is unknown_parameter, with its path", () => {
    expect(refusal(editJsonSchema, { prompt: "x", images: [{ url: "a" }] })).toEqual({
      status: 400,
      param: "images[0].url",
      code: "unknown_parameter",
      message: "Unknown parameter: 'images[0].url'.",
    });
  });

  it("a refinement keeps its own message, with the parameter in OpenAI's path form", () => {
    const schema = z.object({ models: z.array(z.string().refine(() => false, "unknown model")) });
    expect(refusal(schema, { models: ["dall-e-9"] })).toEqual({
      status: 400,
      param: "models[0]",
      code: "invalid_value",
      message: "Invalid value for 'models[0]': unknown model.",
    });
  });

  it("a refinement of the whole body has no param", () => {
    const schema = z.object({ a: z.string().optional() }).refine(() => false, "give a");
    expect(refusal(schema, {})).toEqual({
      status: 400,
      param: null,
      code: "invalid_value",
      message: "Invalid request body: give a.",
    });
  });
});

describe("null", () => {
  it("stays 'not set' for every optional field, and is a type error for the prompt", () => {
    const nulls = Object.fromEntries(
      Object.keys(imageRequestSchema.shape)
        .filter((key) => key !== "prompt")
        .map((key) => [key, null]),
    );
    expect(parseBody(imageRequestSchema, { prompt: "p", ...nulls })).toEqual({ prompt: "p" });
    expect(generation({ ...nulls, prompt: null })).toEqual({
      status: 400,
      param: "prompt",
      code: "invalid_type",
      message: "Invalid type for 'prompt': expected a string, but got null instead.",
    });
  });
});

describe("multipart: numbers and booleans arrive as strings", () => {
  it.each([
    ["n", "abc", "an integer"],
    ["n", "1.5", "an integer"],
    ["n", "", "an integer"],
    ["output_compression", "high", "an integer"],
    ["partial_images", "two", "an integer"],
    ["stream", "yes", "a boolean"],
    ["stream", "1", "a boolean"],
  ])("%s=%j is a string that does not convert", (param, value, expected) => {
    expect(formEdit({ [param]: value })).toEqual({
      status: 400,
      param,
      code: "invalid_type",
      message: `Invalid type for '${param}': expected ${expected}, but got a string value that could not be converted into ${expected}.`,
    });
  });

  it.each([
    ["n", "0", "integer_below_min_value", "integer below minimum value. Expected a value >= 1"],
    ["n", "11", "integer_above_max_value", "integer above maximum value. Expected a value <= 10"],
    [
      "output_compression",
      "101",
      "integer_above_max_value",
      "integer above maximum value. Expected a value <= 100",
    ],
  ])("%s=%j converts, then is out of range", (param, value, code, detail) => {
    expect(formEdit({ [param]: value })).toEqual({
      status: 400,
      param,
      code,
      message: `Invalid '${param}': ${detail}, but got ${value} instead.`,
    });
  });

  it.each([
    ["response_format", "", "'url' and 'b64_json'"],
    ["input_fidelity", "medium", "'high' and 'low'"],
    ["quality", "q".repeat(33), null],
  ])("%s=%j", (param, value, supported) => {
    const refused = formEdit({ [param]: value });
    if (supported === null) {
      expect(refused).toMatchObject({ param, code: "string_above_max_length" });
      return;
    }
    expect(refused).toEqual({
      status: 400,
      param,
      code: "invalid_value",
      message: `Invalid value: '${value}'. Supported values are: ${supported}.`,
    });
  });

  it("variations: the same wording", () => {
    expect(refusal(variationFormSchema, formToBody({ n: "many" }))).toEqual({
      status: 400,
      param: "n",
      code: "invalid_type",
      message:
        "Invalid type for 'n': expected an integer, but got a string value that could not be converted into an integer.",
    });
  });

  it("a JSON body with a numeric string is still a plain type error", () => {
    // Only a form field can only be a string; in JSON, "2" is the caller's choice of type.
    expect(refusal(editJsonSchema, { prompt: "p", images: [{}], n: "2" })).toMatchObject({
      code: "invalid_type",
      message: "Invalid type for 'n': expected an integer, but got a string instead.",
    });
  });
});
