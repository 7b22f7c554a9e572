// Re-hosted images: a BlobStore interface with a local-disk implementation, and
// HMAC-signed, expiring URLs that need no API key (like OpenAI's result URLs).
//
// Images are streamed to disk as they download (never held whole in memory)
// and their type is taken from their first bytes, not from what the upstream
// claims.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
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

// 3 × 64 KiB: every chunk but the last encodes to base64 without padding.
const base64FriendlyChunk = 3 * 64 * 1024;

/** Captures the first bytes that pass through, for type sniffing. */
class HeadCapture extends Transform {
  head = Buffer.alloc(0);
  size = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.head.length < 16) this.head = Buffer.concat([this.head, chunk.subarray(0, 16)]);
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      done(new BlobTooLargeError(this.maxBytes));
      return;
    }
    done(null, chunk);
  }
}

// Images up to this size are collected in memory and written with one call,
// and delivery encodes the bytes it already has: no disk round trip for an
// answer waiting on them (a typical 1–3 MB result; spilling at 1 MiB cost a
// 1.5 MB b64_json answer ~40 ms at P99). Larger ones stream to disk and are
// never held whole: 50 concurrent 20 MB results stay within 400 MB.
export const inMemoryLimit = 4 * 1024 * 1024;
/** The most that all puts of one store collect in memory at once; past it they spill. */
export const inMemoryBudget = 64 * 1024 * 1024;

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
  const pending = new Map<string, Promise<void>>();
  /** Bytes being collected in memory by the puts under way. */
  let collecting = 0;
  const budget = options.inMemoryBudget ?? inMemoryBudget;

  /** Streams a large image to a temporary file, then renames it into place. */
  async function spill(
    base: string,
    head: Buffer[],
    rest: AsyncIterator<Buffer>,
    maxBytes: number,
  ): Promise<StoredBlob> {
    const temporary = join(dir, `.${base}.part`);
    const capture = new HeadCapture(maxBytes);
    async function* all(): AsyncGenerator<Buffer> {
      yield* head;
      for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
    }
    try {
      await pipeline(Readable.from(all()), capture, createWriteStream(temporary, { mode: 0o600 }));
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    const sniffed = sniffImage(capture.head);
    const id = `${base}.${sniffed?.ext ?? "bin"}`;
    await rename(temporary, join(dir, id));
    return { id, contentType: sniffed?.type, size: capture.size, written: Promise.resolve() };
  }

  return {
    async put(source, options = {}) {
      const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
      await ensureDir();
      const base = randomId(16).toString("base64url");
      const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          chunks.push(next.value);
          size += next.value.length;
          collecting += next.value.length;
          if (size > maxBytes) {
            source.destroy();
            throw new BlobTooLargeError(maxBytes);
          }
          // Too large to hold, or too many held at once (50 concurrent 20 MB
          // downloads would each collect 4 MiB before spilling): to disk.
          const large = size > inMemoryLimit || (options.expectedBytes ?? 0) > inMemoryLimit;
          if (large || collecting > budget) {
            collecting -= size;
            size = 0;
            return spill(base, chunks, iterator, maxBytes);
          }
        }
      } finally {
        collecting -= size;
      }
      const bytes = Buffer.concat(chunks, size);
      const sniffed = sniffImage(bytes);
      const id = `${base}.${sniffed?.ext ?? "bin"}`;
      // "wx": never over another file. Readers find it by id only after `written`.
      const written =
        small !== undefined && size <= smallBlobLimit
          ? small.put(id, bytes, now())
          : writeFile(join(dir, id), bytes, { flag: "wx", mode: 0o600 });
      // open() and remove() of this id wait for the write, so the store stays
      // consistent for its readers. Handled here so a failure is no unhandled
      // rejection when nobody awaits it (b64_json); awaiting it still throws.
      pending.set(id, written);
      written.catch(() => {}).finally(() => pending.delete(id));
      return { id, contentType: sniffed?.type, size, bytes, written };
    },

    async open(id) {
      if (!isBlobId(id)) return undefined;
      await pending.get(id)?.catch(() => {});
      const row = await small?.get(id);
      if (row !== undefined) {
        return {
          stream: Readable.from([row]),
          contentType:
            typeByExt.get(id.slice(id.lastIndexOf(".") + 1)) ?? "application/octet-stream",
          size: row.length,
        };
      }
      const path = join(dir, id);
      try {
        const info = await stat(path);
        const ext = id.slice(id.lastIndexOf(".") + 1);
        return {
          stream: createReadStream(path, { highWaterMark: base64FriendlyChunk }),
          contentType: typeByExt.get(ext) ?? "application/octet-stream",
          size: info.size,
        };
      } catch {
        return undefined;
      }
    },

    async remove(id) {
      if (!isBlobId(id)) return;
      await pending.get(id)?.catch(() => {});
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
