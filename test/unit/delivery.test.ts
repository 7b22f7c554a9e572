// Blob store, signed URLs and the streamed b64_json envelope.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import sharp from "sharp";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageRequest } from "../../src/catalog/request.js";
import { translateRequest } from "../../src/catalog/translate.js";
import { systemClock } from "../../src/clock.js";
import { createDeliverer, type Delivery } from "../../src/generation/deliver.js";
import {
  type BlobStore,
  createLocalBlobStore,
  createUrlSigner,
  sniffImage,
} from "../../src/storage/blobs.js";

const pngHead = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (size: number) => Buffer.concat([pngHead, randomBytes(Math.max(0, size - 8))]);

let dir: string;
let blobs: BlobStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-blobs-"));
  blobs = createLocalBlobStore(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("blob store", () => {
  it("stores a stream, sniffs its type from the bytes, and reads it back", async () => {
    const bytes = png(1000);
    const blob = await blobs.put(Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]));
    expect(blob.contentType).toBe("image/png");
    expect(blob.size).toBe(1000);
    expect(blob.id).toMatch(/^[A-Za-z0-9_-]{22}\.png$/);
    const opened = await blobs.open(blob.id);
    const chunks: Buffer[] = [];
    for await (const chunk of opened?.stream ?? []) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(opened?.contentType).toBe("image/png");
  });

  it("marks bytes that are no image, and refuses ids that could escape the directory", async () => {
    const blob = await blobs.put(Readable.from([Buffer.from("<html>oops</html>")]));
    expect(blob.contentType).toBeUndefined();
    expect(await blobs.open("../../etc/passwd")).toBeUndefined();
    expect(await blobs.open("nope.png")).toBeUndefined();
  });

  it("sniffs JPEG, WebP and GIF", () => {
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))?.type).toBe("image/jpeg");
    expect(sniffImage(Buffer.from("RIFF\0\0\0\0WEBPVP8 ", "latin1"))?.type).toBe("image/webp");
    expect(sniffImage(Buffer.from("GIF89a", "latin1"))?.type).toBe("image/gif");
    expect(sniffImage(Buffer.from("hello"))).toBeUndefined();
  });

  it("sweeps files older than the cut-off only", async () => {
    const old = await blobs.put(Readable.from([png(10)]));
    const fresh = await blobs.put(Readable.from([png(10)]));
    // Both on disk before the sweep lists the folder (a write under way is
    // a temporary file the sweep may race with).
    await Promise.all([old.written, fresh.written]);
    const past = new Date(Date.now() - 3_600_000);
    await utimes(join(dir, old.id), past, past);
    expect(await blobs.sweep(Date.now() - 60_000)).toBe(1);
    expect(await blobs.open(old.id)).toBeUndefined();
    expect(await blobs.open(fresh.id)).toBeDefined();
  });
});

describe("signed URLs", () => {
  const signer = createUrlSigner(Buffer.alloc(32, 9), "https://img.example.com/");
  const id = "AAAAAAAAAAAAAAAAAAAAAA.png";

  it("verifies its own URLs until they expire", () => {
    const url = new URL(signer.url(id, 2_000_000_000_000));
    expect(url.origin + url.pathname).toBe(`https://img.example.com/files/images/${id}`);
    const expires = url.searchParams.get("expires") ?? undefined;
    const signature = url.searchParams.get("signature") ?? undefined;
    expect(signer.check(id, expires, signature, 1_000_000_000_000)).toBe("valid");
    expect(signer.check(id, expires, signature, 2_000_000_000_000)).toBe("expired");
  });

  it("refuses other ids, other expiries, other keys and missing parts", () => {
    const url = new URL(signer.url(id, 2_000_000_000_000));
    const expires = url.searchParams.get("expires") ?? undefined;
    const signature = url.searchParams.get("signature") ?? undefined;
    const now = 1_000_000_000_000;
    expect(signer.check("BAAAAAAAAAAAAAAAAAAAAA.png", expires, signature, now)).toBe("invalid");
    expect(signer.check(id, String(Number(expires) + 1), signature, now)).toBe("invalid");
    expect(signer.check(id, expires, undefined, now)).toBe("invalid");
    expect(signer.check(id, "12abc", signature, now)).toBe("invalid");
    const other = createUrlSigner(Buffer.alloc(32, 8), "https://img.example.com");
    expect(other.check(id, expires, signature, now)).toBe("invalid");
  });
});

describe("b64_json delivery", () => {
  const signer = createUrlSigner(Buffer.alloc(32, 1), "http://localhost:8080");

  it.each([[1], [2], [3], [4], [196_608], [196_609], [600_001], [1_100_000]])(
    "streams valid JSON with exact base64 and Content-Length for a %i-byte image",
    async (size) => {
      const d = createDeliverer({ blobs, signer, clock: systemClock, urlTtlMs: 60_000 });
      const first = png(Math.max(size, 8)).subarray(0, Math.max(size, 8));
      const second = png(size + 5);
      const images = [
        await blobs.put(Readable.from([first])),
        await blobs.put(Readable.from([second])),
      ];
      const translation = translateRequest({
        model: "gpt-image-2",
        prompt: "p",
        size: "1024x1024",
      });
      const delivery = await d.deliver(
        {
          created: 1_700_000_000,
          images,
          echo: translation.echo,
          upstreamTaskId: "t",
          recordId: "r",
        },
        "b64_json",
      );
      expect(delivery.kind).toBe("stream");
      if (delivery.kind !== "stream") return;
      const body = await text(delivery.stream);
      expect(Buffer.byteLength(body)).toBe(delivery.contentLength);
      const parsed = JSON.parse(body) as {
        created: number;
        data: Array<{ b64_json: string }>;
        size: string;
        output_format: string;
      };
      expect(parsed.created).toBe(1_700_000_000);
      expect(Buffer.from(parsed.data[0]?.b64_json ?? "", "base64").equals(first)).toBe(true);
      expect(Buffer.from(parsed.data[1]?.b64_json ?? "", "base64").equals(second)).toBe(true);
      expect(parsed.size).toBe("1024x1024");
      expect(parsed.output_format).toBe("png");
    },
  );

  it("delivers urls that the signer accepts", async () => {
    const image = await blobs.put(Readable.from([png(100)]));
    const translation = translateRequest({ model: "dall-e-3", prompt: "p" });
    const deliverer = createDeliverer({ blobs, signer, clock: systemClock, urlTtlMs: 60_000 });
    const delivery = await deliverer.deliver(
      { created: 1, images: [image], echo: translation.echo, upstreamTaskId: "t", recordId: "r" },
      "url",
    );
    if (delivery.kind !== "json") throw new Error("expected json");
    // The file is on disk by the time its URL is handed out.
    expect((await blobs.open(image.id))?.size).toBe(image.size);
    const url = new URL((delivery.body.data[0] as { url: string }).url);
    expect(
      signer.check(
        image.id,
        url.searchParams.get("expires") ?? undefined,
        url.searchParams.get("signature") ?? undefined,
        Date.now(),
      ),
    ).toBe("valid");
  });
});

// Issue 11: the answer says what was delivered, from the first image's header.
describe("the answer's fields", () => {
  const signer = createUrlSigner(Buffer.alloc(32, 1), "http://localhost:8080");
  const deliverer = () => createDeliverer({ blobs, signer, clock: systemClock, urlTtlMs: 60_000 });
  const solid = (width: number, height: number, format: "png" | "jpeg" | "webp", alpha = false) =>
    sharp({
      create: {
        width,
        height,
        channels: alpha ? 4 : 3,
        background: { r: 200, g: 30, b: 30, alpha: alpha ? 0.5 : 1 },
      },
    })
      .toFormat(format, format === "png" ? { compressionLevel: 0 } : {})
      .toBuffer();
  const generated = async (bytes: Buffer[], request: Partial<ImageRequest>) => ({
    created: 1_700_000_000,
    images: await Promise.all(bytes.map((image) => blobs.put(Readable.from([image])))),
    echo: translateRequest({ prompt: "a fox in the snow, 雪", ...request }).echo,
    upstreamTaskId: "t",
    recordId: "r",
  });
  const json = async (delivery: Delivery) => {
    if (delivery.kind === "json") return delivery.body as unknown as Record<string, unknown>;
    const body = await text(delivery.stream);
    expect(Buffer.byteLength(body)).toBe(delivery.contentLength);
    return JSON.parse(body) as Record<string, unknown>;
  };

  it.each(["b64_json", "url"] as const)(
    "%s: the delivered size and format, not the size asked",
    async (format) => {
      const result = await generated([await solid(1536, 864, "webp")], {
        model: "gpt-image-1",
        size: "1536x864",
        quality: "high",
      });
      const body = await json(await deliverer().deliver(result, format));
      expect(body).toMatchObject({
        background: "opaque",
        output_format: "webp",
        size: "1536x864",
        quality: "high",
      });
    },
  );

  it("reads the header of a large result (stored, not kept in memory) from the store", async () => {
    const big = await solid(1920, 1088, "png");
    expect(big.length).toBeGreaterThan(2 * 1024 * 1024);
    const result = await generated([big], { model: "gpt-image-2", size: "1920x1088" });
    expect(result.images[0]?.bytes).toBeUndefined();
    const body = await json(await deliverer().deliver(result, "b64_json"));
    expect(body).toMatchObject({ size: "1920x1088", output_format: "png" });
    const [first] = body.data as { b64_json: string }[];
    expect(Buffer.from(first?.b64_json ?? "", "base64").equals(big)).toBe(true);
  });

  it.each(["b64_json", "url"] as const)(
    "%s: dall-e-3 answers carry revised_prompt (exact Content-Length with non-ASCII)",
    async (format) => {
      const result = await generated([await solid(16, 16, "png"), await solid(16, 16, "png")], {
        model: "dall-e-3",
      });
      const body = await json(await deliverer().deliver(result, format));
      const data = body.data as Array<Record<string, string>>;
      expect(data).toHaveLength(2);
      for (const image of data) expect(image.revised_prompt).toBe("a fox in the snow, 雪");
      expect(body).not.toHaveProperty("quality");
      expect(body.size).toBe("16x16");
    },
  );

  it("stream events carry size, quality, background and output_format, never usage", async () => {
    const result = await generated([await solid(24, 16, "png", true)], {
      model: "gpt-image-1",
      size: "1536x1024",
    });
    const chunks: Buffer[] = [];
    for await (const chunk of deliverer().events(result, "image_edit")) chunks.push(chunk);
    const [event] = Buffer.concat(chunks).toString().split("\n\n");
    const data = JSON.parse(event?.split("\ndata: ")[1] ?? "{}") as Record<string, unknown>;
    expect(event?.startsWith("event: image_edit.completed\n")).toBe(true);
    expect(data).toMatchObject({
      type: "image_edit.completed",
      created_at: 1_700_000_000,
      size: "24x16",
      quality: "auto",
      background: "transparent",
      output_format: "png",
    });
    expect(data).not.toHaveProperty("usage");
  });
});
