// Small test images made with sharp: solid colours, a mask with a transparent
// left half, and one pixel read back, for the mask and client tests.
import sharp from "sharp";

export type Rgb = [number, number, number];
export const red: Rgb = [255, 0, 0];

/** A width×height opaque PNG of one colour. */
export const solid = (width: number, height: number, [r, g, b]: Rgb) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

/** A size×size mask whose left half is transparent (to edit) and right half opaque (to keep). */
export async function leftHalfMask(size = 64, format: "png" | "jpeg" = "png"): Promise<Buffer> {
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) pixels[(y * size + x) * 4 + 3] = x < size / 2 ? 0 : 255;
  }
  const image = sharp(pixels, { raw: { width: size, height: size, channels: 4 } });
  return (format === "png" ? image.png() : image.jpeg()).toBuffer();
}

/** The colour of one pixel (alpha dropped). */
export async function pixel(bytes: Buffer, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(bytes)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * 3;
  return [data[at] as number, data[at + 1] as number, data[at + 2] as number];
}
