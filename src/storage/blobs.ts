// Re-hosted images: a BlobStore interface with a local-disk implementation, and
// HMAC-signed, expiring URLs that need no API key (like OpenAI's result URLs).
//
// Images are streamed to disk as they download (never held whole in memory)
// and their type is taken from their first bytes, not from what the upstream
// claims. What every store does alike (ids, types, the in-memory limit and
// budget, small rows, base64-friendly chunks) is exported for the S3 store
// (s3-blobs.ts).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomId } from "../random-ids.js";
import { mkdirPrivate } from "./private-files.js";
import { type SmallBlobs, smallBlobLimit } from "./small-blobs.js";

export interface StoredBlob {
  /** File name, `<random>.<ext>`: safe to put in a URL path. */
  id: string;
  /** Sniffed from the bytes; undefined when they are no known image type. */
  contentType: string | undefined;
  size: number;
  /** The bytes themselves when the image is small, so delivery need not read them back. */
  bytes?: Buffer;
  /**
   * Settles once the file is on disk. A small image is handed back while its
   * write is still under way, so a b64_json answer need not wait for the disk;
   * anything that hands out the file (a URL) awaits this first.
   */
  written: Promise<void>;
}

export interface OpenedBlob {
  stream: Readable;
  contentType: string;
  size: number;
}

export interface PutOptions {
  /** Refuse (BlobTooLargeError, nothing kept) a source longer than this. */
  maxBytes?: number;
  /** The source's declared length, if any: one past the in-memory limit goes to disk from its first byte. */
  expectedBytes?: number | undefined;
}

/** A source was longer than PutOptions.maxBytes; what was written is deleted. */
export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the image is larger than ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}

export interface BlobStore {
  put(source: Readable, options?: PutOptions): Promise<StoredBlob>;
  /** A read stream whose chunks are multiples of 3 bytes (except the last), for base64. */
  open(id: string): Promise<OpenedBlob | undefined>;
  remove(id: string): Promise<void>;
  /** Deletes blobs last written before `olderThan` (clock ms); returns how many. */
  sweep(olderThan: number): Promise<number>;
  /**
   * A URL of the store's own for the blob, valid until `expiresAt`, when the
   * store hands those out (S3 with IMAGEGATE_S3_PRESIGNED_URLS); undefined:
   * the gateway's signed URL serves it.
   */
  presign?(id: string, expiresAt: number): Promise<string | undefined>;
  /** Whether the store answers now (readiness); absent: always (the data dir). */
  answers?(): Promise<boolean>;
}

const imageTypes: ReadonlyArray<{ ext: string; type: string; test: (head: Buffer) => boolean }> = [
  {
    ext: "png",
    type: "image/png",
    test: (h) =>
      h.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  { ext: "jpg", type: "image/jpeg", test: (h) => h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff },
  {
    ext: "webp",
    type: "image/webp",
    test: (h) => h.toString("latin1", 0, 4) === "RIFF" && h.toString("latin1", 8, 12) === "WEBP",
  },
  { ext: "gif", type: "image/gif", test: (h) => h.toString("latin1", 0, 4) === "GIF8" },
];

const typeByExt = new Map(imageTypes.map((t) => [t.ext, t.type]));

/** The image type of the first bytes of a file, if it is one we serve. */
export function sniffImage(head: Buffer): { ext: string; type: string } | undefined {
  return imageTypes.find((candidate) => candidate.test(head));
}

const idPattern = /^[A-Za-z0-9_-]{22}\.(png|jpg|webp|gif|bin)$/;

export function isBlobId(id: string): boolean {
  return idPattern.test(id);
}

/** The random part of a new blob's id. */
export const newBlobBase = (): string => randomId(16).toString("base64url");

/** A blob's id: its random base and the extension of the type its first bytes show. */
export const blobIdOf = (base: string, head: Buffer): string =>
  `${base}.${sniffImage(head)?.ext ?? "bin"}`;

/** The content type a blob is served with, from its id's extension. */
export const contentTypeOf = (id: string): string =>
  typeByExt.get(id.slice(id.lastIndexOf(".") + 1)) ?? "application/octet-stream";

// 3 × 64 KiB: every chunk but the last encodes to base64 without padding.
export const base64FriendlyChunk = 3 * 64 * 1024;

/**
 * `source` re-cut into chunks of at least `size` bytes that are multiples of 3
 * (the last excepted), for a body that arrives in arbitrary pieces (an S3
 * GetObject): what OpenedBlob.stream promises.
 */
export function base64Chunks(
  source: AsyncIterable<Uint8Array>,
  size = base64FriendlyChunk,
): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let held: Buffer[] = [];
    let length = 0;
    for await (const piece of source) {
      held.push(
        Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length),
      );
      length += piece.length;
      if (length < size) continue;
      const data = Buffer.concat(held, length);
      const aligned = length - (length % 3);
      const rest = data.subarray(aligned);
      held = rest.length > 0 ? [rest] : [];
      length = rest.length;
      yield data.subarray(0, aligned);
    }
    if (length > 0) yield Buffer.concat(held, length);
  }
  // Not object mode: consumers see a byte stream, as from a file.
  return Readable.from(chunks(), { objectMode: false });
}

// Images up to this size are collected in memory and written with one call,
// and delivery encodes the bytes it already has: no disk round trip for an
// answer waiting on them (a typical 1–3 MB result; spilling at 1 MiB cost a
// 1.5 MB b64_json answer ~40 ms at P99). Larger ones stream to disk and are
// never held whole: 50 concurrent 20 MB results stay within 400 MB.
export const inMemoryLimit = 4 * 1024 * 1024;
/** The most that all puts of one store collect in memory at once; past it they spill. */
export const inMemoryBudget = 64 * 1024 * 1024;

/** The bytes all puts of one store are collecting in memory, against its budget. */
export interface MemoryBudget {
  readonly limit: number;
  collecting: number;
}

/** Enough of an image's first bytes to know its type. */
const sniffBytes = 16;

/**
 * Where a put stands once it has read enough to choose: the whole image in
 * memory, or a stream to write as it arrives. A streamed image's first bytes
 * are already read, so its id (and type) are known before anything is written.
 */
export type Intake =
  | { kind: "memory"; bytes: Buffer }
  | {
      kind: "stream";
      /** The first bytes (at least `sniffBytes` unless the image is shorter). */
      head: Buffer;
      /**
       * Every byte of the image, the head included. Fails with
       * BlobTooLargeError past maxBytes; destroying it (or any failure)
       * destroys the source.
       */
      body: Readable;
      /** Bytes `body` has given so far: the size once it has ended. */
      size(): number;
      /** Why `body` failed, if it did: the source's error or BlobTooLargeError. */
      failure(): unknown;
    };

/**
 * Reads `source` until it is whole (up to inMemoryLimit, and while the store's
 * budget allows) or known to be large: the part of put() both stores share.
 */
export async function takeIn(
  source: Readable,
  options: PutOptions,
  budget: MemoryBudget,
): Promise<Intake> {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      chunks.push(next.value);
      size += next.value.length;
      budget.collecting += next.value.length;
      if (size > maxBytes) {
        source.destroy();
        throw new BlobTooLargeError(maxBytes);
      }
      // Too large to hold, or too many held at once (50 concurrent 20 MB
      // downloads would each collect 4 MiB before spilling): streamed.
      const large = size > inMemoryLimit || (options.expectedBytes ?? 0) > inMemoryLimit;
      if (large || budget.collecting > budget.limit) {
        budget.collecting -= size;
        size = 0;
        return await streamed(source, chunks, iterator, maxBytes);
      }
    }
  } finally {
    budget.collecting -= size;
  }
  return { kind: "memory", bytes: Buffer.concat(chunks, size) };
}

async function streamed(
  source: Readable,
  chunks: Buffer[],
  rest: AsyncIterator<Buffer>,
  maxBytes: number,
): Promise<Intake> {
  // A budget spill can come after a few bytes: read on until the type shows.
  let headLength = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  let ended = false;
  while (headLength < sniffBytes && !ended) {
    const next = await rest.next();
    if (next.done) ended = true;
    else {
      chunks.push(next.value);
      headLength += next.value.length;
    }
  }
  const head = firstBytes(chunks, sniffBytes);
  let size = 0;
  let failure: unknown;
  async function* all(): AsyncGenerator<Buffer> {
    let finished = false;
    const count = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
      return chunk;
    };
    try {
      for (const chunk of chunks) yield count(chunk);
      if (!ended) {
        for (let next = await rest.next(); !next.done; next = await rest.next()) {
          yield count(next.value);
        }
      }
      finished = true;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // Refused, failed, or abandoned by its writer: stop the download too.
      if (!finished) source.destroy();
    }
  }
  return {
    kind: "stream",
    head,
    body: Readable.from(all(), { objectMode: false }),
    size: () => size,
    failure: () => failure,
  };
}

/** The first `length` bytes of `chunks` (fewer if they are shorter), copying no more. */
function firstBytes(chunks: Buffer[], length: number): Buffer {
  const parts: Buffer[] = [];
  let taken = 0;
  for (const chunk of chunks) {
    if (taken >= length) break;
    const part = chunk.subarray(0, length - taken);
    parts.push(part);
    taken += part.length;
  }
  return Buffer.concat(parts, taken);
}

/**
 * Writes that put() handed back unfinished, by id: open() and remove() of an
 * id wait for its write, so the store stays consistent for its readers.
 */
export class PendingWrites {
  readonly #writes = new Map<string, Promise<void>>();

  track(id: string, written: Promise<void>): void {
    this.#writes.set(id, written);
    // Handled here so a failure is no unhandled rejection when nobody awaits
    // it (b64_json); awaiting `written` still throws.
    written.catch(() => {}).finally(() => this.#writes.delete(id));
  }

  /** Settles once the write of `id` under way, if any, has (its failure ignored). */
  async settled(id: string): Promise<void> {
    await this.#writes.get(id)?.catch(() => {});
  }
}

export interface InMemoryPut {
  small: SmallBlobs | undefined;
  now: () => number;
  pending: PendingWrites;
  /** Writes a whole image that is no small row (a file, an object). */
  write: (id: string, bytes: Buffer) => Promise<void>;
}

/**
 * A whole image collected in memory: a small row when it fits and the store
 * has them, else one write. Handed back while the write is still under way.
 */
export function keepInMemory(base: string, bytes: Buffer, put: InMemoryPut): StoredBlob {
  const sniffed = sniffImage(bytes);
  const id = `${base}.${sniffed?.ext ?? "bin"}`;
  const written =
    put.small !== undefined && bytes.length <= smallBlobLimit
      ? put.small.put(id, bytes, put.now())
      : put.write(id, bytes);
  put.pending.track(id, written);
  return { id, contentType: sniffed?.type, size: bytes.length, bytes, written };
}

/** A blob kept as a small row, opened; undefined when there is no such row. */
export async function openSmall(
  small: SmallBlobs | undefined,
  id: string,
): Promise<OpenedBlob | undefined> {
  const row = await small?.get(id);
  if (row === undefined) return undefined;
  return { stream: Readable.from([row]), contentType: contentTypeOf(id), size: row.length };
}

export interface LocalBlobStoreOptions {
  /** Where images up to smallBlobLimit go instead of a file each. */
  small?: SmallBlobs;
  /** For the small rows' age (the sweep); default Date.now. */
  now?: () => number;
  /** Bytes all puts may collect in memory at once; default inMemoryBudget. */
  inMemoryBudget?: number;
}

export function createLocalBlobStore(dir: string, options: LocalBlobStoreOptions = {}): BlobStore {
  const { small } = options;
  const now = options.now ?? Date.now;
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => {
    // 0700 whatever the umask: the images are no other local user's business.
    // A failure is not remembered: the next call tries again.
    ready ??= mkdirPrivate(dir).catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  const pending = new PendingWrites();
  const budget: MemoryBudget = { limit: options.inMemoryBudget ?? inMemoryBudget, collecting: 0 };
  // "wx": never over another file. Readers find it by id only after `written`.
  const write = (id: string, bytes: Buffer) =>
    writeFile(join(dir, id), bytes, { flag: "wx", mode: 0o600 });

  /** Streams a large image to a temporary file, then renames it into place. */
  async function spill(base: string, intake: Intake & { kind: "stream" }): Promise<StoredBlob> {
    const temporary = join(dir, `.${base}.part`);
    try {
      await pipeline(intake.body, createWriteStream(temporary, { mode: 0o600 }));
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    const id = blobIdOf(base, intake.head);
    await rename(temporary, join(dir, id));
    const contentType = sniffImage(intake.head)?.type;
    return { id, contentType, size: intake.size(), written: Promise.resolve() };
  }

  return {
    async put(source, options = {}) {
      await ensureDir();
      const base = newBlobBase();
      const intake = await takeIn(source, options, budget);
      if (intake.kind === "stream") return spill(base, intake);
      return keepInMemory(base, intake.bytes, { small, now, pending, write });
    },

    async open(id) {
      if (!isBlobId(id)) return undefined;
      await pending.settled(id);
      const row = await openSmall(small, id);
      if (row !== undefined) return row;
      const path = join(dir, id);
      try {
        const info = await stat(path);
        return {
          stream: createReadStream(path, { highWaterMark: base64FriendlyChunk }),
          contentType: contentTypeOf(id),
          size: info.size,
        };
      } catch {
        return undefined;
      }
    },

    async remove(id) {
      if (!isBlobId(id)) return;
      await pending.settled(id);
      await small?.remove(id);
      await rm(join(dir, id), { force: true });
    },

    async sweep(olderThan) {
      await ensureDir();
      let removed = (await small?.sweep(olderThan)) ?? 0;
      for (const name of await readdir(dir)) {
        const path = join(dir, name);
        try {
          const info = await stat(path);
          if (info.isFile() && info.mtimeMs < olderThan) {
            await unlink(path);
            removed++;
          }
        } catch {
          // Raced with another removal; nothing to do.
        }
      }
      return removed;
    },
  };
}

export type SignatureCheck = "valid" | "expired" | "invalid";

export interface UrlSigner {
  /** An absolute URL for blob `id`, valid until `expiresAt` (clock ms). */
  url(id: string, expiresAt: number): string;
  check(
    id: string,
    expires: string | undefined,
    signature: string | undefined,
    now: number,
  ): SignatureCheck;
}

/** Route prefix under which re-hosted images are served. */
export const filesPath = "/files/images";

// One URL, one spelling: Buffer.from(x, "base64url") would also take padding,
// the +/ alphabet, junk characters and non-zero unused bits, so a signature is
// checked to be canonical before it is decoded. HMAC-SHA256 is 32 bytes: 43
// characters of unpadded base64url.
const signaturePattern = /^[A-Za-z0-9_-]{43}$/;
// Whole seconds since the epoch, without leading zeros.
const expiresPattern = /^[1-9]\d{0,11}$/;

export function createUrlSigner(key: Buffer, publicUrl: string): UrlSigner {
  const base = publicUrl.replace(/\/+$/, "");
  const mac = (id: string, expires: string) =>
    createHmac("sha256", key).update(`${id}\n${expires}`).digest();

  return {
    url(id, expiresAt) {
      const expires = String(Math.floor(expiresAt / 1000));
      const signature = mac(id, expires).toString("base64url");
      return `${base}${filesPath}/${id}?expires=${expires}&signature=${signature}`;
    },
    check(id, expires, signature, now) {
      if (
        expires === undefined ||
        signature === undefined ||
        !expiresPattern.test(expires) ||
        !signaturePattern.test(signature)
      ) {
        return "invalid";
      }
      const given = Buffer.from(signature, "base64url");
      // The last character carries two unused bits: only zeros re-encode to it.
      // (This looks at the caller's input only, so it need not be constant-time.)
      if (given.toString("base64url") !== signature) return "invalid";
      const expected = mac(id, expires);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
      return Number(expires) * 1000 <= now ? "expired" : "valid";
    },
  };
}
