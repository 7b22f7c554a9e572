// Results → the OpenAI response: re-hosted signed URLs, or b64_json streamed
// from the stored image to the socket in 3-byte-aligned chunks inside the JSON
// envelope, so a 20 MB image never becomes a 27 MB string in memory.
import { Readable } from "node:stream";
import type { Clock } from "../clock.js";
import { GatewayError } from "../errors.js";
import type { BlobStore, StoredBlob, UrlSigner } from "../storage/blobs.js";
import type { GeneratedImages } from "./generate.js";

export type Delivery =
  | { kind: "json"; body: ImagesResponse }
  | { kind: "stream"; contentLength: number; stream: Readable };

export interface ImagesResponse {
  created: number;
  data: Array<{ url: string } | { b64_json: string }>;
  size?: string;
  quality?: string;
  background?: string;
  output_format?: string;
}

export interface DeliveryDeps {
  blobs: BlobStore;
  signer: UrlSigner;
  clock: Clock;
  /** Lifetime of re-hosted images and their URLs. */
  urlTtlMs: number;
}

const outputFormats: Readonly<Record<string, string>> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/webp": "webp",
  "image/gif": "gif",
};

/** Response fields besides `data`, in OpenAI's order. */
function envelopeFields(result: GeneratedImages): Omit<ImagesResponse, "created" | "data"> {
  const fields: Omit<ImagesResponse, "created" | "data"> = {};
  const { echo } = result;
  if (echo.background !== undefined) fields.background = echo.background;
  const format = outputFormats[result.images[0]?.contentType ?? ""];
  if (format !== undefined) fields.output_format = format;
  if (echo.size !== undefined) fields.size = echo.size;
  if (echo.quality !== undefined) fields.quality = echo.quality;
  return fields;
}

const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

export function createDeliverer(deps: DeliveryDeps) {
  const { blobs, signer, clock } = deps;

  async function urls(result: GeneratedImages): Promise<Delivery> {
    try {
      await Promise.all(result.images.map((image) => image.written));
    } catch {
      throw new GatewayError({
        status: 500,
        type: "server_error",
        code: "result_storage_failed",
        message: `The result of upstream task ${result.upstreamTaskId} could not be stored for a URL; ask for response_format "b64_json" or try again later.`,
        retryable: false,
      });
    }
    const expiresAt = clock.now() + deps.urlTtlMs;
    return {
      kind: "json",
      body: {
        created: result.created,
        data: result.images.map((image) => ({ url: signer.url(image.id, expiresAt) })),
        ...envelopeFields(result),
      },
    };
  }

  function base64(result: GeneratedImages): Delivery {
    const head = `{"created":${result.created},"data":[`;
    const fields = Object.entries(envelopeFields(result))
      .map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`)
      .join("");
    const tail = `]${fields}}`;
    const open = '{"b64_json":"';
    const close = '"}';
    let contentLength = Buffer.byteLength(head) + Buffer.byteLength(tail);
    result.images.forEach((image, index) => {
      contentLength += (index > 0 ? 1 : 0) + open.length + base64Length(image.size) + close.length;
    });
    return {
      kind: "stream",
      contentLength,
      stream: Readable.from(encode(result.images, head, open, close, tail), { objectMode: false }),
    };
  }

  async function* encode(
    images: StoredBlob[],
    head: string,
    open: string,
    close: string,
    tail: string,
  ): AsyncGenerator<Buffer> {
    yield Buffer.from(head);
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
      yield Buffer.from(image.bytes.toString("base64"));
      return;
    }
    const opened = await blobs.open(image.id);
    if (!opened) throw new Error(`stored result ${image.id} disappeared before delivery`);
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
      const data: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const aligned = data.length - (data.length % 3);
      carry = data.subarray(aligned);
      if (aligned > 0) yield Buffer.from(data.subarray(0, aligned).toString("base64"));
    }
    if (carry.length > 0) yield Buffer.from(carry.toString("base64"));
  }

  /**
   * Server-sent events for `stream: true`: one `<prefix>.completed` event per
   * image. The upstream renders no partial images, and OpenAI allows fewer
   * partial images than asked, so none are sent.
   */
  async function* events(
    result: GeneratedImages,
    prefix: "image_generation" | "image_edit",
  ): AsyncGenerator<Buffer> {
    const fields = Object.entries(envelopeFields(result))
      .map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`)
      .join("");
    for (const image of result.images) {
      yield Buffer.from(
        `event: ${prefix}.completed\ndata: {"type":"${prefix}.completed","b64_json":"`,
      );
      yield* imageBase64(image);
      yield Buffer.from(`","created_at":${result.created}${fields}}\n\n`);
    }
  }

  return {
    /** A URL answer waits until the files are on disk; b64_json streams at once. */
    async deliver(result: GeneratedImages, format: "url" | "b64_json"): Promise<Delivery> {
      return format === "url" ? urls(result) : base64(result);
    },
    events,
  };
}

export type Deliverer = ReturnType<typeof createDeliverer>;
