// OpenAI's mask semantics for edits: the mask is a PNG the size of the image
// whose transparent pixels mark the area to edit. Upstreams that take no mask
// repaint the whole picture; compositing afterwards keeps the caller's pixels
// outside the area, as OpenAI does.
import type { Sharp } from "sharp";
import {
  type ConformedImage,
  contentTypes,
  type Encoding,
  encodeAs,
  flattens,
  type OutputFormat,
} from "./conform.js";
import {
  type ImageInput,
  ImageProcessingError,
  type OpenedImage,
  openImage,
  overlayOptions,
  processing,
} from "./source.js";

interface Size {
  width: number;
  height: number;
}

function maskError(size: Size, got: string, cause?: unknown): ImageProcessingError {
  return new ImageProcessingError(
    "invalid_mask",
    `The mask must be a PNG with transparency the same size as the image (${size.width}x${size.height}); got ${got}.`,
    "mask",
    cause,
  );
}

/** The alpha band (the last) of an image with one, as raw bytes. */
function alphaOf(opened: OpenedImage): Sharp {
  return opened
    .pipeline()
    .extractChannel((opened.channels - 1) as 0 | 1 | 2 | 3)
    .raw();
}

/** Checks the mask's header against the image's size, then that it decodes. */
async function openMask(mask: ImageInput, size: Size): Promise<OpenedImage> {
  let opened: OpenedImage;
  try {
    opened = await openImage(mask, "mask");
  } catch (err) {
    if (err instanceof ImageProcessingError && err.fault === "unsupported") {
      throw maskError(size, "a file that is not a PNG image", err);
    }
    throw err;
  }
  const { format, width, height, hasAlpha } = opened.info;
  if (format !== "png") throw maskError(size, `a ${format.toUpperCase()} image`);
  if (width !== size.width || height !== size.height) throw maskError(size, `${width}x${height}`);
  if (!hasAlpha) throw maskError(size, `a ${width}x${height} PNG without transparency`);
  // Decoded once here (its alpha band only: one byte a pixel, dropped at
  // once) so that a damaged mask is the caller's 400 and not mistaken later
  // for a bad upstream result. (stats() would allocate less but is ~20x slower.)
  await processing("mask", alphaOf(opened).toBuffer());
  return opened;
}

/**
 * Checks a mask against the image it applies to, before anything is
 * submitted: the image must be readable (else a 400 on `image`), the mask a
 * PNG with transparency of the image's size that decodes (else a 400 on
 * `mask`, code invalid_mask).
 */
export async function checkMask(original: ImageInput, mask: ImageInput): Promise<void> {
  const base = await openImage(original, "image");
  await openMask(mask, { width: base.info.width, height: base.info.height });
}

/**
 * The original where the mask is opaque, the edited image where it is
 * transparent, and a proportional blend where it is partly transparent, at
 * the original's size (the edited image is first covered and centre-cropped
 * to it). Transparent areas of the edited image itself let the original show
 * through (it is laid over the original, as a layer in an editor).
 *
 * `original` and `mask` are the caller's (a 400 on `image` / `mask` when they
 * are wrong), `edited` is the upstream's (a 502). Partial alpha may be off by
 * one level of 255 from an exact linear blend: libvips truncates.
 */
export async function applyMask(
  original: ImageInput,
  mask: ImageInput,
  edited: ImageInput,
  output: OutputFormat | Encoding = "png",
): Promise<ConformedImage> {
  const encoding: Encoding = typeof output === "string" ? { format: output } : output;
  const base = await openImage(original, "image");
  const { width, height } = base.info;
  await openMask(mask, { width, height });
  const result = await openImage(edited, null);

  // 1. The edited image at the original's size, transparent where the mask is
  // opaque ("dest-out" keeps the destination where the source, the mask, is
  // transparent). Raw RGBA, width × height × 4 bytes, handed to step 2.
  const layer = await processing(
    null,
    result
      .pipeline()
      .resize({ width, height, fit: "cover", position: "centre" })
      .ensureAlpha()
      .composite([{ input: mask, blend: "dest-out", ...overlayOptions }])
      .raw()
      .toBuffer(),
  );

  // 2. That layer over the original. Flattening (for jpeg or "opaque") applies
  // to the original before the composite, which leaves the result opaque; an
  // opaque result loses the alpha band the composite added.
  const composed = base
    .pipeline()
    .composite([{ input: layer, raw: { width, height, channels: 4 } }]);
  if (!base.info.hasAlpha || flattens(encoding)) composed.removeAlpha();
  const { data, info } = await processing(
    "image",
    encodeAs(composed, encoding).toBuffer({ resolveWithObject: true }),
  );
  return {
    bytes: data,
    contentType: contentTypes[encoding.format],
    width: info.width,
    height: info.height,
  };
}

export interface MaskBox {
  /** Left column and top row of the smallest rectangle holding the area to edit. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The share of the mask's pixels that are (at least partly) transparent, 0–1. */
  coverage: number;
}

/**
 * Where the mask asks for edits: the bounding box of its pixels that are not
 * fully opaque (partly transparent ones are blended, so they change too).
 * Undefined when there are none, including a mask with no alpha at all.
 * Decodes on the threadpool, then scans one byte a pixel on the event loop:
 * fully opaque rows cost one native compare, others about 4 ms per megapixel
 * on a 2-core machine (a 4K mask that is half transparent: ~30 ms).
 */
export async function maskBoundingBox(mask: ImageInput): Promise<MaskBox | undefined> {
  const opened = await openImage(mask, "mask");
  if (!opened.info.hasAlpha) return undefined;
  const { data, info } = await processing(
    "mask",
    alphaOf(opened).toBuffer({ resolveWithObject: true }),
  );
  const { width, height } = info;
  const opaqueRow = Buffer.alloc(width, 0xff);
  let top = -1;
  let bottom = -1;
  let left = width;
  let right = -1;
  let transparent = 0;
  for (let y = 0; y < height; y++) {
    const start = y * width;
    const row = data.subarray(start, start + width);
    // Most rows of a typical mask are fully opaque: one native compare each.
    if (row.equals(opaqueRow)) continue;
    if (top < 0) top = y;
    bottom = y;
    for (let x = 0; x < width; x++) {
      if (row[x] === 0xff) continue;
      transparent++;
      if (x < left) left = x;
      if (x > right) right = x;
    }
  }
  if (top < 0) return undefined;
  return {
    x: left,
    y: top,
    width: right - left + 1,
    height: bottom - top + 1,
    coverage: transparent / (width * height),
  };
}
