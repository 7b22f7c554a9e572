// Image post-processing: inspect, conform (size, format, background,
// compression), the mask composite and its checks, and the pixel bound. The
// images are built here with sharp itself, small and solid, so every pixel
// read back has one right value.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyMask,
  conformImage,
  ImageProcessingError,
  inspectImage,
  maskBoundingBox,
} from "../../src/generation/imaging/index.js";

type Rgba = readonly [number, number, number, number];
const red: Rgba = [255, 0, 0, 255];
const green: Rgba = [0, 255, 0, 255];
const blue: Rgba = [0, 0, 255, 255];
const clear: Rgba = [255, 0, 0, 0];

/** An image from a colour function, encoded as asked. */
function paint(
  width: number,
  height: number,
  colour: (x: number, y: number) => Rgba,
  format: "png" | "jpeg" | "webp" | "gif" | "tiff" = "png",
  channels: 3 | 4 = 4,
): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = colour(x, y);
      raw.set(c.slice(0, channels), (y * width + x) * channels);
    }
  }
  const image = sharp(raw, { raw: { width, height, channels } });
  if (format === "webp") return image.webp({ lossless: true }).toBuffer();
  return image.toFormat(format).toBuffer();
}

const solid = (width: number, height: number, colour: Rgba, format?: "png" | "jpeg") =>
  paint(width, height, () => colour, format, format === "jpeg" ? 3 : 4);

/** Decoded pixels: channel values at (x, y), and the band count. */
async function pixels(bytes: Buffer) {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return {
    channels: info.channels,
    at: (x: number, y: number) => [
      ...data.subarray((y * info.width + x) * info.channels).subarray(0, info.channels),
    ],
  };
}

/** A 64x64 mask: transparent where `edit` says, opaque elsewhere. */
const maskOf = (edit: (x: number, y: number) => boolean, size = 64) =>
  paint(size, size, (x, y) => (edit(x, y) ? [0, 0, 0, 0] : [0, 0, 0, 255]));

/** A PNG that is only a header claiming width × height (plus an empty IDAT). */
function pngHeader(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The rejection of `work`, which must be an ImageProcessingError. */
async function failure(work: Promise<unknown>): Promise<ImageProcessingError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageProcessingError);
  return err as ImageProcessingError;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "imagegate-imaging-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("inspectImage", () => {
  it("reads format, size and alpha from buffers and files", async () => {
    expect(await inspectImage(await solid(64, 48, red))).toEqual({
      format: "png",
      width: 64,
      height: 48,
      hasAlpha: true,
    });
    expect(await inspectImage(await solid(32, 16, blue, "jpeg"))).toEqual({
      format: "jpeg",
      width: 32,
      height: 16,
      hasAlpha: false,
    });
    expect(await inspectImage(await paint(8, 4, () => green, "webp", 3))).toEqual({
      format: "webp",
      width: 8,
      height: 4,
      hasAlpha: false,
    });
    const path = join(dir, "inspect.gif");
    await writeFile(path, await paint(10, 20, () => red, "gif", 3));
    // libvips decodes every GIF with an alpha band.
    expect(await inspectImage(path)).toEqual({
      format: "gif",
      width: 10,
      height: 20,
      hasAlpha: true,
    });
  });

  it("refuses other formats before libvips reads them: a 502 for a result, a 400 for an upload", async () => {
    const tiff = await paint(8, 8, () => red, "tiff");
    const result = await failure(inspectImage(tiff));
    expect(result.fault).toBe("unsupported");
    expect(result.status).toBe(502);
    expect(result.message).toBe(
      "The upstream's result image is not a PNG, JPEG, WebP or GIF file.",
    );

    const upload = await failure(
      inspectImage(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"), "image"),
    );
    expect([upload.status, upload.param, upload.code, upload.fault]).toEqual([
      400,
      "image",
      "invalid_image",
      "unsupported",
    ]);
    expect(upload.message).toBe("The image is not a PNG, JPEG, WebP or GIF file.");
  });

  it("refuses an image over 100 megapixels from its header alone", async () => {
    const err = await failure(inspectImage(pngHeader(12_000, 12_000)));
    expect(err.fault).toBe("too_large");
    expect(err.message).toBe(
      "The upstream's result image is 12000x12000 pixels; at most 100 megapixels can be processed.",
    );
    const conform = await failure(
      conformImage(pngHeader(12_000, 12_000), { width: 64, height: 64, format: "png" }),
    );
    expect(conform.fault).toBe("too_large");
  });
});

describe("conformImage", () => {
  it("transcodes png to webp at the same size", async () => {
    const out = await conformImage(await solid(64, 64, red), {
      width: 64,
      height: 64,
      format: "webp",
    });
    expect(out?.contentType).toBe("image/webp");
    expect([out?.width, out?.height]).toEqual([64, 64]);
    expect((await inspectImage(out?.bytes ?? Buffer.alloc(0))).format).toBe("webp");
  });

  it("transcodes png to jpeg with output_compression as the quality", async () => {
    const source = await paint(64, 64, (x, y) => [
      (x * 37) % 256,
      (y * 91) % 256,
      (x * y) % 256,
      255,
    ]);
    const low = await conformImage(source, {
      width: 64,
      height: 64,
      format: "jpeg",
      compression: 10,
    });
    const high = await conformImage(source, {
      width: 64,
      height: 64,
      format: "jpeg",
      compression: 90,
    });
    expect(low?.contentType).toBe("image/jpeg");
    expect(await inspectImage(low?.bytes ?? Buffer.alloc(0))).toEqual({
      format: "jpeg",
      width: 64,
      height: 64,
      hasAlpha: false,
    });
    // Exactly what libvips makes at that quality, on white.
    const expected = await sharp(source)
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: 10 })
      .toBuffer();
    expect(low?.bytes.equals(expected)).toBe(true);
    expect((low?.bytes.length ?? 0) < (high?.bytes.length ?? 0)).toBe(true);
  });

  it("transcodes jpeg to png", async () => {
    const out = await conformImage(await solid(48, 32, blue, "jpeg"), {
      width: 48,
      height: 32,
      format: "png",
    });
    expect(out?.contentType).toBe("image/png");
    expect(await inspectImage(out?.bytes ?? Buffer.alloc(0))).toEqual({
      format: "png",
      width: 48,
      height: 32,
      hasAlpha: false,
    });
  });

  it("does nothing past the header when size and format already match", async () => {
    // Header only, no pixel data: any decode would fail.
    const path = join(dir, "header-only.png");
    await writeFile(path, pngHeader(64, 64));
    expect(await conformImage(path, { width: 64, height: 64, format: "png" })).toBeUndefined();
    expect(
      await conformImage(path, { width: 64, height: 64, format: "png", background: "transparent" }),
    ).toBeUndefined();

    const resized = await failure(conformImage(path, { width: 32, height: 32, format: "png" }));
    expect([resized.fault, resized.status, resized.code]).toEqual([
      "unreadable",
      502,
      "upstream_result_invalid",
    ]);
    expect(resized.message).toBe(
      "The upstream's result image could not be decoded: the file is damaged or truncated.",
    );
  });

  it("re-encodes a matching image when compression is asked", async () => {
    const source = await solid(16, 16, red, "jpeg");
    const out = await conformImage(source, {
      width: 16,
      height: 16,
      format: "jpeg",
      compression: 50,
    });
    expect(out?.contentType).toBe("image/jpeg");
    const png = await conformImage(await solid(16, 16, red), {
      width: 16,
      height: 16,
      format: "png",
      compression: 0,
    });
    expect((await pixels(png?.bytes ?? Buffer.alloc(0))).at(5, 5)).toEqual([...red]);
  });

  it("covers and centre-crops instead of stretching", async () => {
    // 64x32: red | green (32 wide) | blue. A 32x32 cover needs no scaling and
    // keeps the middle 32 columns; a stretch would show red and blue.
    const bands = await paint(64, 32, (x) => (x < 16 ? red : x < 48 ? green : blue));
    const out = await conformImage(bands, { width: 32, height: 32, format: "png" });
    expect([out?.width, out?.height]).toEqual([32, 32]);
    const read = await pixels(out?.bytes ?? Buffer.alloc(0));
    expect(read.at(0, 0)).toEqual([...green]);
    expect(read.at(31, 31)).toEqual([...green]);
    expect(read.at(0, 31)).toEqual([...green]);
  });

  it("scales to exactly the size asked, up or down", async () => {
    const source = await solid(64, 48, red);
    for (const [width, height] of [
      [32, 32],
      [128, 128],
      [16, 48],
    ] as const) {
      const out = await conformImage(source, { width, height, format: "png" });
      expect(await inspectImage(out?.bytes ?? Buffer.alloc(0))).toEqual({
        format: "png",
        width,
        height,
        hasAlpha: true,
      });
    }
  });

  it("flattens onto white for an opaque background and for jpeg, keeps alpha otherwise", async () => {
    const transparent = await solid(16, 16, clear);
    const opaque = await conformImage(transparent, {
      width: 16,
      height: 16,
      format: "png",
      background: "opaque",
    });
    const flat = await pixels(opaque?.bytes ?? Buffer.alloc(0));
    expect(flat.channels).toBe(3);
    expect(flat.at(8, 8)).toEqual([255, 255, 255]);

    const jpeg = await conformImage(transparent, { width: 16, height: 16, format: "jpeg" });
    expect((await pixels(jpeg?.bytes ?? Buffer.alloc(0))).at(8, 8)).toEqual([255, 255, 255]);

    const webp = await conformImage(transparent, {
      width: 16,
      height: 16,
      format: "webp",
      background: "transparent",
    });
    const kept = await pixels(webp?.bytes ?? Buffer.alloc(0));
    expect(kept.channels).toBe(4);
    expect(kept.at(8, 8)[3]).toBe(0);
  });

  it("refuses a target it cannot honour as a programming error", async () => {
    const source = await solid(8, 8, red);
    await expect(conformImage(source, { width: 0, height: 8, format: "png" })).rejects.toThrow(
      RangeError,
    );
    await expect(
      conformImage(source, { width: 8, height: 8, format: "jpeg", compression: 101 }),
    ).rejects.toThrow(RangeError);
  });
});

describe("applyMask", () => {
  const leftHalf = (x: number) => x < 32;

  it("takes the edit where the mask is transparent and keeps the original elsewhere", async () => {
    const out = await applyMask(
      await solid(64, 64, blue, "jpeg"),
      await maskOf(leftHalf),
      await solid(64, 64, green),
    );
    expect([out.contentType, out.width, out.height]).toEqual(["image/png", 64, 64]);
    const read = await pixels(out.bytes);
    // An opaque original gives an opaque result, without an alpha band.
    expect(read.channels).toBe(3);
    for (const [x, y] of [
      [0, 0],
      [31, 63],
    ]) {
      expect(read.at(x ?? 0, y ?? 0)).toEqual([0, 255, 0]);
    }
    // Blue from a JPEG: 254 after its round trip.
    expect(read.at(32, 0)).toEqual([0, 0, 254]);
    expect(read.at(63, 63)).toEqual([0, 0, 254]);
  });

  it("resizes the edit to the original's size first, and encodes as asked", async () => {
    const out = await applyMask(
      await solid(64, 64, blue),
      await maskOf(leftHalf),
      await solid(128, 96, green),
      { format: "png", compression: 100 },
    );
    expect([out.contentType, out.width, out.height]).toEqual(["image/png", 64, 64]);
    const read = await pixels(out.bytes);
    expect(read.at(8, 8).slice(0, 3)).toEqual([0, 255, 0]);
    expect(read.at(56, 8).slice(0, 3)).toEqual([0, 0, 255]);
  });

  it("blends where the mask is partly transparent", async () => {
    const mask = await paint(64, 64, (x) => [0, 0, 0, x < 32 ? 128 : 255]);
    const read = await pixels(
      await (await applyMask(await solid(64, 64, blue), mask, await solid(64, 64, green))).bytes,
    );
    const [r, g, b] = read.at(10, 10);
    // 128/255 of the original, the rest of the edit, to within libvips' truncation.
    expect(r).toBe(0);
    expect(Math.abs((b ?? 0) - 128) <= 1 && Math.abs((g ?? 0) - 127) <= 1).toBe(true);
  });

  it("flattens onto white for jpeg output", async () => {
    const out = await applyMask(
      await solid(64, 64, clear),
      await maskOf(leftHalf),
      await solid(64, 64, green),
      "jpeg",
    );
    expect(out.contentType).toBe("image/jpeg");
    const read = await pixels(out.bytes);
    expect(read.channels).toBe(3);
    expect(read.at(60, 32)).toEqual([255, 255, 255]);
  });

  it.each([
    ["a mask of another size", () => maskOf(() => true, 32), "got 32x32."],
    [
      "a mask without alpha",
      () => solid(64, 64, red, "jpeg").then((j) => sharp(j).png().toBuffer()),
      "got a 64x64 PNG without transparency.",
    ],
    ["a JPEG mask", () => solid(64, 64, red, "jpeg"), "got a JPEG image."],
    [
      "a mask that is no image",
      async () => Buffer.from("not an image at all"),
      "got a file that is not a PNG image.",
    ],
  ])("refuses %s with a 400 on mask", async (_name, makeMask, got) => {
    const err = await failure(
      applyMask(await solid(64, 64, blue), await makeMask(), await solid(64, 64, green)),
    );
    expect([err.status, err.param, err.code, err.fault]).toEqual([
      400,
      "mask",
      "invalid_mask",
      "invalid_mask",
    ]);
    expect(err.message).toBe(
      `The mask must be a PNG with transparency the same size as the image (64x64); ${got}`,
    );
  });

  it("blames a damaged mask or original on the caller and a damaged edit on the upstream", async () => {
    const good = await maskOf(leftHalf);
    const cut = (bytes: Buffer) => bytes.subarray(0, bytes.length - 40);
    const noisy = await paint(64, 64, (x, y) => [
      (x * 37) % 256,
      (y * 91) % 256,
      (x * y) % 256,
      x < 20 ? 0 : 255,
    ]);
    const blueImage = await solid(64, 64, blue);
    const greenImage = await solid(64, 64, green);

    const mask = await failure(applyMask(blueImage, cut(noisy), greenImage));
    expect([mask.status, mask.param, mask.fault]).toEqual([400, "mask", "unreadable"]);
    const original = await failure(
      applyMask(cut(await paint(64, 64, () => red, "png", 3)), good, greenImage),
    );
    expect([original.status, original.param]).toEqual([400, "image"]);
    const edited = await failure(applyMask(blueImage, good, cut(noisy)));
    expect([edited.status, edited.param, edited.fault]).toEqual([502, null, "unreadable"]);
  });
});

describe("maskBoundingBox", () => {
  it("bounds the transparent area and gives its share of the image", async () => {
    expect(await maskBoundingBox(await maskOf((x) => x < 32))).toEqual({
      x: 0,
      y: 0,
      width: 32,
      height: 64,
      coverage: 0.5,
    });
    const rectangle = await maskOf((x, y) => x >= 8 && x < 24 && y >= 4 && y < 36);
    expect(await maskBoundingBox(rectangle)).toEqual({
      x: 8,
      y: 4,
      width: 16,
      height: 32,
      coverage: 512 / 4096,
    });
    // Two specks: the box spans both; partly transparent pixels count.
    const specks = await paint(64, 64, (x, y) =>
      x === 5 && y === 60 ? [0, 0, 0, 0] : x === 50 && y === 2 ? [0, 0, 0, 200] : [0, 0, 0, 255],
    );
    expect(await maskBoundingBox(specks)).toEqual({
      x: 5,
      y: 2,
      width: 46,
      height: 59,
      coverage: 2 / 4096,
    });
  });

  it("is undefined when nothing is to be edited", async () => {
    expect(await maskBoundingBox(await maskOf(() => false))).toBeUndefined();
    expect(await maskBoundingBox(await solid(8, 8, red, "jpeg"))).toBeUndefined();
  });
});
