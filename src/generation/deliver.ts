// Results → the OpenAI response: re-hosted signed URLs, or b64_json streamed
// from the stored image to the socket in 3-byte-aligned chunks inside the JSON
// envelope, so a 20 MB image never becomes a 27 MB string in memory. The
// fields besides the images (size, quality, background, output_format) say
// what was delivered, read from the first image's header (never decoded).
// Each delivery is a trace step, and its images count as answered (metrics)
// once the response carrying them went out in full.
import { Readable } from "node:stream";
import {
  type AnswerFields,
  answerFields,
  type DeliveredImage,
  eventFields,
} from "../catalog/answer.js";
import type { Clock } from "../clock.js";
import { gatewayError } from "../errors.js";
import type { BlobStore, StoredBlob, UrlSigner } from "../storage/blobs.js";
import type { ResponseHandle } from "./admission.js";
import type { GeneratedImages } from "./generate.js";
import { inspectImage } from "./imaging/index.js";
import { pngHeader } from "./imaging/png-header.js";
import {
  type AnsweredImages,
  failureCode,
  generationIdAttribute,
  type StepSpan,
  type StepTracer,
} from "./telemetry.js";

export type Delivery =
  | { kind: "json"; body: ImagesResponse }
  | { kind: "stream"; contentLength: number; stream: Readable };

export type ImageData = ({ url: string } | { b64_json: string }) & { revised_prompt?: string };

export interface ImagesResponse extends AnswerFields {
  created: number;
  data: ImageData[];
}

export interface DeliveryDeps {
  blobs: BlobStore;
  signer: UrlSigner;
  clock: Clock;
  /** Lifetime of re-hosted images and their URLs. */
  urlTtlMs: number;
  /** A span per delivery; absent when tracing is off. */
  tracer?: StepTracer | undefined;
  /** Counts the images answered, with the result's lag. */
  answered?: AnsweredImages | undefined;
}

const outputFormats: Readonly<Record<string, string>> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/webp": "webp",
  "image/gif": "gif",
};

/**
 * How much of a stored image is read for its header: PNG and WebP give their
 * size in the first bytes; a JPEG gives it after its EXIF and ICC segments
 * (each at most 64 KiB), which this covers in practice. The image itself is
 * never decoded for the answer.
 */
const headerBytes = 256 * 1024;

/** `,"name":value` for each field, to append to a JSON object being streamed. */
const jsonFields = (fields: object) =>
  Object.entries(fields)
    .map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`)
    .join("");

const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

/** The first bytes of a stored image: its own bytes when small, else read from the store. */
async function head(blobs: BlobStore, image: StoredBlob): Promise<Buffer> {
  if (image.bytes !== undefined) return image.bytes;
  const opened = await blobs.open(image.id);
  if (!opened) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let length = 0;
  // Leaving the loop early destroys the stream (and closes the file).
  for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= headerBytes) break;
  }
  return Buffer.concat(chunks, length);
}

/**
 * The answer's fields, from the first image's header. An unreadable header
 * (bytes that are no image) leaves the values the request asked for: the
 * bytes are still delivered as the upstream made them.
 */
export async function deliveredFields(
  blobs: BlobStore,
  result: GeneratedImages,
): Promise<AnswerFields> {
  const first = result.images[0];
  let delivered: DeliveredImage | undefined;
  if (first !== undefined) {
    try {
      const bytes = await head(blobs, first);
      delivered = pngHeader(bytes) ?? (await inspectImage(bytes));
    } catch {
      delivered = undefined;
    }
  }
  return answerFields(result.echo, delivered, outputFormats[first?.contentType ?? ""]);
}

/** `revised_prompt`, for the answers whose model revises prompts (dall-e-3). */
const revised = (result: GeneratedImages) =>
  result.echo.revised_prompt === undefined ? {} : { revised_prompt: result.echo.revised_prompt };

/** Ends a delivery's span once its stream is over: written in full, failed, or cut by the client. */
function endWithStream(span: StepSpan, stream: Readable): void {
  stream.once("close", () => {
    if (stream.errored) span.fail(failureCode(stream.errored));
    else if (!stream.readableEnded) span.set({ "imagegate.deliver.aborted": true });
    span.end();
  });
}

export function createDeliverer(deps: DeliveryDeps) {
  const { blobs, signer, clock, tracer } = deps;

  /** Results already counted: an Idempotency-Key duplicate waiting on the same run is not counted twice. */
  const counted = new WeakSet<GeneratedImages>();

  /**
   * The images are answered: counted once the response carrying them went
   * out in full (a caller that left received nothing), with the time since
   * the result was ready upstream; once per generation, and not for a replay
   * of one a caller already received. Without a response to watch (a caller
   * of the service itself), counted as handed over.
   */
  function answered(
    result: GeneratedImages,
    format: "url" | "b64_json",
    to: Pick<ResponseHandle, "onFinish"> | undefined,
  ): void {
    const metric = deps.answered;
    if (metric === undefined || result.replay === true) return;
    const count = () => {
      if (counted.has(result)) return;
      counted.add(result);
      metric.answered(
        result.model ?? "unknown",
        format,
        result.images.length,
        result.readyAt === undefined ? undefined : (clock.now() - result.readyAt) / 1000,
      );
    };
    if (to === undefined) count();
    else to.onFinish((succeeded) => succeeded && count());
  }

  function deliverSpan(result: GeneratedImages, format: string): StepSpan | undefined {
    return tracer?.start("imagegate.deliver", tracer.current(), {
      [generationIdAttribute]: result.recordId,
      "imagegate.deliver.format": format,
      "imagegate.deliver.images": result.images.length,
    });
  }

  async function urls(result: GeneratedImages): Promise<Delivery> {
    try {
      await Promise.all(result.images.map((image) => image.written));
    } catch {
      throw gatewayError("result_storage_failed", { taskId: result.upstreamTaskId });
    }
    const expiresAt = clock.now() + deps.urlTtlMs;
    return {
      kind: "json",
      body: {
        created: result.created,
        data: await Promise.all(
          result.images.map(async (image) => ({
            url: (await blobs.presign?.(image.id, expiresAt)) ?? signer.url(image.id, expiresAt),
            ...revised(result),
          })),
        ),
        ...(await deliveredFields(blobs, result)),
      },
    };
  }

  async function base64(result: GeneratedImages): Promise<Delivery> {
    const start = `{"created":${result.created},"data":[`;
    const tail = `]${jsonFields(await deliveredFields(blobs, result))}}`;
    const open = '{"b64_json":"';
    const close = `"${jsonFields(revised(result))}}`;
    let contentLength = Buffer.byteLength(start) + Buffer.byteLength(tail);
    result.images.forEach((image, index) => {
      contentLength +=
        (index > 0 ? 1 : 0) + open.length + base64Length(image.size) + Buffer.byteLength(close);
    });
    return {
      kind: "stream",
      contentLength,
      stream: Readable.from(encode(result.images, start, open, close, tail), { objectMode: false }),
    };
  }

  async function* encode(
    images: StoredBlob[],
    start: string,
    open: string,
    close: string,
    tail: string,
  ): AsyncGenerator<Buffer> {
    yield Buffer.from(start);
    for (const [index, image] of images.entries()) {
      yield Buffer.from(index > 0 ? `,${open}` : open);
      yield* imageBase64(image);
      yield Buffer.from(close);
    }
    yield Buffer.from(tail);
  }

  /** Streams one image's bytes as base64, 3-byte aligned so no padding lands mid-string. */
  async function* imageBase64(image: StoredBlob): AsyncGenerator<Buffer> {
    if (image.bytes !== undefined) {
      // base64 is ASCII: latin1 copies it byte for byte, without a UTF-8 pass.
      yield Buffer.from(image.bytes.toString("base64"), "latin1");
      return;
    }
    const opened = await blobs.open(image.id);
    if (!opened) throw new Error(`stored result ${image.id} disappeared before delivery`);
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
      const data: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const aligned = data.length - (data.length % 3);
      carry = data.subarray(aligned);
      if (aligned > 0) yield Buffer.from(data.subarray(0, aligned).toString("base64"), "latin1");
    }
    if (carry.length > 0) yield Buffer.from(carry.toString("base64"), "latin1");
  }

  /**
   * Server-sent events for `stream: true`: one `<prefix>.completed` event per
   * image, with every field OpenAI's schema requires but `usage` (the upstream
   * reports no tokens). The upstream renders no partial images, and OpenAI
   * allows fewer partial images than asked, so none are sent.
   */
  async function* events(
    result: GeneratedImages,
    prefix: "image_generation" | "image_edit",
    to?: Pick<ResponseHandle, "onFinish">,
  ): AsyncGenerator<Buffer> {
    const span = deliverSpan(result, "b64_json");
    try {
      const after = jsonFields(eventFields(await deliveredFields(blobs, result)));
      answered(result, "b64_json", to);
      for (const image of result.images) {
        yield Buffer.from(
          `event: ${prefix}.completed\ndata: {"type":"${prefix}.completed","b64_json":"`,
        );
        yield* imageBase64(image);
        yield Buffer.from(`","created_at":${result.created}${after}}\n\n`);
      }
    } catch (err) {
      span?.fail(failureCode(err));
      throw err;
    } finally {
      span?.end();
    }
  }

  return {
    /** A URL answer waits until the files are on disk; b64_json streams at once. */
    async deliver(
      result: GeneratedImages,
      format: "url" | "b64_json",
      to?: Pick<ResponseHandle, "onFinish">,
    ): Promise<Delivery> {
      const span = deliverSpan(result, format);
      let delivery: Delivery;
      try {
        delivery = format === "url" ? await urls(result) : await base64(result);
      } catch (err) {
        span?.fail(failureCode(err));
        span?.end();
        throw err;
      }
      answered(result, format, to);
      if (span !== undefined) {
        if (delivery.kind === "stream") endWithStream(span, delivery.stream);
        else span.end();
      }
      return delivery;
    },
    events,
  };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
