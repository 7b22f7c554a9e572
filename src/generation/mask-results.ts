// OpenAI's mask semantics over an upstream that takes no mask: the upstream
// repaints the whole image, then each result is laid over the caller's first
// image through the mask (imaging's applyMask), at that image's size, so that
// pixels where the mask is opaque stay the caller's. The image and the mask
// wait in the blob store from the request until the results arrive (possibly
// in a later process, after a restart).
import { Readable } from "node:stream";
import type { BlobStore, StoredBlob } from "../storage/blobs.js";
import { conformSlots, readResult } from "./conform-results.js";
import {
  applyMask,
  checkMask,
  type ImageInput,
  inspectImage,
  maskBoundingBox,
} from "./imaging/index.js";
import type { MaskBlobs } from "./record.js";

async function readBlob(blobs: BlobStore, id: string, what: string): Promise<Buffer> {
  const opened = await blobs.open(id);
  if (!opened) throw new Error(`the stored ${what} ${id} is missing`);
  const chunks: Buffer[] = [];
  for await (const chunk of opened.stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Each result composited over the original through the mask (PNG; an asked
 * size or format is applied afterwards by conformResults). The downloads are
 * replaced: on success and on failure none of them is left in the store.
 */
export async function compositeResults(
  blobs: BlobStore,
  images: StoredBlob[],
  mask: MaskBlobs,
): Promise<StoredBlob[]> {
  const made: StoredBlob[] = [];
  try {
    const original = await readBlob(blobs, mask.original, "image");
    const maskBytes = await readBlob(blobs, mask.mask, "mask");
    for (const image of images) {
      const composite = await conformSlots(async () =>
        applyMask(original, maskBytes, await readResult(blobs, image), "png"),
      );
      made.push(await blobs.put(Readable.from([composite.bytes])));
    }
  } catch (err) {
    await Promise.all(made.map((image) => blobs.remove(image.id)));
    throw err;
  } finally {
    await Promise.all(images.map((image) => blobs.remove(image.id)));
  }
  return made;
}

/** Removes a masked edit's image and mask from the store (never throws). */
export async function removeMaskBlobs(
  blobs: BlobStore,
  mask: MaskBlobs | undefined,
): Promise<void> {
  if (mask === undefined) return;
  await Promise.all([mask.original, mask.mask].map((id) => blobs.remove(id).catch(() => {})));
}

const percent = (part: number, whole: number) => Math.round((part / whole) * 100);

/**
 * Checks an edit's mask before anything is submitted (a 400 on `image` or
 * `mask` from the imaging module), and gives the prompt to send upstream: the
 * caller's, plus one factual sentence naming the area the mask leaves to edit
 * when it is not the whole image (the upstream takes no mask).
 */
export async function prepareMaskedEdit(
  original: ImageInput,
  mask: ImageInput,
  prompt: string,
): Promise<string> {
  await checkMask(original, mask);
  const box = await maskBoundingBox(mask);
  const { width, height } = await inspectImage(mask);
  if (box === undefined || (box.width === width && box.height === height)) return prompt;
  const across = `${percent(box.x, width)}% to ${percent(box.x + box.width, width)}%`;
  const down = `${percent(box.y, height)}% to ${percent(box.y + box.height, height)}%`;
  return `${prompt}\n\nEdit only the area from ${across} across and ${down} down the image (from its top left corner); keep everything else unchanged.`;
}
