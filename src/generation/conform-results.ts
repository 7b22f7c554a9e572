// What you ask is what you get: an OpenAI caller asking for a size or an
// output format gets exactly that (catalog's conformPlan), although the
// upstream makes its own nearest size and format. Each downloaded result that
// differs is resized and transcoded with sharp and replaces the download in
// the blob store; one that already matches is left as it is.
import { Readable } from "node:stream";
import { type ConformPlan, conformPlan, type Echo } from "../catalog/answer.js";
import type { BlobStore, StoredBlob } from "../storage/blobs.js";
import { type ConformTarget, conformImage, type ImageInfo, inspectImage } from "./imaging/index.js";

/** Runs at most `limit` tasks at once; the others wait, first come first served. */
export function createSemaphore(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active < limit) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes straight to the next in line, so none can jump the queue.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

// sharp holds the encoded input, the decoded pixels (a 4K RGBA image is 33 MB)
// and the encoded output at once, and libvips already spreads one image over
// its threads: two at a time, for the whole process, bounds the memory however
// many generations finish together, at little cost in throughput.
export const conformSlots = createSemaphore(2);

/**
 * A result's bytes: its own when the store kept them in memory, else read back
 * through the store (not a file path, so that the store may live elsewhere,
 * e.g. S3). Results are at most IMAGEGATE_MAX_RESULT_MB, and only two are read
 * at once.
 */
export async function readResult(blobs: BlobStore, image: StoredBlob): Promise<Buffer> {
  if (image.bytes !== undefined) return image.bytes;
  const opened = await blobs.open(image.id);
  if (!opened) throw new Error(`the stored result ${image.id} is missing`);
  const chunks: Buffer[] = [];
  for await (const chunk of opened.stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The plan made concrete: what it leaves out stays as the image is (a GIF becomes a PNG). */
function targetFor(plan: ConformPlan, info: ImageInfo | undefined): ConformTarget {
  const format = plan.format ?? (info?.format === "gif" || !info ? "png" : info.format);
  const target: ConformTarget = {
    width: plan.width ?? info?.width ?? 0,
    height: plan.height ?? info?.height ?? 0,
    format,
  };
  if (plan.compression !== undefined) target.compression = plan.compression;
  if (plan.background !== undefined) target.background = plan.background;
  return target;
}

/** The result as planned: the same blob when it already is, else a new one. */
async function conformOne(
  blobs: BlobStore,
  image: StoredBlob,
  plan: ConformPlan,
): Promise<StoredBlob> {
  return conformSlots(async () => {
    const input = await readResult(blobs, image);
    // The header tells whatever the plan leaves to the image (its size or its format).
    const complete = plan.width !== undefined && plan.format !== undefined;
    const info = complete ? undefined : await inspectImage(input);
    const conformed = await conformImage(input, targetFor(plan, info));
    if (conformed === undefined) return image;
    return blobs.put(Readable.from([conformed.bytes]));
  });
}

/**
 * The results as the caller asked for them, replacing the downloads that had
 * to change. When one cannot be conformed (an upstream image sharp cannot
 * read: a 502 ImageProcessingError) nothing is kept and the error is thrown:
 * an answer of the wrong size would break the caller's layout silently.
 */
export async function conformResults(
  blobs: BlobStore,
  images: StoredBlob[],
  echo: Echo,
): Promise<StoredBlob[]> {
  const plan = conformPlan(echo);
  if (plan === undefined) return images;
  const outcomes = await Promise.allSettled(images.map((image) => conformOne(blobs, image, plan)));
  const made = outcomes.flatMap((outcome, i) =>
    outcome.status === "fulfilled" && outcome.value !== images[i] ? [outcome.value] : [],
  );
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure !== undefined) {
    await Promise.all([...images, ...made].map((image) => blobs.remove(image.id)));
    throw failure.reason;
  }
  const replaced = images.filter((image, i) => {
    const outcome = outcomes[i];
    return outcome?.status === "fulfilled" && outcome.value !== image;
  });
  await Promise.all(replaced.map((image) => blobs.remove(image.id)));
  return outcomes.map((outcome, i) =>
    outcome.status === "fulfilled" ? outcome.value : (images[i] as StoredBlob),
  );
}
