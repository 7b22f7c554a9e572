// Uploaded reference images → what the upstream's `image_url` takes. Two ways,
// chosen by IMAGEGATE_REFERENCE_DELIVERY:
// - "data": inline `data:image/…;base64,…` URIs. Works wherever the gateway
//   runs, but the upstream's site documents only https URLs (UPSTREAM.md).
// - "url": the bytes are stored and the upstream fetches them from a short-lived
//   signed URL under IMAGEGATE_PUBLIC_URL. The documented form, but only works
//   when the upstream can reach that URL.
// "auto" (the default) picks "url" when the public URL is https on a public
// host, else "data": a gateway on localhost or a private network cannot be
// fetched from outside, and one with a public https name can.
import { Readable } from "node:stream";
import type { Clock } from "../clock.js";
import type { BlobStore, UrlSigner } from "../storage/blobs.js";

export type ReferenceDelivery = "url" | "data";

export interface ReferenceImage {
  bytes: Buffer;
  contentType: string;
}

export interface ReferencePublisher {
  readonly delivery: ReferenceDelivery;
  /** One `image_url` entry per image, in order. */
  publish(images: readonly ReferenceImage[]): Promise<string[]>;
}

const privateHost =
  /^(localhost|.*\.localhost|.*\.local|.*\.internal|127\.\d+\.\d+\.\d+|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+|0\.0\.0\.0|\[::1?\]|\[f[cd][0-9a-f]*:.*\])$/i;

/** The delivery "auto" resolves to for this public URL. */
export function resolveDelivery(
  setting: "auto" | ReferenceDelivery,
  publicUrl: string,
): ReferenceDelivery {
  if (setting !== "auto") return setting;
  const url = new URL(publicUrl);
  return url.protocol === "https:" && !privateHost.test(url.hostname) ? "url" : "data";
}

export interface ReferencePublisherOptions {
  delivery: ReferenceDelivery;
  blobs: BlobStore;
  signer: UrlSigner;
  clock: Clock;
  /** How long a reference URL stays valid: the upstream fetches it when the task starts. */
  urlTtlMs: number;
}

export function createReferencePublisher(options: ReferencePublisherOptions): ReferencePublisher {
  const { delivery, blobs, signer, clock } = options;
  return {
    delivery,
    async publish(images) {
      if (delivery === "data") {
        return images.map(
          (image) => `data:${image.contentType};base64,${image.bytes.toString("base64")}`,
        );
      }
      const expiresAt = clock.now() + options.urlTtlMs;
      return Promise.all(
        images.map(async (image) => {
          const stored = await blobs.put(Readable.from([image.bytes]));
          await stored.written;
          return signer.url(stored.id, expiresAt);
        }),
      );
    },
  };
}
