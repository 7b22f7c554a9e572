// Making an upstream result what the caller asked for: exactly the pixel size
// (OpenAI delivers the size asked), in the output format, with the background
// and compression asked.
//
// Results come back as a Buffer, not a stream, on purpose: sharp's "stream"
// output is not incremental. libvips encodes the whole image to memory and
// sharp pushes it as one chunk at the end (and a stream *input* is
// concatenated before decoding), so a stream would hold exactly the same bytes
// while hiding their size. A Buffer is honest, and its length is the
// Content-Length / base64 length delivery needs up front. What bounds memory
// is elsewhere: pass file paths rather than Buffers (the encoded input then
// never enters the JS heap), skip the work when nothing is to change (see
// conformImage), and bound how many run at once (see the integration notes).
import type { Sharp } from "sharp";
import { type ImageInput, type ImageParam, openImage, processing } from "./source.js";

export type OutputFormat = "png" | "jpeg" | "webp";

export interface Encoding {
  format: OutputFormat;
  /**
   * OpenAI's `output_compression`, 0–100; leave it out unless the caller sent
   * it. JPEG and WebP: the quality (0 is read as 1, sharp's lowest); unset
   * means 100, OpenAI's default. PNG is lossless, so the number can only mean
   * how hard zlib works: level round(compression × 9 / 100), 0 storing
   * uncompressed (fast, large) and 100 packing hardest (slow, small); the
   * pixels are the same at every level. Unset: libvips' default, 6.
   */
  compression?: number;
  /**
   * "opaque" flattens onto white; "transparent" (or unset) keeps whatever
   * alpha the image has: transparency cannot be invented. JPEG is always
   * flattened onto white (it has no alpha; the HTTP layer should refuse
   * transparent + jpeg as OpenAI does).
   */
  background?: "transparent" | "opaque";
}

export interface ConformTarget extends Encoding {
  width: number;
  height: number;
}

export interface ConformedImage {
  bytes: Buffer;
  contentType: string;
  width: number;
  height: number;
}

export const contentTypes: Readonly<Record<OutputFormat, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
  webp: "image/webp",
};

const white = { r: 255, g: 255, b: 255 };

/** Whether an encoding drops alpha (onto white). */
export function flattens(encoding: Encoding): boolean {
  return encoding.format === "jpeg" || encoding.background === "opaque";
}

function checkEncoding(encoding: Encoding): void {
  const { compression } = encoding;
  if (!(encoding.format in contentTypes)) {
    throw new RangeError(`unknown output format ${String(encoding.format)}`);
  }
  if (
    compression !== undefined &&
    !(Number.isInteger(compression) && compression >= 0 && compression <= 100)
  ) {
    throw new RangeError(`compression must be an integer from 0 to 100, got ${compression}`);
  }
}

/** Adds the flattening and the encoder an Encoding asks for to a pipeline. */
export function encodeAs(pipeline: Sharp, encoding: Encoding): Sharp {
  checkEncoding(encoding);
  const { compression } = encoding;
  if (flattens(encoding)) pipeline.flatten({ background: white });
  const quality = Math.max(1, compression ?? 100);
  switch (encoding.format) {
    case "jpeg":
      return pipeline.jpeg({ quality });
    case "webp":
      return pipeline.webp({ quality });
    case "png":
      return pipeline.png(
        compression === undefined ? {} : { compressionLevel: Math.round((compression * 9) / 100) },
      );
  }
}

/**
 * The image at exactly target.width × target.height in target.format, or
 * undefined when it already is that (same format and size, no compression
 * asked, nothing to flatten): then only the header was read, and the caller
 * keeps the bytes it has.
 *
 * A different size is covered and centre-cropped, never stretched or
 * letterboxed. Upstreams often render a nearby size (1248x832 for 1536x1024,
 * or their own grid of sizes), and an OpenAI caller asked for a size because it
 * lays the picture out in a box of that size: it expects exactly those pixels
 * (OpenAI always delivers them). Stretching visibly distorts faces and text;
 * bars ("contain") add content that is not part of the picture and would be
 * opaque in a "transparent" image. Scaling to cover and trimming the few
 * surplus edge pixels of a near-same-aspect image is invisible.
 *
 * An animated GIF gives its first frame. Metadata (EXIF, ICC, XMP) is not
 * carried over; an EXIF orientation is applied to the pixels first.
 *
 * `param` names the caller's field when the input is the caller's (a 400 on
 * it if unreadable); for upstream results leave it null (a 502).
 */
export async function conformImage(
  input: ImageInput,
  target: ConformTarget,
  param: ImageParam | null = null,
): Promise<ConformedImage | undefined> {
  const { width, height } = target;
  for (const side of [width, height]) {
    if (!(Number.isInteger(side) && side > 0 && side <= 16_384)) {
      throw new RangeError(`target sides must be integers from 1 to 16384, got ${width}x${height}`);
    }
  }
  checkEncoding(target);
  const { info, pipeline } = await openImage(input, param);
  const unchanged =
    info.format === target.format &&
    info.width === width &&
    info.height === height &&
    target.compression === undefined &&
    !(info.hasAlpha && target.background === "opaque");
  if (unchanged) return undefined;
  const resized = pipeline().resize({ width, height, fit: "cover", position: "centre" });
  const { data, info: out } = await processing(
    param,
    encodeAs(resized, target).toBuffer({ resolveWithObject: true }),
  );
  return {
    bytes: data,
    contentType: contentTypes[target.format],
    width: out.width,
    height: out.height,
  };
}
