// The fast PNG header read must say exactly what sharp says, or nothing.
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { inspectImage } from "../../src/generation/imaging/index.js";
import { pngHeader } from "../../src/generation/imaging/png-header.js";

const solid = (channels: 1 | 2 | 3 | 4, alpha = 255) =>
  sharp({
    create: {
      width: 7,
      height: 5,
      channels: channels === 1 || channels === 2 ? 3 : channels,
      background: { r: 10, g: 200, b: 30, alpha: alpha / 255 },
    },
  });

const cases: Array<[string, () => Promise<Buffer>]> = [
  ["RGB", () => solid(3).png().toBuffer()],
  ["RGBA", () => solid(4, 128).png().toBuffer()],
  ["grey", () => solid(3).toColourspace("b-w").png().toBuffer()],
  ["grey + alpha", () => solid(4, 100).toColourspace("b-w").png().toBuffer()],
  ["palette", () => solid(3).png({ palette: true }).toBuffer()],
  ["palette with transparency", () => solid(4, 0).png({ palette: true }).toBuffer()],
  ["16-bit RGBA", () => solid(4, 10).toColourspace("rgb16").png().toBuffer()],
];

describe("pngHeader", () => {
  it.each(cases)("agrees with sharp on %s", async (_, make) => {
    const bytes = await make();
    const fast = pngHeader(bytes);
    expect(fast).toBeDefined();
    expect(fast).toEqual(await inspectImage(bytes));
  });

  it("reads nothing but a PNG header", async () => {
    const jpeg = await solid(3).jpeg().toBuffer();
    expect(pngHeader(jpeg)).toBeUndefined();
    expect(pngHeader(Buffer.alloc(0))).toBeUndefined();
    const png = await solid(3).png().toBuffer();
    // Cut before the first IDAT: the chunk walk runs out.
    expect(pngHeader(png.subarray(0, 40))).toBeUndefined();
    // A damaged IHDR length.
    const damaged = Buffer.from(png);
    damaged.writeUInt32BE(12, 8);
    expect(pngHeader(damaged)).toBeUndefined();
  });

  it("leaves a PNG with an eXIf chunk (which may rotate it) to sharp", async () => {
    const rotated = await solid(3).png().withMetadata({ orientation: 6 }).toBuffer();
    expect(rotated.includes(Buffer.from("eXIf"))).toBe(true);
    expect(pngHeader(rotated)).toBeUndefined();
    // sharp turns it: 7x5 shows as 5x7.
    expect(await inspectImage(rotated)).toMatchObject({ width: 5, height: 7 });
  });
});
