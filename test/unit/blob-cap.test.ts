// The result cap of the blob store: a source longer than maxBytes is refused
// with BlobTooLargeError and leaves nothing on disk, whether it was being
// collected in memory (up to inMemoryLimit) or spilled to a temporary file.
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobTooLargeError, createLocalBlobStore, inMemoryLimit } from "../../src/storage/blobs.js";

const MiB = 1024 * 1024;
/** A cap past the in-memory limit: sources this long are on the spill-to-disk path. */
const spillCap = inMemoryLimit + MiB;
const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (size: number) => Buffer.concat([pngHead, randomBytes(size - pngHead.length)]);

/** `bytes` as a stream of `chunk`-sized pieces. */
function chunked(bytes: Buffer, chunk: number): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) pieces.push(bytes.subarray(at, at + chunk));
  return Readable.from(pieces);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-blob-cap-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<BlobTooLargeError> {
  const err = await promise.then(
    () => new Error("the blob was stored"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BlobTooLargeError);
  return err as BlobTooLargeError;
}

describe("blob store maxBytes", () => {
  it("refuses a small source one byte over a cap under the in-memory limit and writes nothing", async () => {
    const blobs = createLocalBlobStore(dir);
    const source = chunked(png(1001), 100);
    const err = await refusal(blobs.put(source, { maxBytes: 1000 }));
    expect(err.maxBytes).toBe(1000);
    expect(err.message).toBe("the image is larger than 1000 bytes");
    expect(await readdir(dir)).toEqual([]);
    expect(source.destroyed).toBe(true);
  });

  it("refuses a single chunk over a small cap", async () => {
    const blobs = createLocalBlobStore(dir);
    const err = await refusal(blobs.put(Readable.from([png(5000)]), { maxBytes: 4096 }));
    expect(err.maxBytes).toBe(4096);
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a source 1 MiB over its cap on the spill-to-disk path and leaves no .part", async () => {
    const blobs = createLocalBlobStore(dir);
    const err = await refusal(
      blobs.put(chunked(png(spillCap + MiB), 64 * 1024), { maxBytes: spillCap }),
    );
    expect(err.maxBytes).toBe(spillCap);
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a spilled source that is one byte over the cap", async () => {
    const blobs = createLocalBlobStore(dir);
    const err = await refusal(
      blobs.put(chunked(png(spillCap + 1), 100_000), { maxBytes: spillCap }),
    );
    expect(err.maxBytes).toBe(spillCap);
    expect(await readdir(dir)).toEqual([]);
  });

  it("stores a small source of exactly maxBytes", async () => {
    const blobs = createLocalBlobStore(dir);
    const bytes = png(1000);
    const blob = await blobs.put(chunked(bytes, 300), { maxBytes: 1000 });
    await blob.written;
    expect(blob.size).toBe(1000);
    expect(blob.contentType).toBe("image/png");
    expect(await readdir(dir)).toEqual([blob.id]);
    expect((await readFile(join(dir, blob.id))).equals(bytes)).toBe(true);
  });

  it("stores a spilled source of exactly maxBytes, with no .part left", async () => {
    const blobs = createLocalBlobStore(dir);
    const bytes = png(spillCap);
    const blob = await blobs.put(chunked(bytes, 64 * 1024), { maxBytes: spillCap });
    await blob.written;
    expect(blob.size).toBe(spillCap);
    expect(blob.contentType).toBe("image/png");
    expect(blob.bytes).toBeUndefined();
    expect(await readdir(dir)).toEqual([blob.id]);
    expect((await readFile(join(dir, blob.id))).equals(bytes)).toBe(true);
  });

  it("spills to disk once the puts under way hold their store's in-memory budget, and frees it after", async () => {
    const blobs = createLocalBlobStore(dir, { inMemoryBudget: MiB });
    // Two 800 KB sources in 100 KB chunks, read in turns: together past 1 MiB.
    const [first, second] = await Promise.all([
      blobs.put(chunked(png(800_000), 100_000)),
      blobs.put(chunked(png(800_000), 100_000)),
    ]);
    const held = [first, second].filter((blob) => blob?.bytes !== undefined);
    expect(held).toHaveLength(1);
    await Promise.all([first?.written, second?.written]);
    // Nothing is still counted: the next one is held in memory again.
    const third = await blobs.put(chunked(png(800_000), 100_000));
    expect(third.bytes).toBeDefined();
  });

  it("sends a source whose declared length is past the in-memory limit to disk from its first byte", async () => {
    const blobs = createLocalBlobStore(dir);
    const small = png(100_000);
    const blob = await blobs.put(chunked(small, 10_000), { expectedBytes: inMemoryLimit + 1 });
    await blob.written;
    expect(blob.bytes).toBeUndefined();
    expect(await readdir(dir)).toEqual([blob.id]);
    // Undeclared, the same bytes are held.
    expect((await blobs.put(chunked(small, 10_000))).bytes).toBeDefined();
  });
});
