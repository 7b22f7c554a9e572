// Hand-built multipart/form-data bodies of any size, generated lazily from one
// reused buffer, so that a test can send gigabytes without holding them: the
// memory measured is the gateway's, not the client's.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { request } from "undici";

export type FormPart =
  | { name: string; value: string }
  /** A file of `size` bytes: `head` first, then filler. */
  | { name: string; filename: string; size: number; head?: Buffer; type?: string };

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const filler = randomBytes(1024 * 1024);

/** A file part that looks like a PNG: the signature, then random bytes. */
export function pngPart(name: string, size: number): FormPart {
  return { name, filename: "in.png", size, head: pngSignature, type: "image/png" };
}

function partHeader(boundary: string, part: FormPart): string {
  if ("value" in part) {
    return `--${boundary}\r\ncontent-disposition: form-data; name="${part.name}"\r\n\r\n`;
  }
  return `--${boundary}\r\ncontent-disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\ncontent-type: ${part.type ?? "application/octet-stream"}\r\n\r\n`;
}

export interface MultipartBody {
  contentType: string;
  length: number;
  body(): AsyncGenerator<Buffer>;
}

export function multipartBody(parts: readonly FormPart[]): MultipartBody {
  const boundary = `----imagegate-test-${randomBytes(8).toString("hex")}`;
  const closing = `--${boundary}--\r\n`;
  let length = Buffer.byteLength(closing);
  for (const part of parts) {
    length += Buffer.byteLength(partHeader(boundary, part)) + 2;
    length += "value" in part ? Buffer.byteLength(part.value) : part.size;
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    async *body() {
      for (const part of parts) {
        yield Buffer.from(partHeader(boundary, part));
        if ("value" in part) {
          yield Buffer.from(part.value);
        } else {
          const head = part.head ?? Buffer.alloc(0);
          yield head;
          let left = part.size - head.length;
          while (left > 0) {
            const chunk = filler.subarray(0, Math.min(left, filler.length));
            left -= chunk.length;
            yield chunk;
          }
        }
        yield Buffer.from("\r\n");
      }
      yield Buffer.from(closing);
    },
  };
}

export interface SentForm {
  status: number;
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * POSTs a form to the gateway. `declareLength: false` sends it chunked (no
 * Content-Length), as a client streaming from a pipe would. A gateway that
 * answers early and closes the connection may cut the upload short: that
 * answer is what is returned.
 */
export async function postForm(
  url: string,
  apiKey: string,
  parts: readonly FormPart[],
  options: { declareLength?: boolean; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<SentForm> {
  const form = multipartBody(parts);
  const headers: Record<string, string> = {
    ...options.headers,
    authorization: `Bearer ${apiKey}`,
    "content-type": form.contentType,
  };
  if (options.declareLength !== false) headers["content-length"] = String(form.length);
  const response = await request(url, {
    method: "POST",
    headers,
    body: Readable.from(form.body()),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.statusCode, json, headers: response.headers };
}
