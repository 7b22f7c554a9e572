// Small images as rows (src/storage/small-blobs.ts) behind the local blob
// store: up to smallBlobLimit an image is a row of small_blobs and no file,
// larger it is a file and no row; open, remove and sweep cover both kinds.
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type BlobStore, createLocalBlobStore } from "../../src/storage/blobs.js";
import { type SmallBlobs, smallBlobLimit } from "../../src/storage/small-blobs.js";
import { type Db, openStore } from "../../src/stores/sqlite/database.js";
import { sqliteSmallBlobs } from "../../src/stores/sqlite/small-blobs.js";
import { createWriteQueue } from "../../src/stores/sqlite/write-queue.js";
import { red, solid } from "../helpers/images.js";

const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** `size` bytes that sniff as a PNG. */
const png = (size: number) => Buffer.concat([pngHead, randomBytes(size - pngHead.length)]);

let dir: string;
let images: string;
let db: Db;
/** Another connection: sees only committed rows. */
let other: Db;
let now: number;
let small: SmallBlobs;
let blobs: BlobStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-small-blobs-"));
  images = join(dir, "images");
  db = openStore(dir);
  other = openStore(dir);
  now = Date.now();
  small = sqliteSmallBlobs(db, createWriteQueue(db));
  blobs = createLocalBlobStore(images, { small, now: () => now });
});
afterEach(async () => {
  other.close();
  db.close();
  await rm(dir, { recursive: true, force: true });
});

const row = (id: string) =>
  other.prepare<[string], { bytes: Buffer }>("SELECT bytes FROM small_blobs WHERE id = ?").get(id)
    ?.bytes;
const files = async () => (await readdir(images)).filter((name) => !name.startsWith("."));

describe("small blobs in the blob store", () => {
  it("keeps a small image as a row, no file, committed when `written` settles", async () => {
    const bytes = await solid(8, 8, red);
    const stored = await blobs.put(Readable.from([bytes]));
    await stored.written;
    expect(row(stored.id)).toEqual(bytes);
    expect(await files()).toEqual([]);
  });

  it("keeps an image of up to smallBlobLimit as a row and a larger one as a file", async () => {
    const atLimit = await blobs.put(Readable.from([png(smallBlobLimit)]));
    const over = await blobs.put(Readable.from([png(smallBlobLimit + 1)]));
    await Promise.all([atLimit.written, over.written]);
    expect(row(atLimit.id)).toHaveLength(smallBlobLimit);
    expect(row(over.id)).toBeUndefined();
    expect(await files()).toEqual([over.id]);
  });

  it("opens either kind with the same bytes, size and content type", async () => {
    for (const bytes of [await solid(8, 8, red), png(200 * 1024)]) {
      const stored = await blobs.put(Readable.from([bytes]));
      // Not awaiting `written`: open() waits for the write itself.
      const opened = await blobs.open(stored.id);
      expect(opened?.contentType).toBe("image/png");
      expect(opened?.size).toBe(bytes.length);
      expect(await buffer(opened?.stream as Readable)).toEqual(bytes);
    }
  });

  it("removes either kind", async () => {
    const little = await blobs.put(Readable.from([await solid(8, 8, red)]));
    const large = await blobs.put(Readable.from([png(200 * 1024)]));
    await Promise.all([little.written, large.written]);
    await blobs.remove(little.id);
    await blobs.remove(large.id);
    expect(await blobs.open(little.id)).toBeUndefined();
    expect(await blobs.open(large.id)).toBeUndefined();
    expect(row(little.id)).toBeUndefined();
    expect(await files()).toEqual([]);
  });

  it("sweeps old rows and old files, and counts both", async () => {
    const hour = 3_600_000;
    const start = now;
    now = start - 2 * hour; // the rows' age comes from the store's clock
    const oldSmall = await blobs.put(Readable.from([png(1000)]));
    now = start;
    const newSmall = await blobs.put(Readable.from([png(1000)]));
    const oldLarge = await blobs.put(Readable.from([png(200 * 1024)]));
    const newLarge = await blobs.put(Readable.from([png(200 * 1024)]));
    await Promise.all([oldSmall, newSmall, oldLarge, newLarge].map((stored) => stored.written));
    // A file's age is its mtime.
    const old = new Date(start - 2 * hour);
    await utimes(join(images, oldLarge.id), old, old);

    expect(await blobs.sweep(start - hour)).toBe(2);
    expect(row(oldSmall.id)).toBeUndefined();
    expect(row(newSmall.id)).toBeDefined();
    expect(await files()).toEqual([newLarge.id]);
  });
});

describe("sqliteSmallBlobs", () => {
  it("reads a put of the same turn (get commits the queue first)", async () => {
    const written = small.put("a.png", png(100), now);
    expect(row("a.png")).toBeUndefined(); // deferred to the end of the turn
    expect(await small.get("a.png")).toHaveLength(100);
    expect(row("a.png")).toHaveLength(100);
    await written;
  });

  it("removes and sweeps rows at once, counting what the sweep deleted", async () => {
    await Promise.all([
      small.put("a.png", png(10), 1),
      small.put("b.png", png(10), 2),
      small.put("c.png", png(10), 3),
    ]);
    await small.remove("a.png");
    expect(row("a.png")).toBeUndefined();
    expect(await small.sweep(3)).toBe(1);
    expect(row("b.png")).toBeUndefined();
    expect(row("c.png")).toBeDefined();
  });
});
