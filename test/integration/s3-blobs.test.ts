// The BlobStore contract, run against both stores: the data dir
// (createLocalBlobStore) and an S3 bucket (createS3BlobStore on s3rver, an
// S3-compatible server started in process). Whatever a caller can observe
// (ids, sniffed types, sizes, in-memory bytes, `written`, refusals that leave
// nothing, base64-friendly chunks, removal, the sweep) must be the same; then
// what only the S3 store has: presigned URLs and its readiness probe.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BlobStore,
  BlobTooLargeError,
  base64Chunks,
  createLocalBlobStore,
  inMemoryLimit,
  isBlobId,
} from "../../src/storage/blobs.js";
import { createS3BlobStore, maxPresignSeconds } from "../../src/storage/s3-blobs.js";
import { type SmallBlobs, smallBlobLimit } from "../../src/storage/small-blobs.js";
import { red, solid } from "../helpers/images.js";
import { S3rver, type S3rverInstance } from "../helpers/s3.js";

const MiB = 1024 * 1024;
const bucket = "imagegate-test";
const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const jpegHead = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
const webpHead = Buffer.from("RIFF\0\0\0\0WEBPVP8 ", "latin1");
const gifHead = Buffer.from("GIF89a", "latin1");
/** `size` bytes that sniff as the type of `head`. */
const image = (size: number, head: Buffer = pngHead) =>
  Buffer.concat([head, randomBytes(size - head.length)]);
/** Not a multiple of 3, and past one 5 MiB part: a two-part upload. */
const sixMB = 6 * MiB + 1;

/** `bytes` as a stream of `chunk`-sized pieces. */
function chunked(bytes: Buffer, chunk = 64 * 1024): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) pieces.push(bytes.subarray(at, at + chunk));
  return Readable.from(pieces);
}

/** Small rows in memory, with their ages. */
function memorySmallBlobs(): SmallBlobs & { rows: Map<string, { bytes: Buffer; at: number }> } {
  const rows = new Map<string, { bytes: Buffer; at: number }>();
  return {
    rows,
    async put(id, bytes, createdAt) {
      rows.set(id, { bytes, at: createdAt });
    },
    async get(id) {
      return rows.get(id)?.bytes;
    },
    async remove(id) {
      rows.delete(id);
    },
    async sweep(olderThan) {
      let removed = 0;
      for (const [id, row] of rows) {
        if (row.at < olderThan) {
          rows.delete(id);
          removed++;
        }
      }
      return removed;
    },
  };
}

let root: string;
let server: S3rverInstance;
let endpoint: string;
const clients: S3Client[] = [];

/** A client of the test server; by default as the gateway makes one for S3-compatible stores. */
function s3Client(overrides: Partial<S3ClientConfig> = {}): S3Client {
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...overrides,
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "imagegate-s3-blobs-"));
  await mkdir(join(root, "s3rver"));
  server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory: join(root, "s3rver"),
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/** Every key under `prefix`, the prefix taken off. */
async function keysUnder(client: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) keys.push((object.Key ?? "").slice(prefix.length));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

interface Backed {
  blobs: BlobStore;
  /** What the storage behind the store holds (file names, keys), temporaries included. */
  held(): Promise<string[]>;
}

interface Harness {
  name: string;
  /** A new, empty store. */
  create(options?: { small?: SmallBlobs; now?: () => number }): Backed;
}

let made = 0;
const harnesses: Harness[] = [
  {
    name: "local",
    create(options = {}) {
      const dir = join(root, `local-${++made}`);
      return {
        blobs: createLocalBlobStore(dir, options),
        held: async () => (await readdir(dir).catch(() => [] as string[])).sort(),
      };
    },
  },
  {
    name: "S3",
    create(options = {}) {
      // A prefix of its own: one bucket, stores that do not see each other.
      const keyPrefix = `store-${++made}/images/`;
      const client = s3Client();
      return {
        blobs: createS3BlobStore({ client, bucket, keyPrefix, now: Date.now, ...options }),
        held: () => keysUnder(client, keyPrefix),
      };
    },
  },
];

/** The blob's bytes, and the sizes of the chunks they came in. */
async function read(blobs: BlobStore, id: string) {
  const opened = await blobs.open(id);
  if (opened === undefined) throw new Error(`${id} did not open`);
  const chunks: Buffer[] = [];
  for await (const chunk of opened.stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return {
    bytes: Buffer.concat(chunks),
    sizes: chunks.map((chunk) => chunk.length),
    contentType: opened.contentType,
    size: opened.size,
  };
}

async function refusal(promise: Promise<unknown>): Promise<BlobTooLargeError> {
  const err = await promise.then(
    () => new Error("the blob was stored"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BlobTooLargeError);
  return err as BlobTooLargeError;
}

describe.each(harnesses)("the $name blob store", (harness) => {
  it("round-trips a tiny PNG as a file or object when it has no small rows", async () => {
    const { blobs, held } = harness.create();
    const bytes = await solid(8, 8, red);
    const stored = await blobs.put(Readable.from([bytes]));
    expect(isBlobId(stored.id)).toBe(true);
    expect(stored.id).toMatch(/\.png$/);
    expect(stored).toMatchObject({ contentType: "image/png", size: bytes.length });
    expect(stored.bytes?.equals(bytes)).toBe(true);
    await stored.written;
    expect(await held()).toEqual([stored.id]);
    const opened = await read(blobs, stored.id);
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened).toMatchObject({ contentType: "image/png", size: bytes.length });
  });

  it("keeps a tiny PNG as a small row, nothing in storage, and opens it before `written` settles", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small, now: () => 1234 });
    const bytes = await solid(8, 8, red);
    const stored = await blobs.put(Readable.from([bytes]));
    const opened = await read(blobs, stored.id);
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened).toMatchObject({ contentType: "image/png", size: bytes.length });
    await stored.written;
    expect(small.rows.get(stored.id)).toEqual({ bytes, at: 1234 });
    expect(await held()).toEqual([]);
  });

  it("keeps an image of exactly smallBlobLimit as a row and one byte more in storage", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small });
    const atLimit = await blobs.put(chunked(image(smallBlobLimit)));
    const over = await blobs.put(chunked(image(smallBlobLimit + 1)));
    await Promise.all([atLimit.written, over.written]);
    expect([...small.rows.keys()]).toEqual([atLimit.id]);
    expect(await held()).toEqual([over.id]);
  });

  it("holds a ~200 KB image in memory and stores it whole", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small });
    const bytes = image(200 * 1024 + 1);
    const stored = await blobs.put(chunked(bytes, 10_000));
    expect(stored.bytes?.equals(bytes)).toBe(true);
    expect(stored.size).toBe(bytes.length);
    // Not awaiting `written`: open() waits for the write itself.
    expect((await read(blobs, stored.id)).bytes.equals(bytes)).toBe(true);
    await stored.written;
    expect(await held()).toEqual([stored.id]);
    expect(small.rows.size).toBe(0);
  });

  it("streams a ~200 KB image declared large from its first byte, not as a row", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small });
    const bytes = image(200 * 1024 + 2);
    const stored = await blobs.put(chunked(bytes, 10_000), { expectedBytes: inMemoryLimit + 1 });
    expect(stored.bytes).toBeUndefined();
    expect(stored).toMatchObject({ contentType: "image/png", size: bytes.length });
    // Streamed: in storage once put() has answered.
    expect(await held()).toEqual([stored.id]);
    expect(small.rows.size).toBe(0);
    const opened = await read(blobs, stored.id);
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened.size).toBe(bytes.length);
  });

  it("streams a ~6 MB image and reads it back in chunks that are multiples of 3 bytes", async () => {
    const { blobs, held } = harness.create();
    const bytes = image(sixMB, jpegHead);
    const stored = await blobs.put(chunked(bytes, 50_000));
    expect(stored.bytes).toBeUndefined();
    expect(stored.id).toMatch(/\.jpg$/);
    expect(stored).toMatchObject({ contentType: "image/jpeg", size: sixMB });
    await stored.written;
    expect(await held()).toEqual([stored.id]);
    const opened = await read(blobs, stored.id);
    expect(opened).toMatchObject({ contentType: "image/jpeg", size: sixMB });
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened.sizes.length).toBeGreaterThan(1);
    expect(opened.sizes.slice(0, -1).filter((size) => size % 3 !== 0)).toEqual([]);
  });

  it("sniffs the type from the first bytes, in memory and streamed", async () => {
    const { blobs } = harness.create();
    const cases: Array<[Buffer, string, string | undefined]> = [
      [pngHead, "png", "image/png"],
      [jpegHead, "jpg", "image/jpeg"],
      [webpHead, "webp", "image/webp"],
      [gifHead, "gif", "image/gif"],
      [Buffer.from("not an image"), "bin", undefined],
    ];
    for (const [head, ext, type] of cases) {
      for (const expectedBytes of [undefined, inMemoryLimit + 1]) {
        // A first chunk shorter than any signature: the type is read across chunks.
        const stored = await blobs.put(chunked(image(4000, head), 3), { expectedBytes });
        await stored.written;
        expect(stored.id.endsWith(`.${ext}`)).toBe(true);
        expect(stored.contentType).toBe(type);
        const opened = await blobs.open(stored.id);
        opened?.stream.destroy();
        expect(opened?.contentType).toBe(type ?? "application/octet-stream");
      }
    }
  });

  it("refuses a source over maxBytes with BlobTooLargeError and keeps nothing, on every path", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small });
    const inMemory = chunked(image(1001), 100);
    expect((await refusal(blobs.put(inMemory, { maxBytes: 1000 }))).maxBytes).toBe(1000);
    expect(inMemory.destroyed).toBe(true);
    // Streamed, refused before a first 5 MiB part is complete.
    const early = chunked(image(inMemoryLimit + MiB));
    await refusal(blobs.put(early, { maxBytes: inMemoryLimit + MiB / 2 }));
    expect(early.destroyed).toBe(true);
    // Streamed, refused after a first part went (S3: a multipart upload to abort).
    const late = chunked(image(7 * MiB));
    await refusal(blobs.put(late, { maxBytes: 6 * MiB }));
    expect(late.destroyed).toBe(true);
    expect(await held()).toEqual([]);
    expect(small.rows.size).toBe(0);
    // Exactly maxBytes is no refusal.
    const exact = await blobs.put(chunked(image(sixMB)), { maxBytes: sixMB });
    expect(exact.size).toBe(sixMB);
    expect(await held()).toEqual([exact.id]);
  });

  it("passes on the source's own failure and keeps nothing", async () => {
    const { blobs, held } = harness.create();
    async function* failing(): AsyncGenerator<Buffer> {
      yield image(inMemoryLimit + MiB);
      yield randomBytes(MiB);
      throw new Error("upstream went away");
    }
    await expect(blobs.put(Readable.from(failing()))).rejects.toThrow("upstream went away");
    expect(await held()).toEqual([]);
  });

  it("removes either kind, and takes an unknown or foreign id calmly", async () => {
    const small = memorySmallBlobs();
    const { blobs, held } = harness.create({ small });
    const row = await blobs.put(Readable.from([await solid(8, 8, red)]));
    const kept = await blobs.put(chunked(image(200 * 1024)));
    const streamed = await blobs.put(chunked(image(sixMB)));
    await Promise.all([row, kept, streamed].map((stored) => stored.written));
    expect(await held()).toEqual([kept.id, streamed.id].sort());
    for (const stored of [row, kept, streamed]) await blobs.remove(stored.id);
    for (const stored of [row, kept, streamed]) expect(await blobs.open(stored.id)).toBeUndefined();
    expect(small.rows.size).toBe(0);
    expect(await held()).toEqual([]);
    await blobs.remove("AAAAAAAAAAAAAAAAAAAAAA.png");
    await blobs.remove("../outside.png");
  });

  it("sweeps by age: nothing written since a past time, everything before a future one", async () => {
    const small = memorySmallBlobs();
    let now = Date.now();
    const start = now;
    const { blobs, held } = harness.create({ small, now: () => now });
    const hour = 3_600_000;
    now = start - 2 * hour; // a row's age comes from the store's clock
    const oldRow = await blobs.put(Readable.from([image(1000)]));
    now = start;
    const newRow = await blobs.put(Readable.from([image(1000)]));
    const kept = await blobs.put(chunked(image(200 * 1024)));
    const streamed = await blobs.put(chunked(image(sixMB)));
    await Promise.all([oldRow, newRow, kept, streamed].map((stored) => stored.written));

    // An hour ago: only the row dated two hours back.
    expect(await blobs.sweep(start - hour)).toBe(1);
    expect([...small.rows.keys()]).toEqual([newRow.id]);
    expect(await held()).toEqual([kept.id, streamed.id].sort());
    // A minute ahead: all the rest, rows and files or objects alike.
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(3);
    expect(small.rows.size).toBe(0);
    expect(await held()).toEqual([]);
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(0);
  });

  it("opens nothing for an unknown id or one that is no blob id", async () => {
    const { blobs } = harness.create({ small: memorySmallBlobs() });
    const stored = await blobs.put(chunked(image(200 * 1024)));
    await stored.written;
    expect(await blobs.open("AAAAAAAAAAAAAAAAAAAAAA.png")).toBeUndefined();
    expect(await blobs.open(stored.id.replace(/\.png$/, ".jpg"))).toBeUndefined();
    for (const id of ["../secret.png", "", "x", `${stored.id}/`, stored.id.slice(1)]) {
      expect(await blobs.open(id)).toBeUndefined();
    }
  });
});

describe("the S3 blob store beyond the contract", () => {
  let prefixes = 0;
  const s3Store = (options: { small?: SmallBlobs; now?: () => number; presign?: boolean } = {}) => {
    const client = s3Client();
    const keyPrefix = `extra-${++prefixes}/`;
    return createS3BlobStore({ client, bucket, keyPrefix, now: Date.now, ...options });
  };

  it("presigns a URL that downloads the exact bytes without credentials", async () => {
    const blobs = s3Store({ presign: true });
    for (const bytes of [image(200 * 1024), image(sixMB, webpHead)]) {
      const stored = await blobs.put(chunked(bytes));
      // Not awaiting `written`: presign waits for the write itself.
      const url = await blobs.presign(stored.id, Date.now() + 60_000);
      expect(url).toBeDefined();
      const answer = await fetch(url as string);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe(stored.contentType);
      expect(Buffer.from(await answer.arrayBuffer()).equals(bytes)).toBe(true);
    }
  });

  it("signs for the time left on the store's clock, at most 7 days, at least 1 s", async () => {
    const now = Date.now() - 10 * 60_000;
    const blobs = s3Store({ presign: true, now: () => now });
    const stored = await blobs.put(chunked(image(200 * 1024)));
    const expires = async (expiresAt: number) =>
      new URL((await blobs.presign(stored.id, expiresAt)) as string).searchParams.get(
        "X-Amz-Expires",
      );
    expect(await expires(now + 120_500)).toBe("120");
    expect(await expires(now + 30 * 24 * 3_600_000)).toBe(String(maxPresignSeconds));
    expect(await expires(now - 1000)).toBe("1");
  });

  it("presigns nothing for a small row, a foreign id, or with presigned URLs off", async () => {
    const small = memorySmallBlobs();
    const blobs = s3Store({ presign: true, small });
    const row = await blobs.put(Readable.from([await solid(8, 8, red)]));
    expect(await blobs.presign(row.id, Date.now() + 60_000)).toBeUndefined();
    expect(await blobs.presign("../x.png", Date.now() + 60_000)).toBeUndefined();
    const off = s3Store();
    const object = await off.put(chunked(image(200 * 1024)));
    await object.written;
    expect(await off.presign(object.id, Date.now() + 60_000)).toBeUndefined();
  });

  it("answers when its bucket does, and not for a missing bucket or an unreachable server", async () => {
    expect(await s3Store().answers()).toBe(true);
    const missing = createS3BlobStore({
      client: s3Client(),
      bucket: "no-such-bucket",
      now: Date.now,
    });
    expect(await missing.answers()).toBe(false);
    const nowhere = createS3BlobStore({
      // Port 9 (discard): refused at once on this host.
      client: s3Client({ endpoint: "http://127.0.0.1:9", maxAttempts: 1 }),
      bucket,
      now: Date.now,
    });
    expect(await nowhere.answers()).toBe(false);
  });

  it("works with the SDK's default checksums too (AWS S3's settings)", async () => {
    const client = s3Client({
      requestChecksumCalculation: "WHEN_SUPPORTED",
      responseChecksumValidation: "WHEN_SUPPORTED",
    });
    const blobs = createS3BlobStore({
      client,
      bucket,
      keyPrefix: "defaults/",
      now: Date.now,
      presign: true,
    });
    const bytes = image(sixMB);
    const stored = await blobs.put(chunked(bytes));
    expect((await read(blobs, stored.id)).bytes.equals(bytes)).toBe(true);
    const answer = await fetch((await blobs.presign(stored.id, Date.now() + 60_000)) as string);
    expect(Buffer.from(await answer.arrayBuffer()).equals(bytes)).toBe(true);
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(1);
  });

  it("sweeps one object at a time where the server refuses batch deletes, and remembers it", async () => {
    const client = s3Client();
    let batches = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "DeleteObjectsCommand") {
          batches++;
          throw Object.assign(new Error("Missing required header for this request: Content-Md5."), {
            name: "MissingContentMD5",
            $metadata: { httpStatusCode: 400 },
          });
        }
        return next(args);
      },
      { step: "initialize", name: "refuseBatchDeletes" },
    );
    const blobs = createS3BlobStore({ client, bucket, keyPrefix: "no-batch/", now: Date.now });
    const stored = await Promise.all(
      Array.from({ length: 20 }, () => blobs.put(chunked(image(200 * 1024)))),
    );
    await Promise.all(stored.map((blob) => blob.written));
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(20);
    expect(await keysUnder(client, "no-batch/")).toEqual([]);
    await (await blobs.put(chunked(image(200 * 1024)))).written;
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(1);
    expect(batches).toBe(1);
  });

  it("leaves objects under its prefix that it did not write", async () => {
    const client = s3Client();
    const blobs = createS3BlobStore({ client, bucket, keyPrefix: "shared/", now: Date.now });
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: "shared/notes.txt", Body: "not an image" }),
    );
    const stored = await blobs.put(chunked(image(200 * 1024)));
    await stored.written;
    expect(await blobs.sweep(Date.now() + 60_000)).toBe(1);
    expect(await keysUnder(client, "shared/")).toEqual(["notes.txt"]);
  });
});

describe("base64Chunks", () => {
  it("re-cuts pieces of any size into chunks of multiples of 3 bytes, the last excepted", async () => {
    const bytes = randomBytes(1_000_001);
    const pieces: Buffer[] = [];
    for (let at = 0, size = 1; at < bytes.length; at += size, size = (size * 7 + 5) % 70_001) {
      pieces.push(bytes.subarray(at, at + size));
    }
    const chunks: Buffer[] = [];
    for await (const chunk of base64Chunks(Readable.from(pieces), 100_000)) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    const sizes = chunks.map((chunk) => chunk.length);
    expect(sizes.slice(0, -1).filter((size) => size % 3 !== 0 || size < 100_000)).toEqual([]);
    expect(sizes.at(-1)).toBeGreaterThan(0);
  });
});

// s3rver cannot answer a truncated ListObjectsV2 on Node ≥ 17 (its
// continuation tokens use DES, which OpenSSL 3 leaves out), so paging is shown
// against a client that answers as S3 does.
describe("the S3 store's sweep over many objects", () => {
  it("pages through the listing and deletes in batches of at most 1000", async () => {
    const old = new Date(Date.now() - 3_600_000);
    const ids = Array.from({ length: 2500 }, (_, i) => `${String(i).padStart(22, "A")}.png`);
    const listed: Array<string | undefined> = [];
    const batches: number[] = [];
    const client = {
      async send(command: unknown) {
        if (command instanceof ListObjectsV2Command) {
          const { ContinuationToken, Prefix } = command.input;
          listed.push(ContinuationToken);
          // A sweep that lost its place would list forever.
          if (listed.length > 10) throw new Error("listed the bucket more than 10 times");
          expect(Prefix).toBe("many/");
          // Pages longer than S3's 1000, as a server may answer: still
          // deleted 1000 at most at a time.
          const from = Number(ContinuationToken ?? 0);
          const page = ids.slice(from, from + 1200);
          const truncated = from + 1200 < ids.length;
          return {
            Contents: page.map((id, i) => ({
              Key: `many/${id}`,
              // Every tenth one is new.
              LastModified: (from + i) % 10 === 0 ? new Date() : old,
            })),
            IsTruncated: truncated,
            NextContinuationToken: truncated ? String(from + 1200) : undefined,
          };
        }
        if (command instanceof DeleteObjectsCommand) {
          const objects = command.input.Delete?.Objects ?? [];
          batches.push(objects.length);
          return { Errors: objects[0]?.Key === "many/AAAAAAAAAAAAAAAAAAAAA1.png" ? [{}] : [] };
        }
        throw new Error(`unexpected ${String(command)}`);
      },
    } as unknown as S3Client;
    const blobs = createS3BlobStore({ client, bucket, keyPrefix: "many/", now: Date.now });
    // 2250 old ones, of which one (the first of its batch) the server failed to delete.
    expect(await blobs.sweep(Date.now() - 60_000)).toBe(2249);
    expect(listed).toEqual([undefined, "1200", "2400"]);
    expect(batches).toEqual([1000, 80, 1000, 80, 90]);
  });
});
