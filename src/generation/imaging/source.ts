// Reading an image for post-processing: its type from its first bytes (the
// same sniffing the blob store does), its size from its header, and a bound on
// its pixel count before a single pixel is decoded; and the one typed error
// every imaging failure becomes.
import { open } from "node:fs/promises";
import sharp, { type Sharp } from "sharp";
import { errorSpec, GatewayError } from "../../errors.js";
import { sniffImage } from "../../storage/blobs.js";

/** Image bytes, or the path of a file holding them (cheaper: never in the JS heap). */
export type ImageInput = Buffer | string;

export type ImageFormat = "png" | "jpeg" | "webp" | "gif";

export interface ImageInfo {
  format: ImageFormat;
  /** As displayed, i.e. after the EXIF orientation is applied. */
  width: number;
  height: number;
  hasAlpha: boolean;
}

/**
 * The largest image decoded, in pixels. GPT Image 2 tops out at 3840x2160
 * (8.3 MP) and phone photos at about 50 MP; 100 MP is 400 MB of RGBA, the most
 * a hostile header may make us consider. Checked on the header, and given to
 * sharp's own `limitInputPixels` as a second line.
 */
export const maxInputPixels = 100_000_000;

/** What went wrong; `invalid_mask` is only raised by the mask checks. */
export type ImageFault = "unsupported" | "too_large" | "unreadable" | "invalid_mask";

/** The caller's form field an image came in; null for the upstream's results. */
export type ImageParam = "image" | "mask";

/**
 * Any failure to read or process an image. The message is written for the
 * caller. Whose fault it is decides the status: an image the caller sent is a
 * 400 on its field; an upstream result that cannot be processed is a 502 that
 * must not be retried (the upstream task has already been paid for).
 */
export class ImageProcessingError extends GatewayError {
  readonly fault: ImageFault;

  constructor(fault: ImageFault, message: string, param: ImageParam | null, cause?: unknown) {
    const code =
      param === null
        ? "upstream_result_invalid"
        : param === "mask"
          ? "invalid_mask"
          : "invalid_image";
    super(errorSpec(code, { detail: message }, { cause }));
    this.fault = fault;
  }
}

export function subject(param: ImageParam | null): string {
  if (param === "image") return "The image";
  if (param === "mask") return "The mask";
  return "The upstream's result image";
}

// A decode error aborts ("error" also covers truncated data), but libpng's
// and libjpeg's warnings about harmless oddities do not: upstream images are
// not always pristine and refusing them would throw away a paid result.
const pipelineOptions = {
  limitInputPixels: maxInputPixels,
  failOn: "error",
  autoOrient: true,
} as const;

/** Options for an image given to `composite()`, so it is read as strictly. */
export const overlayOptions = pipelineOptions;

const formatByExt: Readonly<Record<string, ImageFormat>> = {
  png: "png",
  jpg: "jpeg",
  webp: "webp",
  gif: "gif",
};

async function head(input: ImageInput): Promise<Buffer> {
  if (typeof input !== "string") return input.subarray(0, 16);
  const file = await open(input, "r");
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(16), 0, 16, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

export interface OpenedImage {
  info: ImageInfo;
  /** Bands as decoded (e.g. 2 for grey + alpha): the alpha band is the last. */
  channels: number;
  /** A new sharp pipeline over the input, bounded and strict. */
  pipeline(): Sharp;
}

/**
 * Reads what the image is without decoding it. Only PNG, JPEG, WebP and GIF
 * reach libvips: its other loaders (SVG, TIFF, HEIF, PDF…) are attack surface
 * no OpenAI caller or upstream needs.
 */
export async function openImage(
  input: ImageInput,
  param: ImageParam | null = null,
): Promise<OpenedImage> {
  const format = formatByExt[sniffImage(await head(input))?.ext ?? ""];
  const unsupported = () =>
    new ImageProcessingError(
      "unsupported",
      `${subject(param)} is not a PNG, JPEG, WebP or GIF file.`,
      param,
    );
  if (format === undefined) throw unsupported();
  // No pixel limit on the header read, so an oversized image is reported with its size.
  const metadata = await processing(param, sharp(input, { limitInputPixels: false }).metadata());
  if (metadata.format !== format) throw unsupported();
  const { width, height } = metadata.autoOrient;
  if (width * height > maxInputPixels) {
    throw new ImageProcessingError(
      "too_large",
      `${subject(param)} is ${width}x${height} pixels; at most ${maxInputPixels / 1e6} megapixels can be processed.`,
      param,
    );
  }
  return {
    info: { format, width, height, hasAlpha: metadata.hasAlpha },
    channels: metadata.channels,
    pipeline: () => sharp(input, pipelineOptions),
  };
}

/** Awaits sharp work, turning its errors into ImageProcessingError. */
export async function processing<T>(param: ImageParam | null, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof ImageProcessingError) throw err;
    const message = err instanceof Error ? err.message : "";
    if (/pixel limit/i.test(message)) {
      throw new ImageProcessingError(
        "too_large",
        `${subject(param)} is larger than ${maxInputPixels / 1e6} megapixels.`,
        param,
        err,
      );
    }
    throw new ImageProcessingError(
      "unreadable",
      `${subject(param)} could not be decoded: the file is damaged or truncated.`,
      param,
      err,
    );
  }
}

/** Format, displayed size and alpha of an image, from its header only. */
export async function inspectImage(
  input: ImageInput,
  param: ImageParam | null = null,
): Promise<ImageInfo> {
  return (await openImage(input, param)).info;
}
