// A zod failure at the edge → the 400 OpenAI itself answers for the same
// mistake: the parameter in `param` (OpenAI's path form, `images[0].image_url`),
// OpenAI's code, and OpenAI's wording, e.g.
//   Missing required parameter: 'prompt'.                              missing_required_parameter
//   Invalid type for 'n': expected an integer, but got a string instead.   invalid_type
//   Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.
//   Invalid value: 'gif'. Supported values are: 'url' and 'b64_json'.    invalid_value
//   Invalid 'prompt': string too long. Expected a string with maximum length 32000, …
// A value is echoed only where OpenAI echoes it (enum values, numbers), and
// then at most a short prefix of it: never a prompt, a key or a data: URI.
import { z } from "zod";
import { type GatewayError, gatewayError } from "./errors.js";

type Issue = z.core.$ZodIssue;
type UnionIssue = z.core.$ZodIssueInvalidUnion;
type BoundIssue = z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall;
type Path = readonly PropertyKey[];
type Schema = z.core.$ZodType;

export interface IssueContext {
  /** The schema that failed: it knows what a field expects (an integer, an array of objects). */
  schema: z.ZodType;
  /** The body as received: the issue holds the value after `.trim()`. */
  body: unknown;
  /** multipart/form-data: numbers and booleans arrived as strings and did not convert. */
  form: boolean;
}

/** Longest prefix of a value a message repeats; a prompt gets less than anything else. */
const echoLimit = 100;
const echoLimits: Readonly<Record<string, number>> = { prompt: 16 };

/** OpenAI's path form: `images[0].image_url`, `extra_body.google`. */
export function formatPath(path: Path): string | null {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text === "" ? String(key) : `.${String(key)}`;
  }
  return text === "" ? null : text;
}

/** `'a', 'b', and 'c'` / `'a' or 'b'`, as OpenAI lists values. */
function listValues(values: readonly unknown[], conjunction: "and" | "or"): string {
  const quoted = values.map((value) => quote(value, null));
  if (quoted.length <= 2) return quoted.join(` ${conjunction} `);
  return `${quoted.slice(0, -1).join(", ")}, ${conjunction} ${quoted.at(-1)}`;
}

/** A value as a message may show it: quoted if a string, cut short if long. */
function quote(value: unknown, param: string | null): string {
  if (typeof value !== "string") return String(value);
  const leaf = param?.split(".").at(-1) ?? "";
  const limit = echoLimits[leaf] ?? echoLimit;
  if (value.length <= limit) return `'${value}'`;
  // Do not split a surrogate pair at the cut.
  const cut = /[\uD800-\uDBFF]$/.test(value.slice(0, limit)) ? limit - 1 : limit;
  return `'${value.slice(0, cut)}…'`;
}

/** What a JSON value is, in OpenAI's words. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return "a string";
    case "boolean":
      return "a boolean";
    case "number":
      // JSON.parse turns 1e999 into Infinity.
      if (!Number.isFinite(value)) return "a number too large to represent";
      return Number.isInteger(value) ? "an integer" : "a decimal number";
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}

/** zod's `expected`, for when the schema cannot say more. */
const expectedKinds: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "a boolean",
  array: "an array",
  object: "an object",
  null: "null",
};

/** The field's schema, unwrapped from nullish/pipe/default. */
function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      current = current.unwrap();
    } else if (current instanceof z.ZodDefault) {
      current = current.removeDefault();
    } else if (current instanceof z.ZodPipe) {
      current = current.in;
    } else {
      return current;
    }
  }
}

/** The schema of the value at `path` inside `schema`, where it can be found. */
function schemaAt(schema: Schema, path: Path): Schema | undefined {
  const current = unwrap(schema);
  const [key, ...rest] = path;
  if (key === undefined) return current;
  if (current instanceof z.ZodUnion) {
    for (const option of current.options) {
      const found = schemaAt(option, path);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (current instanceof z.ZodObject && typeof key === "string") {
    const field = current.shape[key];
    return field === undefined ? undefined : schemaAt(field, rest);
  }
  if (current instanceof z.ZodArray && typeof key === "number") {
    return schemaAt(current.element, rest);
  }
  return undefined;
}

/** What a schema expects, in OpenAI's words: `an integer`, `an array of objects`. */
function describeSchema(schema: Schema, plural = false): string | undefined {
  const inner = unwrap(schema);
  const noun = (one: string, many: string) => (plural ? many : one);
  if (inner instanceof z.ZodString) return noun("a string", "strings");
  if (inner instanceof z.ZodNumber) {
    return inner.isInt ? noun("an integer", "integers") : noun("a number", "numbers");
  }
  if (inner instanceof z.ZodBoolean) return noun("a boolean", "booleans");
  if (inner instanceof z.ZodObject) return noun("an object", "objects");
  if (inner instanceof z.ZodEnum && !plural) return `one of ${listValues(inner.options, "or")}`;
  if (inner instanceof z.ZodArray && !plural) {
    const element = describeSchema(inner.element, true);
    return element === undefined ? "an array" : `an array of ${element}`;
  }
  if (inner instanceof z.ZodUnion && !plural) {
    const options = inner.options.map((option) => describeSchema(option));
    return options.every((option) => option !== undefined) ? options.join(" or ") : undefined;
  }
  return undefined;
}

/** The value at `path` in the body as received (`present` false when the key is absent). */
function valueAt(body: unknown, path: Path): { present: boolean; value: unknown } {
  let current = body;
  for (const key of path) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, key)) {
      return { present: false, value: undefined };
    }
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return { present: true, value: current };
}

/**
 * A union fails with every branch's issues. When the value had the type of
 * one branch, that branch's own issue is the one to report (`image_url[1]`
 * not a string; 17 references); otherwise the value fitted none of them.
 */
function resolveUnion(issue: UnionIssue): Issue {
  const fitted = issue.errors.find(
    (branch) => !branch.every((inner) => inner.code === "invalid_type" && inner.path.length === 0),
  );
  const inner = fitted?.[0];
  if (inner === undefined) return issue;
  const resolved = { ...inner, path: [...issue.path, ...inner.path] } as Issue;
  return resolved.code === "invalid_union" ? resolveUnion(resolved) : resolved;
}

/**
 * The issue to report: the first, as zod orders them (the schema's field
 * order). For a number, zod may add the safe-integer range to the field's own
 * bound: the field's (the tighter) is the one the caller can act on.
 */
function pickIssue(issues: readonly Issue[]): Issue | undefined {
  const [first] = issues;
  if (first === undefined) return undefined;
  if (first.code === "invalid_union") return resolveUnion(first);
  const samePath = (other: Issue) =>
    other.code === first.code && formatPath(other.path) === formatPath(first.path);
  if (first.code === "too_big") {
    return issues
      .filter(samePath)
      .reduce((a, b) =>
        b.code === "too_big" && a.code === "too_big" && Number(b.maximum) < Number(a.maximum)
          ? b
          : a,
      );
  }
  if (first.code === "too_small") {
    return issues
      .filter(samePath)
      .reduce((a, b) =>
        b.code === "too_small" && a.code === "too_small" && Number(b.minimum) > Number(a.minimum)
          ? b
          : a,
      );
  }
  return first;
}

function typeRefusal(param: string, expected: string, got: unknown, form: boolean): GatewayError {
  // A form field can only be a string: say it did not convert, as OpenAI does.
  const convertible =
    expected === "an integer" || expected === "a number" || expected === "a boolean";
  const gotText =
    form && typeof got === "string" && convertible
      ? `a string value that could not be converted into ${expected}`
      : `${kindOf(got)} instead`;
  return gatewayError(
    "invalid_type",
    { detail: `Invalid type for '${param}': expected ${expected}, but got ${gotText}.` },
    { param },
  );
}

function boundRefusal(
  issue: BoundIssue,
  param: string,
  context: IssueContext,
): GatewayError | undefined {
  const above = issue.code === "too_big";
  const limit = issue.code === "too_big" ? issue.maximum : issue.minimum;
  const inclusive = issue.inclusive !== false;
  const input = issue.input;
  if (issue.exact === true) return undefined;
  if (typeof input === "number" || typeof input === "bigint") {
    const kind = Number.isInteger(Number(input)) ? "integer" : "decimal";
    const sign = above ? (inclusive ? "<=" : "<") : inclusive ? ">=" : ">";
    return gatewayError(
      `${kind}_${above ? "above_max" : "below_min"}_value`,
      {
        detail: `Invalid '${param}': ${kind} ${above ? "above maximum" : "below minimum"} value. Expected a value ${sign} ${limit}, but got ${input} instead.`,
      },
      { param },
    );
  }
  const sized = typeof input === "string" ? "string" : Array.isArray(input) ? "array" : undefined;
  if (sized === undefined || !inclusive) return undefined;
  const length = (input as string | unknown[]).length;
  const article = sized === "string" ? "a" : "an";
  const expected = `Expected ${article} ${sized} with ${above ? "maximum" : "minimum"} length ${limit}`;
  if (!above && length === 0) {
    const raw = valueAt(context.body, issue.path).value;
    // `.trim()` has run: say so rather than claim the caller sent nothing.
    const got =
      typeof raw === "string" && raw !== "" ? "a string of only whitespace" : `an empty ${sized}`;
    return gatewayError(
      `empty_${sized}`,
      { detail: `Invalid '${param}': empty ${sized}. ${expected}, but got ${got} instead.` },
      { param },
    );
  }
  return gatewayError(
    `${sized}_${above ? "above_max" : "below_min"}_length`,
    {
      detail: `Invalid '${param}': ${sized} too ${above ? "long" : "short"}. ${expected}, but got ${article} ${sized} with length ${length} instead.`,
    },
    { param },
  );
}

function refusalFor(
  issue: Issue,
  param: string | null,
  context: IssueContext,
): GatewayError | undefined {
  if (param === null) return undefined;
  switch (issue.code) {
    case "invalid_type": {
      const { present, value } = valueAt(context.body, issue.path);
      if (!present || value === undefined) {
        return gatewayError("missing_required_parameter", { param });
      }
      const field = schemaAt(context.schema, issue.path);
      const expected =
        (field && describeSchema(field)) ?? expectedKinds[issue.expected] ?? `a ${issue.expected}`;
      return typeRefusal(param, expected, value, context.form);
    }
    case "invalid_union": {
      // An exclusive union that matched twice is not a type error.
      if (issue.errors.length === 0) return undefined;
      const field = schemaAt(context.schema, issue.path);
      const expected = field && describeSchema(field);
      if (expected === undefined) return undefined;
      return typeRefusal(param, expected, issue.input, context.form);
    }
    case "invalid_value": {
      if (typeof issue.input !== "string" && issue.values.every((v) => typeof v === "string")) {
        return typeRefusal(param, `one of ${listValues(issue.values, "or")}`, issue.input, false);
      }
      return gatewayError(
        "invalid_value",
        {
          detail: `Invalid value: ${quote(issue.input, param)}. Supported values are: ${listValues(issue.values, "and")}.`,
        },
        { param },
      );
    }
    case "too_big":
    case "too_small":
      return boundRefusal(issue, param, context);
    default:
      return undefined;
  }
}

/** The one translation of a failed parse into the OpenAI-style 400. */
export function validationError(issues: readonly Issue[], context: IssueContext): GatewayError {
  const issue = pickIssue(issues);
  if (issue === undefined)
    return gatewayError("invalid_value", { detail: "Invalid request body." });
  if (issue.code === "unrecognized_keys") {
    // zod names at least one key: the path is never empty.
    const param = formatPath([...issue.path, issue.keys[0] ?? ""]) ?? "";
    return gatewayError("unknown_parameter", { param });
  }
  const param = formatPath(issue.path);
  const refusal = refusalFor(issue, param, context);
  if (refusal !== undefined) return refusal;
  // Refinements and formats carry their own (schema-written) message.
  const message =
    param === null
      ? `Invalid request body: ${issue.message}.`
      : `Invalid value for '${param}': ${issue.message}.`;
  return gatewayError("invalid_value", { detail: message }, { param });
}
