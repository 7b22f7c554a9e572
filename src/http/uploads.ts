// multipart/form-data as the OpenAI SDK sends it for images.edit and
// images.createVariation: text fields, and image files under `image` (or
// `image[]`, repeated, for several) and `mask`. Files are judged by their
// bytes, never by the type or name the client claims. They stream to the
// upload spool on disk as they arrive (never whole into memory), and the form
// is given up the moment it breaks a limit: a file too large, too many files,
// all files together too large, or a field the caller's checks refuse (a
// model the key may not use, more images than the model takes).
// The type import brings @fastify/multipart's request.parts() into FastifyRequest.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Multipart, MultipartFile } from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { GatewayError, gatewayError } from "../errors.js";
import { sniffImage } from "../storage/blobs.js";
import type { UploadSpool } from "../storage/upload-spool.js";

type ImageType = "image/png" | "image/jpeg" | "image/webp";

/** An uploaded image, checked by its bytes and spooled to disk. */
export interface Upload {
  /** The parameter it came in, for error messages: `image`, `image[1]`, `mask`. */
  param: string;
  path: string;
  size: number;
  contentType: ImageType;
  /** SHA-256 of the bytes: part of what makes a retry "the same request". */
  digest: Buffer;
}

export interface MultipartForm {
  fields: Record<string, string>;
  images: Upload[];
  mask: Upload | undefined;
  /** Every spooled file of the form. */
  readonly paths: readonly string[];
}

export interface UploadLimits {
  /** Largest single file. */
  maxFileBytes: number;
  /** Most image files (the largest reference limit in the catalogue). */
  maxFiles: number;
  /** All files of the request together (IMAGEGATE_MAX_UPLOAD_TOTAL_MB). */
  maxTotalBytes: number;
}

/** Checks run while the form arrives, so that a refusal comes before the files. */
export interface FormWatch {
  /** Each text field as it arrives; throws to refuse the request at once. */
  field?(name: string, value: string): void;
  /** The most image files allowed, as far as the fields seen so far tell (the model's limit). */
  maxImages?(): number | undefined;
}

const acceptedTypes = new Set(["image/png", "image/jpeg", "image/webp"]);
// Enough bytes to tell PNG, JPEG and WebP apart.
const sniffBytes = 16;

function notAnImage(param: string): GatewayError {
  return gatewayError("invalid_image_format", { param });
}

/** The type of an image by its first bytes: PNG, JPEG or WebP only. */
function imageTypeOf(head: Buffer, param: string): ImageType {
  const sniffed = sniffImage(head);
  if (sniffed === undefined || !acceptedTypes.has(sniffed.type)) throw notAnImage(param);
  return sniffed.type as ImageType;
}

/** Checks image bytes (or their first bytes) given inline: PNG, JPEG or WebP only. */
export function checkImageBytes(bytes: Buffer, param: string): ImageType {
  return imageTypeOf(bytes, param);
}

/** Where the base64 of a `data:image/…;base64,` URI starts; undefined for anything else. */
function base64Start(url: string): number | undefined {
  const header = /^data:image\/[a-z0-9.+-]{1,100};base64,/i.exec(url.slice(0, 128));
  return header === null ? undefined : header[0].length;
}

/**
 * A reference given inline as a data: URI (JSON edits, `image_url` on
 * generations), checked by its bytes like an upload. The type shows in the
 * first bytes: those are decoded, not a URI of megabytes.
 */
export function checkDataUri(url: string, param: string): void {
  const start = base64Start(url);
  if (start === undefined) return;
  const head = url.slice(start, start + 64);
  checkImageBytes(Buffer.from(head, "base64"), param);
}

/**
 * A data: URI from a JSON edit, decoded and spooled like an uploaded file (a
 * masked edit composites with the image and the mask once the result is in).
 * Anything but a data: URI of a PNG, JPEG or WebP image is a 400 on `param`.
 */
export async function spoolDataUri(
  url: string,
  param: string,
  spool: UploadSpool,
): Promise<Upload> {
  const start = base64Start(url);
  if (start === undefined) {
    throw gatewayError(
      "invalid_value",
      {
        detail: `Give '${param}' as a data: URI (data:image/png;base64,…) for a masked edit, or send the image and the mask as files.`,
      },
      { param },
    );
  }
  const bytes = Buffer.from(url.slice(start), "base64");
  const contentType = checkImageBytes(bytes, param);
  const path = await spool.newPath();
  await writeFile(path, bytes, { flag: "wx", mode: 0o600 });
  return {
    param,
    path,
    size: bytes.length,
    contentType,
    digest: createHash("sha256").update(bytes).digest(),
  };
}

/** The upstream's own `image_url` on generations: each data: URI checked by its bytes. */
export function checkImageUrls(imageUrl: string | readonly string[] | undefined): void {
  const urls = imageUrl === undefined ? [] : typeof imageUrl === "string" ? [imageUrl] : imageUrl;
  for (const [index, url] of urls.entries()) {
    checkDataUri(url, urls.length === 1 ? "image_url" : `image_url[${index}]`);
  }
}

function fileTooLarge(param: string, limits: UploadLimits): GatewayError {
  return gatewayError("file_too_large", { param, maxBytes: limits.maxFileBytes });
}

function uploadTooLarge(limits: UploadLimits): GatewayError {
  return gatewayError("upload_too_large", { maxBytes: limits.maxTotalBytes });
}

function tooManyImages(max: number): GatewayError {
  return gatewayError("too_many_images", { max });
}

function isFastifyError(err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code;
}

/**
 * Counts, checks and hashes a file's bytes on their way to disk: refuses it
 * as soon as it is not an image or passes the per-file or per-request cap.
 */
class FileCheck extends Transform {
  readonly hash = createHash("sha256");
  head = Buffer.alloc(0);
  contentType: ImageType | undefined;
  size = 0;

  constructor(
    private readonly param: string,
    private readonly limits: UploadLimits,
    private readonly total: { bytes: number },
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    this.total.bytes += chunk.length;
    const refusal = this.refusal(chunk);
    if (refusal !== undefined) {
      done(refusal);
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    // A file shorter than the sniffing window is judged by what there is.
    done(this.contentType === undefined ? this.sniff() : undefined);
  }

  /** Why the file is refused after this chunk, if it is. */
  private refusal(chunk: Buffer): GatewayError | undefined {
    if (this.size > this.limits.maxFileBytes) return fileTooLarge(this.param, this.limits);
    if (this.total.bytes > this.limits.maxTotalBytes) return uploadTooLarge(this.limits);
    if (this.contentType !== undefined) return undefined;
    this.head = Buffer.concat([this.head, chunk.subarray(0, sniffBytes)]);
    return this.head.length >= sniffBytes ? this.sniff() : undefined;
  }

  private sniff(): GatewayError | undefined {
    const sniffed = sniffImage(this.head);
    if (sniffed === undefined || !acceptedTypes.has(sniffed.type)) return notAnImage(this.param);
    this.contentType = sniffed.type as ImageType;
    return undefined;
  }
}

async function spoolFile(
  part: MultipartFile,
  param: string,
  path: string,
  limits: UploadLimits,
  total: { bytes: number },
): Promise<Upload> {
  const check = new FileCheck(param, limits, total);
  await pipeline(part.file, check, createWriteStream(path, { flags: "wx", mode: 0o600 }));
  // busboy's own cap (a backstop one byte above ours) cut the file short.
  if (part.file.truncated) throw fileTooLarge(param, limits);
  return {
    param,
    path,
    size: check.size,
    contentType: check.contentType as ImageType,
    digest: check.hash.digest(),
  };
}

/** Translates what the multipart parser throws into the caller's 4xx. */
function formError(err: unknown, param: string, limits: UploadLimits): unknown {
  if (err instanceof GatewayError) return err;
  // The gateway's own file system failing (a full disk, a missing folder) is
  // not the caller's mistake: an internal error, its message (a path) hidden.
  if (typeof (err as { syscall?: unknown } | null)?.syscall === "string") return err;
  if (isFastifyError(err, "FST_REQ_FILE_TOO_LARGE")) return fileTooLarge(param, limits);
  if (isFastifyError(err, "FST_FILES_LIMIT")) return tooManyImages(limits.maxFiles);
  if (isFastifyError(err, "FST_PARTS_LIMIT") || isFastifyError(err, "FST_FIELDS_LIMIT")) {
    return gatewayError("too_many_fields");
  }
  if (isFastifyError(err, "FST_PROTO_VIOLATION")) {
    return gatewayError("invalid_value", { detail: "A form field has a forbidden name." });
  }
  // Anything else here is the parser rejecting the body (no boundary, a
  // malformed part, a body cut short): the caller's mistake, not ours.
  return gatewayError("invalid_multipart", {
    reason: err instanceof Error ? err.message : "unreadable",
  });
}

/**
 * Reads the whole form, spooling its files; every problem is a 4xx naming the
 * parameter, and on any problem every file already spooled is removed.
 */
export async function readMultipartForm(
  request: FastifyRequest,
  limits: UploadLimits,
  spool: UploadSpool,
  watch: FormWatch = {},
): Promise<MultipartForm> {
  const fields: Record<string, string> = Object.create(null);
  const images: Upload[] = [];
  const paths: string[] = [];
  const total = { bytes: 0 };
  let mask: Upload | undefined;
  let param = "image";
  try {
    const parts: AsyncIterableIterator<Multipart> = request.parts({
      limits: {
        // Our own check refuses at maxFileBytes + 1; busboy's is the backstop.
        fileSize: limits.maxFileBytes + 1,
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
          throw gatewayError(
            "invalid_value",
            { detail: `'${part.fieldname}' was given more than once.` },
            { param: part.fieldname },
          );
        }
        fields[part.fieldname] = part.value;
        watch.field?.(part.fieldname, part.value);
        continue;
      }
      const name = part.fieldname;
      let upload: Upload;
      if (name === "image" || name === "image[]") {
        param = images.length === 0 && name === "image" ? "image" : `image[${images.length}]`;
        const max = Math.min(limits.maxFiles, watch.maxImages?.() ?? limits.maxFiles);
        if (images.length >= max) throw tooManyImages(max);
        const path = await spool.newPath();
        paths.push(path);
        upload = await spoolFile(part, param, path, limits, total);
        images.push(upload);
      } else if (name === "mask") {
        param = "mask";
        if (mask !== undefined) {
          throw gatewayError(
            "invalid_value",
            { detail: "'mask' was given more than once." },
            { param: "mask" },
          );
        }
        const path = await spool.newPath();
        paths.push(path);
        mask = await spoolFile(part, param, path, limits, total);
      } else {
        throw gatewayError("unknown_parameter", { param: name, file: true });
      }
    }
  } catch (err) {
    await spool.remove(paths);
    throw formError(err, param, limits);
  }
  return { fields, images, mask, paths };
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
