// multipart/form-data as the OpenAI SDK sends it for images.edit and
// images.createVariation: text fields, and image files under `image` (or
// `image[]`, repeated, for several) and `mask`. Files are judged by their
// bytes, never by the type or name the client claims, and bounded in size and
// count before anything else happens.
// The type import brings @fastify/multipart's request.parts() into FastifyRequest.
import type { Multipart } from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { GatewayError, InvalidRequestError } from "../errors.js";
import { sniffImage } from "../storage/blobs.js";

/** An uploaded image whose bytes were checked. */
export interface Upload {
  /** The parameter it came in, for error messages: `image`, `image[1]`, `mask`. */
  param: string;
  bytes: Buffer;
  contentType: "image/png" | "image/jpeg" | "image/webp";
}

export interface MultipartForm {
  fields: Record<string, string>;
  images: Upload[];
  mask: Upload | undefined;
}

export interface UploadLimits {
  /** Largest single file. */
  maxFileBytes: number;
  /** Most image files (the largest reference limit in the catalogue). */
  maxFiles: number;
}

const acceptedTypes = new Set(["image/png", "image/jpeg", "image/webp"]);

/** Checks an uploaded file by its first bytes: PNG, JPEG or WebP only. */
export function checkImageBytes(bytes: Buffer, param: string): Upload {
  const sniffed = sniffImage(bytes);
  if (sniffed === undefined || !acceptedTypes.has(sniffed.type)) {
    throw new InvalidRequestError(
      `Invalid image file for '${param}': its content is not a PNG, JPEG or WebP image (the file name and declared type are not trusted).`,
      param,
      "invalid_image_format",
    );
  }
  return { param, bytes, contentType: sniffed.type as Upload["contentType"] };
}

function tooLarge(param: string, limits: UploadLimits): GatewayError {
  return new GatewayError({
    status: 413,
    type: "invalid_request_error",
    code: "file_too_large",
    param,
    message: `The file for '${param}' is larger than ${Math.floor(limits.maxFileBytes / 1024 / 1024)} MB.`,
  });
}

function isFastifyError(err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code;
}

/** Reads the whole form; every problem is a 4xx naming the parameter. */
export async function readMultipartForm(
  request: FastifyRequest,
  limits: UploadLimits,
): Promise<MultipartForm> {
  const fields: Record<string, string> = Object.create(null);
  const images: Upload[] = [];
  let mask: Upload | undefined;
  let param = "image";
  try {
    const parts: AsyncIterableIterator<Multipart> = request.parts({
      limits: {
        fileSize: limits.maxFileBytes,
        files: limits.maxFiles + 1,
        fields: 64,
        // A prompt is at most 32 000 characters of up to 4 bytes each.
        fieldSize: 128 * 1024,
        parts: limits.maxFiles + 65,
      },
    });
    for await (const part of parts) {
      if (part.type === "field") {
        if (typeof part.value !== "string") continue;
        if (part.fieldname in fields) {
          throw new InvalidRequestError(
            `'${part.fieldname}' was given more than once.`,
            part.fieldname,
          );
        }
        fields[part.fieldname] = part.value;
        continue;
      }
      const name = part.fieldname;
      if (name === "image" || name === "image[]") {
        param = images.length === 0 && name === "image" ? "image" : `image[${images.length}]`;
        if (images.length >= limits.maxFiles) {
          part.file.resume();
          throw new InvalidRequestError(
            `At most ${limits.maxFiles} images can be uploaded.`,
            "image",
            "too_many_images",
          );
        }
        images.push(checkImageBytes(await part.toBuffer(), param));
      } else if (name === "mask") {
        param = "mask";
        mask = checkImageBytes(await part.toBuffer(), "mask");
      } else {
        part.file.resume();
        throw new InvalidRequestError(
          `Unexpected file field '${name}'.`,
          name,
          "unknown_parameter",
        );
      }
    }
  } catch (err) {
    if (isFastifyError(err, "FST_REQ_FILE_TOO_LARGE")) throw tooLarge(param, limits);
    if (isFastifyError(err, "FST_FILES_LIMIT")) {
      throw new InvalidRequestError(
        `At most ${limits.maxFiles} images can be uploaded.`,
        "image",
        "too_many_images",
      );
    }
    if (isFastifyError(err, "FST_PARTS_LIMIT") || isFastifyError(err, "FST_FIELDS_LIMIT")) {
      throw new InvalidRequestError("The form has too many fields.", null, "too_many_fields");
    }
    if (isFastifyError(err, "FST_PROTO_VIOLATION")) {
      throw new InvalidRequestError("A form field has a forbidden name.", null);
    }
    if (err instanceof GatewayError) throw err;
    // Anything else here is the parser rejecting the body (no boundary, a
    // malformed part, a body cut short): the caller's mistake, not ours.
    throw new InvalidRequestError(
      `The multipart/form-data body is malformed: ${err instanceof Error ? err.message : "unreadable"}.`,
      null,
      "invalid_multipart",
    );
  }
  return { fields, images, mask };
}

const numberFields = new Set(["n", "output_compression", "partial_images"]);
const booleanFields = new Set(["stream"]);

/**
 * Form fields → the JSON body shape the schemas expect: multipart numbers and
 * booleans arrive as strings. A value that does not convert is left as the
 * string, so the schema's error names the field.
 */
export function formToBody(fields: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (numberFields.has(name) && /^\s*-?\d+\s*$/.test(value)) body[name] = Number(value);
    else if (booleanFields.has(name) && (value === "true" || value === "false")) {
      body[name] = value === "true";
    } else body[name] = value;
  }
  return body;
}
