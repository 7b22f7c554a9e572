// The submit body as bytes, without ever holding uploaded files in memory.
// A reference image that was uploaded is a file on disk; in the body it becomes
// a `data:<type>;base64,…` string that is encoded from the file while the body
// is sent. Its exact length is known in advance (base64 is 4 bytes per 3), so
// the upstream gets a Content-Length and the gateway can refuse a body the
// upstream would not take before anything is sent.
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";

/** An uploaded file that goes into the body as a data: URI. */
export class FileDataUri {
  constructor(
    readonly path: string,
    readonly contentType: string,
    readonly size: number,
  ) {}

  get encodedLength(): number {
    return this.prefix.length + 4 * Math.ceil(this.size / 3);
  }

  get prefix(): string {
    return `data:${this.contentType};base64,`;
  }
}

export interface EncodedBody {
  /** Exact byte length of the body. */
  length: number;
  /** A fresh stream of the body each time (a retried submit sends it again). */
  open(): Readable;
  /** Set when reading a file failed while the body was sent: the gateway's fault, not the upstream's. */
  readonly localError: Error | undefined;
}

// Multiple of 3: every chunk but the last encodes to base64 without padding.
const fileChunkBytes = 3 * 64 * 1024;

/**
 * Encodes `value` as JSON. Plain values give one string; values holding
 * FileDataUri parts give a stream that reads the files as it goes.
 */
export function encodeJsonBody(value: unknown): string | EncodedBody {
  const files: FileDataUri[] = [];
  // A token no caller can write: a random id per body, between NULs (which
  // JSON.stringify escapes in any string the caller sent).
  const nonce = randomUUID();
  const json = JSON.stringify(value, (_key, item: unknown) => {
    if (!(item instanceof FileDataUri)) return item;
    files.push(item);
    return `\u0000${nonce}:${files.length - 1}\u0000`;
  });
  if (json === undefined) throw new TypeError("the submit body is not JSON");
  if (files.length === 0) return json;

  // The JSON around the files: text, file, text, file, …, text.
  const texts: string[] = [];
  let rest = json;
  for (let index = 0; index < files.length; index++) {
    const token = `"\\u0000${nonce}:${index}\\u0000"`;
    const at = rest.indexOf(token);
    if (at < 0) throw new Error("a file reference was lost while encoding the body");
    texts.push(rest.slice(0, at));
    rest = rest.slice(at + token.length);
  }
  texts.push(rest);

  let length = 0;
  for (const text of texts) length += Buffer.byteLength(text);
  for (const file of files) length += file.encodedLength + 2;

  let localError: Error | undefined;
  async function* parts(): AsyncGenerator<Buffer> {
    for (let index = 0; index < files.length; index++) {
      const file = files[index] as FileDataUri;
      yield Buffer.from(`${texts[index]}"${file.prefix}`);
      let read = 0;
      // Only a failure to read the file is the gateway's own: an error the
      // connection throws into this generator (a reset mid-body) is not.
      let fileError: Error | undefined;
      const stream = createReadStream(file.path, { highWaterMark: fileChunkBytes });
      stream.once("error", (err) => {
        fileError = err;
      });
      try {
        let carry: Buffer = Buffer.alloc(0);
        for await (const chunk of stream) {
          const bytes: Buffer =
            carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
          const whole = bytes.length - (bytes.length % 3);
          carry = bytes.subarray(whole);
          read += whole;
          if (whole > 0) yield Buffer.from(bytes.subarray(0, whole).toString("base64"));
        }
        read += carry.length;
        if (carry.length > 0) yield Buffer.from(carry.toString("base64"));
        if (read !== file.size) {
          fileError = new Error("an uploaded file changed size before it was sent");
          throw fileError;
        }
      } catch (err) {
        if (fileError !== undefined && err === fileError) localError = fileError;
        throw err;
      } finally {
        stream.destroy();
      }
      yield Buffer.from('"');
    }
    yield Buffer.from(texts[files.length] as string);
  }

  return {
    length,
    open: () => Readable.from(parts(), { objectMode: false }),
    get localError() {
      return localError;
    },
  };
}

/** The byte length `encodeJsonBody(value)` would have, without reading any file. */
export function encodedJsonLength(value: unknown): number {
  const encoded = encodeJsonBody(value);
  return typeof encoded === "string" ? Buffer.byteLength(encoded) : encoded.length;
}
