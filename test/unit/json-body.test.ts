// The submit body encoder: plain bodies are JSON.stringify itself; uploaded
// files become data: URIs streamed from disk, with the exact length known
// before the first byte is sent.
import { randomBytes } from "node:crypto";
import { appendFile, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type EncodedBody,
  encodedJsonLength,
  encodeJsonBody,
  FileDataUri,
} from "../../src/providers/json-body.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-json-body-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `bytes` to a file in the temp dir and describes it as a FileDataUri. */
async function file(name: string, bytes: Buffer, type = "image/png"): Promise<FileDataUri> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return new FileDataUri(path, type, bytes.length);
}

const dataUri = (type: string, bytes: Buffer) => `data:${type};base64,${bytes.toString("base64")}`;

function streamed(value: unknown): EncodedBody {
  const encoded = encodeJsonBody(value);
  if (typeof encoded === "string") throw new Error("expected a streamed body");
  return encoded;
}

describe("encodeJsonBody without files", () => {
  it("is exactly JSON.stringify, and its length counts UTF-8 bytes", () => {
    const body = {
      model: "gpt-image-2",
      prompt: "a snowman ☃ in Zürich, 雪",
      n: 2,
      image_url: ["https://example.com/a.png"],
      nested: { flag: true, none: null },
    };
    const json = JSON.stringify(body);
    expect(encodeJsonBody(body)).toBe(json);
    expect(encodedJsonLength(body)).toBe(Buffer.byteLength(json));
    expect(encodedJsonLength(body)).toBeGreaterThan(json.length);
  });

  it("refuses a value that is not JSON at all", () => {
    expect(() => encodeJsonBody(undefined)).toThrow(TypeError);
  });
});

describe("encodeJsonBody with files", () => {
  it("streams every file as a data: URI, with the exact length, for every padding case", async () => {
    const contents = [0, 1, 2, 3, 4].map((size) => randomBytes(size));
    // Larger than several read chunks (3 × 64 KiB), and not a multiple of 3.
    const big = randomBytes(1024 * 1024 + 1);
    const files = await Promise.all(contents.map((bytes, i) => file(`f${i}.png`, bytes)));
    const bigFile = await file("big.jpg", big, "image/jpeg");
    const body = {
      model: "gpt-image-2",
      prompt: 'ünïcødé ☃ and a "quote" and a \\ backslash',
      image_url: files,
      mask: bigFile,
      nested: { again: files[1], list: [1, "two", files[3]] },
    };
    const expected = {
      model: "gpt-image-2",
      prompt: body.prompt,
      image_url: contents.map((bytes) => dataUri("image/png", bytes)),
      mask: dataUri("image/jpeg", big),
      nested: {
        again: dataUri("image/png", contents[1] as Buffer),
        list: [1, "two", dataUri("image/png", contents[3] as Buffer)],
      },
    };

    const encoded = streamed(body);
    const bytes = await collect(encoded.open());
    expect(bytes.length).toBe(encoded.length);
    expect(JSON.parse(bytes.toString("utf8"))).toEqual(expected);
    // Byte for byte what JSON.stringify would give with the files inlined.
    expect(bytes.toString("utf8")).toBe(JSON.stringify(expected));
    expect(encodedJsonLength(body)).toBe(Buffer.byteLength(JSON.stringify(expected)));
    expect(encoded.localError).toBeUndefined();
  });

  it("encodes a file given as a single value, and as the whole body", async () => {
    const bytes = randomBytes(5);
    const single = await file("one.webp", bytes, "image/webp");

    const asField = streamed({ prompt: "p", image_url: single });
    const fieldBytes = await collect(asField.open());
    expect(fieldBytes.length).toBe(asField.length);
    expect(JSON.parse(fieldBytes.toString("utf8"))).toEqual({
      prompt: "p",
      image_url: dataUri("image/webp", bytes),
    });

    const asRoot = streamed(single);
    const rootBytes = await collect(asRoot.open());
    expect(rootBytes.toString("utf8")).toBe(JSON.stringify(dataUri("image/webp", bytes)));
    expect(rootBytes.length).toBe(asRoot.length);
  });

  it("gives the same bytes each time it is opened (a retried submit)", async () => {
    const big = randomBytes(700_001);
    const encoded = streamed({ prompt: "p", image_url: [await file("a.png", big)] });
    const first = await collect(encoded.open());
    const second = await collect(encoded.open());
    expect(second.equals(first)).toBe(true);
    expect(second.length).toBe(encoded.length);
    expect(JSON.parse(second.toString("utf8"))).toEqual({
      prompt: "p",
      image_url: [dataUri("image/png", big)],
    });
  });

  it("leaves a caller's string that looks like the internal token alone", async () => {
    const bytes = randomBytes(7);
    const lookalikes = [
      "\u0000",
      "\u00000\u0000",
      "\u00000123e4567-e89b-42d3-a456-426614174000:0\u0000",
      '"\\u00000123e4567-e89b-42d3-a456-426614174000:0\\u0000"',
      "\\u0000:0\\u0000",
    ];
    // The lookalikes come before the file, where a search for the token looks first.
    const body = {
      prompt: lookalikes[2],
      aside: lookalikes,
      "\u0000key:0\u0000": lookalikes[3],
      image_url: [await file("a.png", bytes)],
      after: lookalikes[2],
    };
    const encoded = streamed(body);
    const out = await collect(encoded.open());
    const expected = { ...body, image_url: [dataUri("image/png", bytes)] };
    expect(out.toString("utf8")).toBe(JSON.stringify(expected));
    expect(JSON.parse(out.toString("utf8"))).toEqual(expected);
    expect(out.length).toBe(encoded.length);
  });
});

describe("encodeJsonBody when a file fails", () => {
  it("errors the stream and sets localError when a file is missing", async () => {
    const missing = new FileDataUri(join(dir, "gone.png"), "image/png", 10);
    const encoded = streamed({ prompt: "p", image_url: [missing] });
    // Known in advance: nothing is read until the body is sent.
    expect(encoded.length).toBe('{"prompt":"p","image_url":[""]}'.length + 22 + 16);
    expect(encoded.localError).toBeUndefined();
    const failure = await collect(encoded.open()).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((failure as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(encoded.localError).toBe(failure);
  });

  it("errors the stream and sets localError when a file shrank", async () => {
    const bytes = randomBytes(10);
    const shrinking = await file("a.png", bytes);
    const encoded = streamed({ prompt: "p", image_url: [shrinking] });
    await truncate(shrinking.path, 4);
    await expect(collect(encoded.open())).rejects.toThrow(
      "an uploaded file changed size before it was sent",
    );
    expect(encoded.localError?.message).toBe("an uploaded file changed size before it was sent");
  });

  it("errors the stream and sets localError when a file grew", async () => {
    const bytes = randomBytes(10);
    const growing = await file("a.png", bytes);
    const encoded = streamed({ prompt: "p", image_url: [growing] });
    await appendFile(growing.path, randomBytes(3));
    await expect(collect(encoded.open())).rejects.toThrow(
      "an uploaded file changed size before it was sent",
    );
    expect(encoded.localError?.message).toBe("an uploaded file changed size before it was sent");
  });
});
